"""mlapp's contract: its bodies and one Operation per endpoint (houseprice.contract).

Each view carries its Operation as a decorator; `/openapi.json` is generated from them
and from houseprice.schema's field table, the same table `validate_features` checks
each record with. A new endpoint declares its Operation here and decorates its view.
"""

from __future__ import annotations

import re
from typing import Any

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
    Param,
    Plain,
    Reply,
    boolean,
    integer,
    number,
    text,
)
from houseprice.schema import EXAMPLE_RECORD, FIELDS_BY_NAME, check_value

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
BATCHING = Body(
    "Batching",
    {
        "enabled": boolean("concurrent requests of a worker are predicted together"),
        "max_size": integer("records in one batch at most", minimum=1),
        "max_wait_ms": number("how long a batch waits for more requests", minimum=0),
        "reason": text("why batching is off"),
    },
    required=("enabled",),
)
INTERVAL_STATUS = Body(
    "IntervalStatus",
    {
        "served": boolean("answers carry `interval`"),
        "level": number(minimum=0, maximum=1),
        "log_low": number("quantile of log(price / predicted)"),
        "log_high": number("quantile of log(price / predicted)"),
        "rows": integer("held-out rows it was calibrated on", minimum=0),
        "reason": text("why answers carry no range"),
    },
    required=("served",),
)
MODEL_STATUS = Body(
    "ModelStatus",
    {
        "model": SERVED_MODEL,
        "registry": REGISTRY,
        "batching": BATCHING,
        "interval": INTERVAL_STATUS,
    },
)
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


# -- mlapp.insights: read-only answers for the web pages --------------------------------
# The views parse their parameters with the field table (mlapp.insights.read_house); these
# declarations document them and let houseprice.web refuse unknown or repeated ones.


def _feature(name: str, required: bool = False) -> Param:
    """A house feature as a query parameter, checked by the field table like a body's."""
    spec = FIELDS_BY_NAME[name]

    def parse(text: str) -> tuple[Any, str | None]:
        raw: Any = text.strip()
        if spec.kind != "str":
            try:
                raw = float(raw)
            except ValueError:
                return None, f"must be {spec.describe()}"
        return check_value(spec, raw)

    return Param(spec.schema(), parse, required=required)


def _matching(pattern: str, problem: str) -> Param:
    def parse(text: str) -> tuple[str | None, str | None]:
        return (text, None) if re.fullmatch(pattern, text) else (None, problem)

    return Param({"type": "string", "pattern": f"^{pattern}$"}, parse, required=True)


def _limit(text: str) -> tuple[int | None, str | None]:
    if re.fullmatch(r"\d{1,2}", text) and 1 <= int(text) <= 20:
        return int(text), None
    return None, "must be a whole number from 1 to 20"


_OBJECT = Plain({"type": "object"})
_READ_ERRORS = {503: Reply(ERROR, "BUCKET_2 or MLflow cannot be read right now")}

COMPARABLES = Operation(
    "Past sales most like a house (same zip first), its zip's sales, and how well the "
    "data covers it",
    query={
        "statezip": _feature("statezip", required=True),
        "sqft_living": _feature("sqft_living", required=True),
        "bedrooms": _feature("bedrooms"),
        "bathrooms": _feature("bathrooms"),
        "yr_built": _feature("yr_built"),
        "limit": Param(
            {"type": "integer", "minimum": 1, "maximum": 20, "default": 5}, _limit, default=5
        ),
    },
    responses={
        200: Reply(
            Body(
                "Comparables",
                {
                    "dataset_version": text(),
                    "sales": integer(minimum=0),
                    "statezip": text(),
                    "comparables": ListOf(_OBJECT),
                    "zip_points": Plain(
                        {
                            "type": "array",
                            "items": {"type": "array", "items": {"type": "number"}},
                            "description": "[living area, price] of the zip's newest sales",
                        }
                    ),
                    "familiarity": _OBJECT,
                },
            ),
            "Comparables from the newest committed dataset version",
        ),
        404: Reply(ERROR, "No dataset version is committed yet"),
        **_READ_ERRORS,
    },
)
MODEL_HISTORY = Operation(
    "The champion (why and when promoted) and every promotion decision",
    responses={
        200: Reply(
            Body(
                "ModelHistory",
                {
                    "registered_model": text(),
                    "champion": Nullable(_OBJECT),
                    "promotions": ListOf(_OBJECT),
                },
            ),
            "Read from the MLflow registry and the promotions experiment",
        ),
        **_READ_ERRORS,
    },
)
LINEAGE = Operation(
    "A model version, its dataset version's manifest and drift report",
    query={
        "model_version": _matching("[1-9][0-9]{0,8}", "must be a registered version number, e.g. 3")
    },
    responses={
        200: Reply(
            Body("Lineage", {"model": _OBJECT, "dataset": _OBJECT}), "The version and its data"
        ),
        404: Reply(ERROR, "No such registered version"),
        **_READ_ERRORS,
    },
)
DRIFT_REPORT = Operation(
    "The drift report of a dataset version (sandboxed HTML)",
    query={"dataset_version": _matching("v[1-9][0-9]{0,8}", "must be a dataset version, e.g. v3")},
    responses={
        200: Reply(text(), "The report", media="text/html"),
        404: Reply(ERROR, "This version has no drift report"),
        **_READ_ERRORS,
    },
)
