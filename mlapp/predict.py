"""POST /predict: the per-request path, kept short on purpose.

Parse JSON, validate each record against the shared schema, then price the rows in
schema order: through the worker's batcher (mlapp.batching), which predicts
concurrent requests together, or, with BATCHING=off, by calling the prepared predict
function of the model read once from the store.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from houseprice.calibration import Calibration
from houseprice.schema import FEATURE_NAMES, validate_features
from houseprice.web import current_request_id, validation_error
from mlapp import api, metrics
from mlapp.api import MAX_BATCH, MAX_BODY_BYTES
from mlapp.batching import Arrival, Batcher, ModelFailed, NoModel, predict_rows
from mlapp.model_store import ModelStore, Served

log = logging.getLogger("mlapp")

bp = Blueprint("predict", __name__)

# Field errors listed in one 422 body; a batch of garbage is not echoed in full.
MAX_LISTED_ERRORS = 100
STORE_KEY = "mlapp.store"
BATCHER_KEY = "mlapp.batcher"  # a Batcher, or None when BATCHING=off


def store() -> ModelStore:
    return current_app.extensions[STORE_KEY]


@bp.post("/predict")
@api.PREDICT
def predict() -> Any:
    with metrics.ACTIVE_REQUESTS.track_inprogress():
        return _predict(store(), current_app.extensions[BATCHER_KEY])


def no_model(store: ModelStore) -> Any:
    body = jsonify(
        error="no model",
        message=store.not_ready_reason(),
        request_id=current_request_id(),
    )
    return body, 503


def _predict(store: ModelStore, batcher: Batcher | None) -> Any:
    started = time.perf_counter()
    served = store.current
    if batcher is None:
        return _answer(store, served, None, started)
    arrival = batcher.arrive()  # a batch about to close waits (bounded) for these records
    try:
        return _answer(store, served, arrival, started)
    finally:
        arrival.close()


def _answer(store: ModelStore, served: Served | None, arrival: Arrival | None, started: float):
    experiment = _experiment(served)
    read = _read(experiment)
    if not isinstance(read, _Records):
        return read
    if served is None:
        served = store.get()  # right after start: waits, bounded, for the first load
        experiment = _experiment(served)
        if served is None:
            _count("503", experiment, "no_model")
            return no_model(store)

    try:
        if arrival is None:
            prices = predict_rows(served, read.rows)
        else:
            served, prices = arrival.predict(read.rows)
            experiment = _experiment(served)
    except NoModel:
        _count("503", experiment, "no_model")
        return no_model(store)
    except ModelFailed as exc:
        log.error("request_id=%s %s", current_request_id(), exc)
        _count("500", experiment, "model_error")
        body = jsonify(
            error="model error",
            message="the model could not price this input, see logs",
            request_id=current_request_id(),
        )
        return body, 500

    calibration = served.calibration
    metrics.PREDICTION_REQUESTS.labels("200", experiment).inc()
    metrics.PREDICTION_LATENCY.labels(experiment).observe(time.perf_counter() - started)
    metrics.LAST_PREDICTION.set(time.time())
    for price in prices:
        metrics.PREDICTED_PRICE.observe(price)
    # json.dumps straight into a Response: the hot path skips Flask's JSON provider.
    body: dict[str, Any] = {"request_id": current_request_id()}
    if read.many:
        body["prices"] = [round(p, 2) for p in prices]
        if calibration is not None:
            body["intervals"] = [_interval(calibration, p) for p in prices]
    else:
        body["price"] = round(prices[0], 2)
        if calibration is not None:
            body["interval"] = _interval(calibration, prices[0])
    body["model"] = served.public
    return Response(json.dumps(body), mimetype="application/json")


def _interval(calibration: Calibration, price: float) -> dict[str, float]:
    """The calibrated range around an unrounded price, in cents like the price."""
    interval = calibration.interval(price)
    return {
        "low": round(interval["low"], 2),
        "high": round(interval["high"], 2),
        "level": interval["level"],
    }


class _Records(NamedTuple):
    rows: list[list[Any]]  # validated, in schema order
    many: bool  # the body was a list (the answer holds "prices")


def _read(experiment: str) -> _Records | Any:
    """The request's validated records, or the 4xx answer that refuses them."""
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

    many = isinstance(payload, list)
    if many:
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
    return _Records(rows, many)


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
