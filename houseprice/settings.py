"""Platform configuration, read from the environment (12-factor).

The same names are used in Kubernetes ConfigMaps/Secrets, in local runs and in
tests. Every value has a local default so the platform runs on one machine with
no cloud account; every value is validated once, at start, with a message that
names the variable and says what is accepted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

_REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """One or more environment variables hold a value the platform cannot use."""


def default_data_dir() -> Path:
    return Path(os.environ.get("HOUSEPRICE_DATA_DIR", ".data")).resolve()


@dataclass(frozen=True)
class Settings:
    # Stores
    MONGO_URI: str
    MONGO_DB: str
    COLLECTION_1: str  # predictions
    COLLECTION_2: str  # corrections
    BUCKET_1: str  # raw sales CSVs
    BUCKET_2: str  # versioned datasets
    BUCKET_3: str  # MLflow artifacts
    # Data job
    BATCH_SIZE: int
    TRAIN_TEST_SPLIT: float  # fraction of rows held out for validation
    SETTLE_SECONDS: float  # a local raw file is read once unchanged for this long
    LEASE_SECONDS: float  # the data job's lease expires if not renewed for this long
    SEGMENT_ROWS: int  # a large raw file is streamed and committed this many rows at a time
    # Services
    MLFLOW_TRACKING_URI: str
    MLAPP_URL: str
    DBAPP_URL: str
    REGISTERED_MODEL_NAME: str
    MODEL_POLL_SECONDS: float
    HTTP_TIMEOUT_SECONDS: float
    ADMIN_TOKEN: str
    SECRET_KEY: str
    # Past sales the web form derives its city/statezip suggestions and defaults from.
    WEBAPP_SAMPLE_CSV: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("HOUSEPRICE_DATA_DIR", ".data")).resolve()
        defaults = _defaults(data_dir)
        raw = {f.name: env.get(f.name, defaults[f.name]) for f in fields(cls)}
        errors: list[str] = []
        values: dict[str, Any] = {}
        for f in fields(cls):
            check = _CHECKS.get(f.name, _non_empty)
            try:
                values[f.name] = check(str(raw[f.name]).strip())
            except ValueError as exc:
                errors.append(f"{f.name}={raw[f.name]!r}: {exc}")
        if errors:
            raise SettingsError("invalid configuration:\n  " + "\n  ".join(errors))
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """Settings safe to print or record in a manifest (no secrets, no passwords)."""
        hidden = {"ADMIN_TOKEN", "SECRET_KEY"}
        out = {k: v for k, v in asdict(self).items() if k not in hidden}
        out["MONGO_URI"] = _redact_url(self.MONGO_URI)
        out["MLFLOW_TRACKING_URI"] = _redact_url(self.MLFLOW_TRACKING_URI)
        return out


def _defaults(data_dir: Path) -> dict[str, str]:
    return {
        "MONGO_URI": "mongodb://127.0.0.1:27017",
        "MONGO_DB": "houseprice",
        "COLLECTION_1": "predictions",
        "COLLECTION_2": "corrections",
        "BUCKET_1": str(data_dir / "bucket_1"),
        "BUCKET_2": str(data_dir / "bucket_2"),
        "BUCKET_3": str(data_dir / "bucket_3"),
        "BATCH_SIZE": "1000",
        "TRAIN_TEST_SPLIT": "0.2",
        "SETTLE_SECONDS": "5",
        "LEASE_SECONDS": "120",
        "SEGMENT_ROWS": "100000",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        "MLAPP_URL": "http://127.0.0.1:8001",
        "DBAPP_URL": "http://127.0.0.1:8002",
        "REGISTERED_MODEL_NAME": "house-price",
        "MODEL_POLL_SECONDS": "10",
        "HTTP_TIMEOUT_SECONDS": "5",
        # Local-only defaults; production reads both from a Kubernetes Secret.
        "ADMIN_TOKEN": "local-admin-token",
        "SECRET_KEY": "local-dev-secret-key",
        "WEBAPP_SAMPLE_CSV": str(_REPO_ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"),
    }


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("must be a whole number, e.g. 1000") from None
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number between 0 and 1, e.g. 0.2") from None
    if not 0.0 < number < 1.0:
        raise ValueError("must be strictly between 0 and 1 (the validation share), e.g. 0.2")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number of seconds, e.g. 5") from None
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def _non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number of seconds, e.g. 5") from None
    if not number >= 0 or number == float("inf"):
        raise ValueError("must be 0 or more seconds")
    return number


def _mongo_uri(value: str) -> str:
    if not value.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError("must start with mongodb:// or mongodb+srv://")
    return value


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http(s) URL, e.g. http://127.0.0.1:8001")
    return value.rstrip("/")


def _tracking_uri(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https", "sqlite", "postgresql", "file", "databricks"):
        raise ValueError("must be an http(s) URL of an MLflow server, or a store URI")
    return value.rstrip("/")


def _bucket(value: str) -> str:
    if value.startswith("gs://"):
        if not re.fullmatch(r"gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?", value):
            raise ValueError("must be gs://bucket-name[/prefix] with a valid bucket name")
        return value.rstrip("/")
    if "://" in value and not value.startswith("file://"):
        raise ValueError("must be gs://bucket[/prefix], file:///path or a directory path")
    if not value:
        raise ValueError("must not be empty")
    return value


def _name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,120}", value):
        raise ValueError("must be 1-120 letters, digits, '_', '.' or '-'")
    return value


def _redact_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.password:
        return value.replace(f":{parsed.password}@", ":***@")
    return value


_CHECKS = {
    "MONGO_URI": _mongo_uri,
    "MONGO_DB": _name,
    "COLLECTION_1": _name,
    "COLLECTION_2": _name,
    "BUCKET_1": _bucket,
    "BUCKET_2": _bucket,
    "BUCKET_3": _bucket,
    "BATCH_SIZE": _positive_int,
    "TRAIN_TEST_SPLIT": _fraction,
    "SETTLE_SECONDS": _non_negative_float,
    "LEASE_SECONDS": _positive_float,
    "SEGMENT_ROWS": _positive_int,
    "MLFLOW_TRACKING_URI": _tracking_uri,
    "MLAPP_URL": _http_url,
    "DBAPP_URL": _http_url,
    "REGISTERED_MODEL_NAME": _name,
    "MODEL_POLL_SECONDS": _positive_float,
    "HTTP_TIMEOUT_SECONDS": _positive_float,
}
