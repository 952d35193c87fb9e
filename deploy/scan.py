"""checkov over what is deployed: the rendered overlays, the Dockerfile, the Terraform and the
GitHub Actions workflows.

checkov pins older packaging/importlib-metadata than the platform does, so it runs from its own
virtualenv (.venv/checkov, from deploy/checkov-requirements.lock), created on first use and
re-created when the lock file changes. A check may be skipped only in the file it concerns, with
its reason (`checkov.io/skip<N>: CKV_...=reason` annotations in a manifest,
`# checkov:skip=CKV_...:reason` comments in the Dockerfile and Terraform).

    python -m deploy.scan        # prints failures and skips; exit 1 on any failure
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy.validate_manifests import REPO, overlays, render

LOCK = REPO / "deploy" / "checkov-requirements.lock"
FRAMEWORKS = ("kubernetes", "dockerfile", "terraform", "github_actions")


@dataclass
class Finding:
    framework: str
    check: str
    resource: str
    file: str
    reason: str = ""  # the written justification, for a skip

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.framework} {self.check} {self.resource} in {self.file}{why}"


@dataclass
class Report:
    passed: int = 0
    failed: list[Finding] = field(default_factory=list)
    skipped: list[Finding] = field(default_factory=list)
    frameworks: set[str] = field(default_factory=set)


def checkov_venv(root: Path) -> Path:
    """The checkov executable of a virtualenv under `root`, installed from the lock file."""
    stamp = root / ".lock-sha256"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    executable = root / "bin" / "checkov"
    if executable.exists() and stamp.exists() and stamp.read_text() == digest:
        return executable
    shutil.rmtree(root, ignore_errors=True)
    venv.create(root, with_pip=True)
    subprocess.run(
        [str(root / "bin" / "pip"), "install", "--quiet", "--no-deps", "-r", str(LOCK)],
        check=True,
    )
    stamp.write_text(digest)
    return executable


# What the pipelines' set-image-tags step writes, with a stand-in registry, tag and digest.
REGISTRY = "europe-west1-docker.pkg.dev/example-project/houseprice"
PINNED_TAG = "0123abc"
PINNED_DIGEST = "sha256:" + "0" * 64


def images_of(documents: list[dict[str, Any]]) -> set[str]:
    found = set()
    for document in documents:
        spec = document.get("spec", {})
        pod = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", {})
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            found.add(container["image"])
    return found


def pin_like_the_pipeline(overlay: Path, images: set[str]) -> None:
    """Give the overlay the `images:` entries deploy/set_image_tags.sh would: tag@digest."""
    kustomization = overlay / "kustomization.yaml"
    document = yaml.safe_load(kustomization.read_text())
    entries = []
    for image in sorted(images):
        if image.startswith("houseprice/"):
            new_name = f"{REGISTRY}/{image.removeprefix('houseprice/')}"
            entries.append({"name": image, "newName": new_name, "newTag": PINNED_TAG})
        else:
            name, tag = image.rsplit(":", 1)
            entries.append({"name": name, "newTag": tag})
        entries[-1]["digest"] = PINNED_DIGEST
    document["images"] = entries
    kustomization.write_text(yaml.safe_dump(document, sort_keys=False))


def stage(workdir: Path, kubectl: str) -> Path:
    """A directory holding what is scanned: each overlay rendered as the pipeline applies it
    (images pinned by digest), the Dockerfile, and infra/."""
    target = workdir / "scan"
    copy = workdir / "repo"
    for path in (target, copy):
        shutil.rmtree(path, ignore_errors=True)
    (target / "manifests").mkdir(parents=True)
    for folder in ("k8s_ml", "k8s_web", "overlays"):
        shutil.copytree(REPO / folder, copy / folder)
    for overlay in overlays():
        pin_like_the_pipeline(copy / overlay, images_of(render(copy / overlay, kubectl)))
        documents = render(copy / overlay, kubectl)
        name = overlay.replace("/", "-") + ".yaml"
        (target / "manifests" / name).write_text(yaml.safe_dump_all(documents, sort_keys=False))
    shutil.copy2(REPO / "Dockerfile", target / "Dockerfile")
    shutil.copytree(REPO / "infra", target / "infra", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(REPO / ".github" / "workflows", target / ".github" / "workflows")
    return target


def run(checkov: Path, directory: Path) -> Report:
    done = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(directory),
            "--framework",
            *FRAMEWORKS,
            "--output",
            "json",
            "--compact",
            "--skip-download",
            "--soft-fail",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(checkov.parent), "HOME": str(directory), "LOG_LEVEL": "ERROR"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"checkov failed to run: {done.stderr[-2000:]}")
    return parse(json.loads(done.stdout))


def parse(output: Any) -> Report:
    """checkov's JSON (one object per framework, or a list of them) as a Report."""
    report = Report()
    for result in output if isinstance(output, list) else [output]:
        framework = result.get("check_type", "?")
        report.frameworks.add(framework)
        results = result.get("results", {})
        report.passed += result.get("summary", {}).get("passed", 0)
        for kind, into in (("failed_checks", report.failed), ("skipped_checks", report.skipped)):
            for check in results.get(kind, []):
                into.append(
                    Finding(
                        framework,
                        check["check_id"],
                        check.get("resource", "?"),
                        check.get("file_path", "?"),
                        (check.get("check_result", {}).get("suppress_comment") or "").strip(),
                    )
                )
    return report


def scan(workdir: Path, kubectl: str) -> Report:
    return run(checkov_venv(REPO / ".venv" / "checkov"), stage(workdir, kubectl))


def main() -> int:
    import tempfile

    kubectl = str(Path(sys.executable).parent / "kubectl")
    with tempfile.TemporaryDirectory() as tmp:
        report = scan(Path(tmp), kubectl)
    for finding in report.skipped:
        print(f"skipped {finding}")
    for finding in report.failed:
        print(f"FAILED  {finding}")
    print(f"{report.passed} passed, {len(report.failed)} failed, {len(report.skipped)} skipped")
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
