"""GitHub Actions: the workflows pass GitHub's workflow schema (check-jsonschema's vendored
copy; actionlint's PyPI package needs the network to build), the test workflow runs the README's
test command, the images workflow builds every Dockerfile target after the tests and pushes it
to ghcr.io tagged with the commit, and the settings script sets secrets and variables from env
files with `gh ... -f`, refusing templates."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import ROOT, tool
from tests.deploy.test_dockerfiles import TARGETS

WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPT = ROOT / "deploy" / "github_settings.sh"


def workflow(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on` as True
    return document


def schema_check(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
    )


def test_workflows_pass_the_workflow_schema() -> None:
    paths = sorted(WORKFLOWS.glob("*.yml"))
    assert {p.name for p in paths} == {"test.yml", "images.yml"}
    done = schema_check(*paths)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    assert schema_check(broken).returncode != 0


def run_steps(job: dict) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def test_the_test_workflow_runs_the_readme_test_command_on_pushes_and_pull_requests() -> None:
    test = workflow("test.yml")
    assert set(test["on"]) == {"push", "pull_request"}
    assert (
        "make test   # install everything, then run the whole test suite"
        in (ROOT / "README.md").read_text()
    )
    assert run_steps(test["jobs"]["test"]) == ["make test"]
    assert test["permissions"] == {"contents": "read"}
    # Debian, as in the images: its chromium package is a real browser.
    assert test["jobs"]["test"]["container"]["image"].endswith("-bookworm")


def test_the_images_workflow_pushes_every_target_to_ghcr_after_the_tests() -> None:
    images = workflow("images.yml")
    assert images["on"]["push"] == {"branches": ["main"]}
    assert "workflow_dispatch" in images["on"]
    job = images["jobs"]["images"]
    assert job["needs"] == "test"
    assert run_steps(images["jobs"]["test"]) == ["make test"]
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    assert images["permissions"] == {"contents": "read"}
    (build,) = [s for s in run_steps(job) if "deploy/build_images.sh" in s]
    assert 'registry="ghcr.io/${GITHUB_REPOSITORY,,}"' in build  # ghcr.io needs lowercase
    words = shlex.split(build.split("\n", 1)[1].replace("\\\n", " "))
    assert words[:5] == [
        "bash",
        "deploy/build_images.sh",
        "$registry",
        "$GITHUB_SHA",
        "$GITHUB_SHA",
    ]
    assert set(words[5:]) == set(TARGETS)


def test_the_images_workflow_builds_what_build_images_sh_would(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", "deploy/build_images.sh", "--dry-run", "ghcr.io/o/r", "abc", "abc", "mlapp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "docker push ghcr.io/o/r/mlapp:abc" in done.stdout


# ---- secrets and variables from env files -----------------------------------------------


def fill(template: Path, destination: Path) -> Path:
    lines = template.read_text().splitlines()
    destination.write_text(
        "\n".join(line.replace("REPLACE_ME", f"value-{i}") for i, line in enumerate(lines)) + "\n"
    )
    return destination


@pytest.fixture
def fake_gh(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(tmp_path / "calls"))}\n')
    gh.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def settings(tmp_path: Path, env: dict[str, str], *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), "o/r", *map(str, files)], capture_output=True, text=True, env=env
    )


def test_settings_are_set_from_the_two_env_files(tmp_path: Path, fake_gh) -> None:
    secrets = fill(ROOT / ".github" / "secrets.env.example", tmp_path / "secrets.env")
    variables = fill(ROOT / ".github" / "variables.env.example", tmp_path / "variables.env")
    done = settings(tmp_path, fake_gh, secrets, variables)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "calls").read_text().splitlines() == [
        f"secret set --repo o/r -f {secrets}",
        f"variable set --repo o/r -f {variables}",
    ]


def test_templates_and_incomplete_files_are_refused_before_anything_is_sent(
    tmp_path: Path, fake_gh
) -> None:
    secrets_template = ROOT / ".github" / "secrets.env.example"
    variables = fill(ROOT / ".github" / "variables.env.example", tmp_path / "variables.env")
    done = settings(tmp_path, fake_gh, secrets_template, variables)
    assert done.returncode == 1 and "REPLACE_ME" in done.stderr
    extra = fill(secrets_template, tmp_path / "secrets.env")
    extra.write_text(extra.read_text() + "SOMETHING_ELSE=1\n")
    done = settings(tmp_path, fake_gh, extra, variables)
    assert done.returncode == 1 and "exactly the keys" in done.stderr
    assert not (tmp_path / "calls").exists()


def test_templates_hold_no_values_and_filled_copies_are_ignored_by_git() -> None:
    for name in ("secrets.env.example", "variables.env.example"):
        for line in (ROOT / ".github" / name).read_text().splitlines():
            if line and not line.startswith("#"):
                assert line.split("=", 1)[1] == "REPLACE_ME", line
    ignored = subprocess.run(
        ["git", "check-ignore", ".github/secrets.env", ".github/variables.env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ignored.stdout.split() == [".github/secrets.env", ".github/variables.env"]
