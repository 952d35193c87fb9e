"""POST /predict: the per-request path, kept short on purpose.

Parse JSON, validate each record against the shared schema, build one numpy object
array in schema order, call the prepared predict function of the model read once
from the store.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from houseprice.schema import FEATURE_NAMES, validate_features
from houseprice.web import current_request_id, validation_error
from mlapp import api, metrics
from mlapp.api import MAX_BATCH, MAX_BODY_BYTES
from mlapp.model_store import ModelStore, Served

log = logging.getLogger("mlapp")

bp = Blueprint("predict", __name__)

# Field errors listed in one 422 body; a batch of garbage is not echoed in full.
MAX_LISTED_ERRORS = 100
STORE_KEY = "mlapp.store"


def store() -> ModelStore:
    return current_app.extensions[STORE_KEY]


@bp.post("/predict")
@api.PREDICT
def predict() -> Any:
    with metrics.ACTIVE_REQUESTS.track_inprogress():
        return _predict(store())


def no_model(store: ModelStore) -> Any:
    body = jsonify(
        error="no model",
        message=store.not_ready_reason(),
        request_id=current_request_id(),
    )
    return body, 503


def _predict(store: ModelStore) -> Any:
    started = time.perf_counter()
    served = store.current
    experiment = _experiment(served)
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _rejected(
            experiment, "too_large", {"body": f"must be at most {MAX_BODY_BYTES} bytes"}, 413
        )
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # also bytes that are not UTF-8, absurd nesting
        return _rejected(
            experiment,
            "invalid_json",
            {"body": "must be JSON: one object of house features, or a list of them"},
        )

    batch = isinstance(payload, list)
    if batch:
        if not payload:
            return _rejected(experiment, "validation", {"body": "must hold at least one record"})
        if len(payload) > MAX_BATCH:
            problem = f"holds {len(payload)} records; at most {MAX_BATCH} per request"
            return _rejected(experiment, "too_large", {"body": problem}, 413)
        rows, errors = _validate_batch(payload)
    elif isinstance(payload, Mapping):
        clean, errors = validate_features(payload)
        rows = [[clean[name] for name in FEATURE_NAMES]] if not errors else []
    else:
        return _rejected(
            experiment,
            "validation",
            {"body": "must be one JSON object of house features, or a list of them"},
        )
    if errors:
        return _rejected(experiment, "validation", _capped(errors))

    if served is None:
        served = store.get()  # right after start: waits, bounded, for the first load
        experiment = _experiment(served)
        if served is None:
            _count("503", experiment, "no_model")
            return no_model(store)

    try:
        output = served.predict(np.array(rows, dtype=object))
        prices = np.asarray(output, dtype=np.float64).ravel().tolist()
    except Exception:
        log.exception("request_id=%s model %s failed", current_request_id(), served.info.version)
        prices = []
    if len(prices) != len(rows) or not all(math.isfinite(p) for p in prices):
        _count("500", experiment, "model_error")
        body = jsonify(
            error="model error",
            message="the model could not price this input, see logs",
            request_id=current_request_id(),
        )
        return body, 500

    prices = [round(p, 2) for p in prices]
    metrics.PREDICTION_REQUESTS.labels("200", experiment).inc()
    metrics.PREDICTION_LATENCY.labels(experiment).observe(time.perf_counter() - started)
    metrics.LAST_PREDICTION.set(time.time())
    for price in prices:
        metrics.PREDICTED_PRICE.observe(price)
    # json.dumps straight into a Response: the hot path skips Flask's JSON provider.
    if batch:
        body = {"request_id": current_request_id(), "prices": prices, "model": served.public}
    else:
        body = {"request_id": current_request_id(), "price": prices[0], "model": served.public}
    return Response(json.dumps(body), mimetype="application/json")


def _validate_batch(payload: list[Any]) -> tuple[list[list[Any]], dict[str, str]]:
    rows: list[list[Any]] = []
    errors: dict[str, str] = {}
    for index, record in enumerate(payload):
        clean, problems = validate_features(record)
        if not problems:
            rows.append([clean[name] for name in FEATURE_NAMES])
            continue
        if not isinstance(record, Mapping):
            errors[f"[{index}]"] = problems["record"]
            continue
        for name, problem in problems.items():
            errors[f"[{index}].{name}"] = problem
    return rows, errors


def _capped(errors: dict[str, str]) -> dict[str, str]:
    if len(errors) <= MAX_LISTED_ERRORS:
        return errors
    shown = dict(list(errors.items())[:MAX_LISTED_ERRORS])
    shown["more"] = f"{len(errors) - MAX_LISTED_ERRORS} further field errors not listed"
    return shown


def _experiment(served: Served | None) -> str:
    if served is None:
        return metrics.NO_EXPERIMENT
    return served.info.model_folder or metrics.NO_EXPERIMENT


def _count(status: str, experiment: str, error_type: str) -> None:
    metrics.PREDICTION_REQUESTS.labels(status, experiment).inc()
    metrics.PREDICTION_ERRORS.labels(error_type, experiment).inc()


def _rejected(experiment: str, error_type: str, fields: dict[str, str], status: int = 422) -> Any:
    _count(str(status), experiment, error_type)
    return validation_error(fields, status)
