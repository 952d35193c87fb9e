"""Shared pieces for the deployment tests: tool paths and the rendered manifests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.validate_manifests import BASES, KUBERNETES_VERSION, overlays, render
from tests.support.servers import VENV_BIN

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZATIONS = tuple(BASES)
__all__ = ["KUBERNETES_VERSION", "ROOT", "by_kind", "containers", "pod_specs", "tool"]


def tool(name: str) -> str:
    """A command-line tool from the venv (PyPI wheels) or, failing that, from PATH."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run `make install system-deps`")
    return found


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """The resources `kubectl kustomize` renders for a kustomization directory."""
    return render(directory, tool("kubectl"))


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Base folder name (k8s_ml, k8s_web) -> its rendered resources."""
    return {name: kustomize_build(ROOT / name) for name in KUSTOMIZATIONS}


@pytest.fixture(scope="session")
def rendered_overlays() -> dict[str, list[dict[str, Any]]]:
    """Overlay directory (overlays/<environment>/<namespace>) -> its rendered resources."""
    return {name: kustomize_build(ROOT / name) for name in overlays()}


def pod_specs(resources: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, pod spec) for every workload that runs pods."""
    for resource in resources:
        kind = resource["kind"]
        spec = resource.get("spec", {})
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield f"{kind}/{resource['metadata']['name']}", spec["template"]["spec"]
        elif kind == "CronJob":
            template = spec["jobTemplate"]["spec"]["template"]
            yield f"{kind}/{resource['metadata']['name']}", template["spec"]


def containers(resources: list[dict[str, Any]]) -> Iterator[tuple[str, dict, dict]]:
    """(kind/name, pod spec, container) for every container and init container."""
    for where, spec in pod_specs(resources):
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield where, spec, container


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}
