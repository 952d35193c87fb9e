"""Render every kustomization (the bases and the staging/prod overlays) and validate each
resource: Kubernetes' own kinds against the API schema (kubernetes-validate, strict), the GKE
kinds the Ingress uses against the schemas below (their CRDs are not in that package).

    python -m deploy.validate_manifests          # what `make lint` runs; exit 1 on any error
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate.utils import validate

REPO = Path(__file__).resolve().parent.parent
# The Kubernetes version every resource is validated against (GKE's regular channel).
KUBERNETES_VERSION = "1.33.0"
# Base -> the namespace it deploys; overlays/<environment>/<namespace> builds on it.
BASES = {"k8s_ml": "ml", "k8s_web": "web"}
ENVIRONMENTS = ("staging", "prod")


def overlays() -> list[str]:
    """Repository-relative overlay directories: what the pipelines deploy."""
    return [f"overlays/{env}/{namespace}" for env in ENVIRONMENTS for namespace in BASES.values()]


def kustomizations() -> list[str]:
    """Repository-relative directories that render: each base and each overlay."""
    return [*BASES, *overlays()]


def _strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_METADATA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
_HEADERS = _strict({"headers": {"type": "array", "items": {"type": "string", "pattern": ": "}}})


def _crd(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return _strict(
        {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        ("apiVersion", "kind", "metadata", "spec"),
    )


# The fields this platform uses of GKE's custom resources, as GKE documents them.
CUSTOM_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("networking.gke.io/v1", "ManagedCertificate"): _crd(
        "networking.gke.io/v1",
        "ManagedCertificate",
        _strict(
            {
                "domains": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 100,
                    "items": {"type": "string", "pattern": r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"},
                }
            },
            ("domains",),
        ),
    ),
    ("networking.gke.io/v1beta1", "FrontendConfig"): _crd(
        "networking.gke.io/v1beta1",
        "FrontendConfig",
        _strict(
            {
                "redirectToHttps": _strict(
                    {
                        "enabled": {"type": "boolean"},
                        "responseCodeName": {
                            "enum": [
                                "MOVED_PERMANENTLY_DEFAULT",
                                "FOUND",
                                "SEE_OTHER",
                                "TEMPORARY_REDIRECT",
                                "PERMANENT_REDIRECT",
                            ]
                        },
                    },
                    ("enabled",),
                ),
                "sslPolicy": {"type": "string"},
            }
        ),
    ),
    ("cloud.google.com/v1", "BackendConfig"): _crd(
        "cloud.google.com/v1",
        "BackendConfig",
        _strict(
            {
                "healthCheck": _strict(
                    {
                        "type": {"enum": ["HTTP", "HTTPS", "HTTP2"]},
                        "requestPath": {"type": "string", "pattern": "^/"},
                        "port": {"type": "integer"},
                        "checkIntervalSec": {"type": "integer"},
                        "timeoutSec": {"type": "integer"},
                    }
                ),
                "customResponseHeaders": _HEADERS,
                "timeoutSec": {"type": "integer"},
            }
        ),
    ),
}


def render(directory: Path, kubectl: str = "kubectl") -> list[dict[str, Any]]:
    """The resources `kubectl kustomize` renders for a kustomization directory."""
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ValueError(f"{directory}: kustomize failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def problems(resource: dict[str, Any]) -> list[str]:
    """What is wrong with one resource; empty when it is valid."""
    key = (resource.get("apiVersion", ""), resource.get("kind", ""))
    where = f"{key[1]}/{resource.get('metadata', {}).get('name', '?')}"
    if key in CUSTOM_SCHEMAS:
        validator = jsonschema.Draft202012Validator(CUSTOM_SCHEMAS[key])
        return [f"{where}: {error.message}" for error in validator.iter_errors(resource)]
    try:
        validate(resource, KUBERNETES_VERSION, strict=True)
    except Exception as exc:  # SchemaNotFoundError for an unknown kind, ValidationError
        message = (str(exc).splitlines() or ["no schema for this kind"])[0]
        return [f"{where}: {type(exc).__name__}: {message}"]
    return []


def check_all(kubectl: str = "kubectl") -> Iterator[str]:
    for relative in kustomizations():
        try:
            resources = render(REPO / relative, kubectl)
        except ValueError as exc:
            yield str(exc)
            continue
        for resource in resources:
            for problem in problems(resource):
                yield f"{relative}: {problem}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    kubectl = args[0] if args else str(Path(sys.executable).parent / "kubectl")
    found = list(check_all(kubectl))
    for problem in found:
        print(problem)
    print(f"{len(kustomizations())} kustomizations, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
