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
    # Correction screening (data job) and the webapp's correction rate limit
    CORRECTION_MAX_RATIO: float  # held when this many times off both references
    CORRECTION_MIN_ZIP_SALES: int  # fewer sales in a zip: compare with all zips
    CORRECTION_RATE_LIMIT: str  # per client, Flask-Limiter notation
    RATE_LIMIT_STORAGE_URI: str  # memory:// is per worker; share one store across pods
    # Pushgateway the jobs push their metrics to (houseprice/pushgateway.py); empty: none.
    PUSHGATEWAY_URL: str
    # Reverse proxies in front of the web services that set X-Forwarded-For/-Proto/-Host
    # (the Ingress: 1). Their headers are trusted, so a request that reached the proxy over
    # HTTPS is seen as HTTPS and gets Secure cookies. 0: no proxy, headers ignored.
    PROXY_HOPS: int

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

    @property
    def is_local(self) -> bool:
        """A one-machine run: no GCS bucket and MongoDB on this host."""
        buckets = (self.BUCKET_1, self.BUCKET_2, self.BUCKET_3)
        return not any(b.startswith("gs://") for b in buckets) and _loopback_mongo(self.MONGO_URI)

    def require_secrets(self) -> None:
        """Refuse to serve outside a local run with a missing, local or template secret.

        Called by each service's factory: a pod whose Secret was never filled in stops at
        start with the variable named, instead of running with a key anyone can read here.
        """
        if self.is_local:
            return
        problems = [
            f"{name}: {problem}"
            for name in ("ADMIN_TOKEN", "SECRET_KEY")
            if (problem := _secret_problem(getattr(self, name), _LOCAL_SECRETS[name]))
        ]
        if problems:
            raise SettingsError(
                "refusing to start outside a local run (a gs:// bucket or a remote MongoDB):\n  "
                + "\n  ".join(problems)
            )

    def public(self) -> dict[str, Any]:
        """Settings safe to print or record in a manifest (no secrets, no passwords)."""
        hidden = {"ADMIN_TOKEN", "SECRET_KEY"}
        out = {k: v for k, v in asdict(self).items() if k not in hidden}
        out["MONGO_URI"] = redact_url(self.MONGO_URI)
        out["MLFLOW_TRACKING_URI"] = redact_url(self.MLFLOW_TRACKING_URI)
        out["RATE_LIMIT_STORAGE_URI"] = redact_url(self.RATE_LIMIT_STORAGE_URI)
        return out


# The defaults a local run uses; anywhere else they are as good as no secret at all.
_LOCAL_SECRETS = {"ADMIN_TOKEN": "local-admin-token", "SECRET_KEY": "local-dev-secret-key"}
_TEMPLATE_VALUE = re.compile(r"(?i)replace[_ -]?me|change[_ -]?me|<[^>]*>|\bTODO\b|\bexample\b")
MIN_SECRET_LENGTH = 16


def _secret_problem(value: str, local_default: str) -> str | None:
    if not value or value == local_default:
        return "is not set (only the local default is); set it from the Secret"
    if _TEMPLATE_VALUE.search(value):
        return f"holds the template value {value[:20]!r}; put the real secret in the Secret"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def _loopback_mongo(uri: str) -> bool:
    if uri.startswith("mongodb+srv://"):
        return False
    hosts = uri.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    for host in hosts.split(","):
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]")[0]
        if name not in ("localhost", "::1") and not name.startswith("127."):
            return False
    return True


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
        **_LOCAL_SECRETS,
        "WEBAPP_SAMPLE_CSV": str(_REPO_ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"),
        "CORRECTION_MAX_RATIO": "3",
        "CORRECTION_MIN_ZIP_SALES": "5",
        "CORRECTION_RATE_LIMIT": "20 per minute",
        "RATE_LIMIT_STORAGE_URI": "memory://",
        "PUSHGATEWAY_URL": "",
        "PROXY_HOPS": "0",
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


def _optional_http_url(value: str) -> str:
    return _http_url(value) if value else ""


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


def redact_url(value: str) -> str:
    """The URL with its password, if any, replaced by ***: safe to log."""
    parsed = urlparse(value)
    if parsed.password:
        return value.replace(f":{parsed.password}@", ":***@")
    return value


def _ratio(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number greater than 1, e.g. 3") from None
    if not 1.0 < number < float("inf"):
        raise ValueError("must be a finite number greater than 1 (a factor), e.g. 3")
    return number


def _rate_limit(value: str) -> str:
    from limits import parse_many  # Flask-Limiter's own grammar

    try:
        parse_many(value)
    except ValueError:
        raise ValueError('must be a rate such as "20 per minute" or "5/second;100/day"') from None
    return value


def _limiter_storage(value: str) -> str:
    schemes = ("memory", "redis", "rediss", "redis+cluster", "redis+sentinel", "memcached")
    if urlparse(value).scheme not in schemes or "://" not in value:
        raise ValueError("must be memory:// or a redis://, rediss:// or memcached:// URI")
    return value


def _hops(value: str) -> int:
    if not value.isdigit() or int(value) > 5:
        raise ValueError("must be a whole number of proxies from 0 to 5 (the Ingress: 1)")
    return int(value)


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
    "CORRECTION_MAX_RATIO": _ratio,
    "CORRECTION_MIN_ZIP_SALES": _positive_int,
    "CORRECTION_RATE_LIMIT": _rate_limit,
    "RATE_LIMIT_STORAGE_URI": _limiter_storage,
    "PUSHGATEWAY_URL": _optional_http_url,
    "PROXY_HOPS": _hops,
}
