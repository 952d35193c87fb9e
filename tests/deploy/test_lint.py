"""`make lint` is deploy/lint.sh, the pipelines' lint: it runs ruff, hadolint, shellcheck, the
manifest validation and the workflow schema check, and passes on this checkout."""

from __future__ import annotations

import os
import subprocess

from tests.deploy.conftest import ROOT
from tests.support.servers import VENV_BIN


def test_make_lint_runs_the_shared_lint_script() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\nlint: install\n\tBIN=$(BIN) bash deploy/lint.sh\n" in makefile
    script = (ROOT / "deploy" / "lint.sh").read_text()
    for check in (
        '"$bin/ruff" check .',
        '"$bin/ruff" format --check .',
        '"$bin/hadolint"',
        '"$bin/shellcheck"',
        '"$bin/python" -m deploy.validate_manifests',
        '"$bin/check-jsonschema"',
    ):
        assert check in script, check
    assert "set -euo pipefail" in script


def test_lint_passes() -> None:
    done = subprocess.run(
        ["bash", "deploy/lint.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "BIN": str(VENV_BIN)},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "6 kustomizations, 0 problems" in done.stdout
