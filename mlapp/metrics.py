"""mlapp's Prometheus metrics (names kept from the reference system, see DESIGN.md).

`experiment` is the model folder of the model that served the request (e.g.
"linear_regression"), or "none" while no model is loaded. Under gunicorn these
are multiprocess metrics: every gauge says how the workers' values combine.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# The service's own registry: several services can share one Python process (tests).
REGISTRY = CollectorRegistry()

NO_EXPERIMENT = "none"

PREDICTION_REQUESTS = Counter(
    "prediction_requests_total",
    "POST /predict requests by HTTP status and serving model folder",
    ["status", "experiment"],
    registry=REGISTRY,
)
PREDICTION_LATENCY = Histogram(
    "prediction_latency_seconds",
    "Time to answer a successful POST /predict, from parsed request to response",
    ["experiment"],
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
PREDICTION_ERRORS = Counter(
    "prediction_errors_total",
    "Failed POST /predict requests by cause (invalid_json, validation, too_large, "
    "no_model, model_error)",
    ["error_type", "experiment"],
    registry=REGISTRY,
)
ACTIVE_REQUESTS = Gauge(
    "active_prediction_requests",
    "POST /predict requests being answered right now",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
MODEL_LOAD_TIME = Gauge(
    "model_load_time_seconds",
    "Seconds the last model load took (download, deserialise, warm-up)",
    multiprocess_mode="livemax",
    registry=REGISTRY,
)
SERVED_VERSION = Gauge(
    "served_model_version",
    "Registered version of the model the worker serves (compared with the champion alias)",
    multiprocess_mode="liveall",
    registry=REGISTRY,
)
LAST_PREDICTION = Gauge(
    "last_prediction_timestamp",
    "Unix time of the last successful prediction",
    multiprocess_mode="max",
    registry=REGISTRY,
)
PREDICTED_PRICE = Histogram(
    "predicted_price_dollars",
    "Predicted prices, in dollars",
    buckets=(
        100_000,
        200_000,
        300_000,
        400_000,
        500_000,
        750_000,
        1_000_000,
        1_500_000,
        2_000_000,
        5_000_000,
    ),
    registry=REGISTRY,
)
MODEL_POLL_ERRORS = Counter(
    "model_poll_errors_total",
    "Failed checks of the champion alias or failed model loads (the served model is kept)",
    ["stage"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "prediction_batch_size",
    "Records predicted together in one model call (see mlapp.batching)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "prediction_queue_wait_seconds",
    "Time a request's records waited in the worker's queue before their batch started",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
    registry=REGISTRY,
)
