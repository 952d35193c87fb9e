"""schemathesis, every check, against real gunicorn mlapp and dbapp: no contract failure.

Each service's own served /openapi.json drives the run (examples, coverage, fuzzing and
stateful phases), with the admin token for the admin endpoints. The budget is small and
the seed fixed so the suite stays fast and repeatable; `make fuzz` runs longer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fuzz import Platform, run_schemathesis, throwaway_platform

MAX_EXAMPLES = 25
SEED = 20261201


@pytest.fixture(scope="module")
def platform(
    mongo_uri: str, mlflow_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    with throwaway_platform(mongo_uri, mlflow_uri, tmp_path_factory.mktemp("fuzz")) as running:
        yield running


@pytest.mark.parametrize("service", ["mlapp", "dbapp"])
def test_schemathesis_finds_no_contract_failure(platform: Platform, service: str) -> None:
    result = run_schemathesis(platform, service, max_examples=MAX_EXAMPLES, seed=SEED)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    # It really tested: cases were generated and sent, and every one passed every check.
    counts = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed", output)
    assert counts is not None, output[-5_000:]
    assert int(counts[1]) == int(counts[2]) > 100, counts[0]
    assert re.search(r"Tested: (\d+)", output)[1] == re.search(r"Selected: (\d+)/", output)[1]
    assert Path(platform.workdir / f"{service}-junit.xml").stat().st_size > 0
