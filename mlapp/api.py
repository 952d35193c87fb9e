"""mlapp's contract: its bodies and one Operation per endpoint (houseprice.contract).

Each view carries its Operation as a decorator; `/openapi.json` is generated from them
and from houseprice.schema's field table, the same table `validate_features` checks
each record with. A new endpoint declares its Operation here and decorates its view.
"""

from __future__ import annotations

from houseprice.contract import (
    ERROR,
    HOUSE,
    STATUS,
    VALIDATION_ERROR,
    Body,
    ListOf,
    Nullable,
    OneOf,
    Operation,
    Plain,
    Reply,
    boolean,
    integer,
    number,
    text,
)
from houseprice.schema import EXAMPLE_RECORD

MAX_BATCH = 1000  # records per request; more is a 413
MAX_BODY_BYTES = 2 * 1024 * 1024  # 1000 records of the longest valid fields fit well under

TITLE = "mlapp"
VERSION = "1.1.0"
DESCRIPTION = (
    "House-price inference. Serves the registered model's `champion` version from MLflow "
    "and switches to a new champion without a restart. Every answer carries `X-Request-ID` "
    "(the caller's, when it is 1-64 of `A-Za-z0-9._:-`, else a new one)."
)

MODEL_REF = Body(
    "ModelRef",
    {
        "name": text("registered model name"),
        "version": text("registered version"),
        "model_folder": text("models/<folder> it was trained from"),
        "dataset_version": text("dataset version it was trained on, e.g. v3"),
        "run_id": text("MLflow run"),
    },
    description="The model that priced the request",
)
INTERVAL = Body(
    "Interval",
    {
        "low": number("US dollars"),
        "high": number("US dollars"),
        "level": number("share of sales expected inside, e.g. 0.8", minimum=0, maximum=1),
    },
    description="Range calibrated on held-out sales when the champion was promoted",
)
PREDICTION = Body(
    "Prediction",
    {
        "request_id": text(),
        "price": number("US dollars"),
        "interval": INTERVAL,
        "model": MODEL_REF,
    },
    required=("request_id", "price", "model"),
)
BATCH_PREDICTION = Body(
    "BatchPrediction",
    {
        "request_id": text(),
        "prices": ListOf(number("US dollars"), description="in request order"),
        "intervals": ListOf(INTERVAL, description="parallel to `prices`"),
        "model": MODEL_REF,
    },
    required=("request_id", "prices", "model"),
)
REGISTRY = Body(
    "Registry",
    {
        "champion_version": Nullable(text()),
        "last_check_at": Nullable(number("unix time")),
        "last_ok_at": Nullable(number("unix time")),
        "last_error": Nullable(text()),
        "poll_seconds": number(),
    },
    description="This worker's last look at the registry's champion alias",
)
SERVED_MODEL = Body(
    "ServedModel",
    {
        **MODEL_REF.props,
        "loaded_at": number("unix time it became the served model"),
        "load_seconds": number(),
        "predictor": Plain({"enum": ["lean", "standard"]}),
    },
)
MODEL_STATUS = Body("ModelStatus", {"model": SERVED_MODEL, "registry": REGISTRY})
READINESS = Body(
    "Readiness",
    {"ready": boolean(), "reason": text("why not"), "model": MODEL_REF},
    required=("ready",),
)
RELOAD = Body(
    "Reload",
    {
        "changed": boolean("a new model is now served"),
        "model": Nullable(MODEL_REF),
        "registry": REGISTRY,
        "worker_pid": integer(),
    },
)

NO_MODEL = Reply(ERROR, "No model is loaded (no champion registered yet)")

PREDICT = Operation(
    f"Price one house, or a batch of up to {MAX_BATCH}",
    body=OneOf((HOUSE, ListOf(HOUSE, min_items=1, max_items=MAX_BATCH))),
    examples={"one": EXAMPLE_RECORD, "batch": [EXAMPLE_RECORD, {**EXAMPLE_RECORD, "bedrooms": 4}]},
    responses={
        200: Reply(
            OneOf((PREDICTION, BATCH_PREDICTION)),
            "`price` for one record, `prices` (in request order) for a batch",
        ),
        413: Reply(VALIDATION_ERROR, f"More than {MAX_BATCH} records, or a body over 2 MB"),
        422: Reply(
            VALIDATION_ERROR,
            "Invalid body: `fields` names each bad field (`bedrooms`, or `[3].bedrooms` in a "
            "batch), unknown fields and broken cross-field rules included",
        ),
        500: Reply(ERROR, "The model failed on valid input (see the service logs)"),
        503: NO_MODEL,
    },
)
MODEL = Operation(
    "The model this worker serves, and its last registry check",
    responses={200: Reply(MODEL_STATUS, "The served model"), 503: NO_MODEL},
)
HEALTH = Operation("Liveness: the process answers", responses={200: Reply(STATUS, "Alive: `ok`")})
READY = Operation(
    "Readiness: a model is loaded and can serve predictions",
    responses={
        200: Reply(READINESS, "Ready"),
        503: Reply(READINESS, "Not ready; `reason` says why"),
    },
)
METRICS = Operation(
    "Prometheus metrics, summed over the service's workers",
    responses={200: Reply(text(), "Prometheus text exposition format", media="text/plain")},
)
ADMIN_RELOAD = Operation(
    "Check the champion alias now (in the worker that answers)",
    admin=True,
    responses={
        200: Reply(RELOAD, "Checked; `changed` says if it swapped"),
        502: Reply(RELOAD, "MLflow could not be read or the model not loaded"),
    },
)
