"""The web app's Prometheus metrics (names kept from the reference system).

Defined once at import; under gunicorn, PROMETHEUS_MULTIPROC_DIR makes every worker
write its samples to files that `/metrics` aggregates (houseprice.metrics).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# The service's own registry: several services can share one Python process (tests).
REGISTRY = CollectorRegistry()

PREDICTION_REQUESTS = Counter(
    "prediction_requests_total",
    "Predict form submissions, by outcome (ok, invalid, failed)",
    ["outcome"],
    registry=REGISTRY,
)
CORRECTION_REQUESTS = Counter(
    "correction_requests_total",
    "Correction form submissions, by outcome (saved, duplicate, invalid, unsaved)",
    ["outcome"],
    registry=REGISTRY,
)
PREDICTION_LATENCY = Histogram(
    "prediction_latency_seconds",
    "Time to get a price from mlapp for a valid form, seconds",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
LAST_PREDICTED_PRICE = Gauge(
    "last_predicted_price",
    "The most recent price shown to a user, US dollars",
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)
ERRORS = Counter(
    "error_count_total",
    "Errors seen by the web app, by type and by the dependency involved",
    ["type", "dependency"],
    registry=REGISTRY,
)

# Series that exist from the first scrape, so rates and alerts need no special cases.
for _outcome in ("ok", "invalid", "failed"):
    PREDICTION_REQUESTS.labels(_outcome)
for _outcome in ("saved", "duplicate", "invalid", "unsaved"):
    CORRECTION_REQUESTS.labels(_outcome)


def count_error(kind: str, dependency: str = "webapp") -> None:
    ERRORS.labels(kind, dependency).inc()
