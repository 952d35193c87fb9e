"""checkov over the rendered overlays (as the pipelines apply them), the Dockerfile, the
Terraform and the GitHub workflows: no failure, and every skip carries its reason in the file
it concerns. One checkov run for the module; a canary manifest in the same run proves the scan
would catch a mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy import scan
from tests.deploy.conftest import ROOT, tool

CANARY = """\
apiVersion: v1
kind: Pod
metadata:
  name: canary
  namespace: default
spec:
  containers:
    - name: canary
      image: nginx
      securityContext:
        privileged: true
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> scan.Report:
    staged = scan.stage(tmp_path_factory.mktemp("checkov"), tool("kubectl"))
    (staged / "canary").mkdir()
    (staged / "canary" / "pod.yaml").write_text(CANARY)
    return scan.run(scan.checkov_venv(ROOT / ".venv" / "checkov"), staged)


def real(findings: list[scan.Finding]) -> list[scan.Finding]:
    return [f for f in findings if not f.file.startswith("/canary/")]


def test_every_framework_was_scanned(report: scan.Report) -> None:
    assert {"kubernetes", "dockerfile", "terraform", "github_actions"} <= report.frameworks
    assert report.passed > 1000


def test_nothing_fails(report: scan.Report) -> None:
    assert [str(f) for f in real(report.failed)] == []


def test_every_skip_is_justified_in_its_file(report: scan.Report) -> None:
    for finding in report.skipped:
        assert len(finding.reason) >= 20, f"skip without a written reason: {finding}"


def test_the_scan_catches_a_privileged_unpinned_container(report: scan.Report) -> None:
    caught = {f.check for f in report.failed if f.file.startswith("/canary/")}
    assert {"CKV_K8S_16", "CKV_K8S_43"} <= caught  # privileged; image without a digest


def test_the_scanned_manifests_pin_every_image_by_digest(tmp_path: Path) -> None:
    staged = scan.stage(tmp_path, tool("kubectl"))
    text = "\n".join(p.read_text() for p in (staged / "manifests").glob("*.yaml"))
    images = [line.split("image:")[1].strip() for line in text.splitlines() if "image:" in line]
    assert images and all("@sha256:" in image for image in images), images
