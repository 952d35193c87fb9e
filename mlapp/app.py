"""mlapp's HTTP API: predict, model info, health, readiness, metrics, OpenAPI, reload.

The per-request path is kept short on purpose: parse JSON, validate each record
against the shared schema, build one numpy object array in schema order, call the
prepared predict function of the model read once from the store.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from houseprice.metrics import metrics_payload
from houseprice.schema import FEATURE_NAMES, validate_features
from houseprice.settings import Settings
from houseprice.web import configure_logging, current_request_id, install, validation_error
from mlapp import metrics
from mlapp.model_store import ModelStore, Served
from mlapp.openapi import openapi_document
from mlapp.predictor import configure_sklearn

log = logging.getLogger("mlapp")

MAX_BATCH = 1000
# 1000 records of the longest valid fields fit in well under 2 MB.
MAX_BODY_BYTES = 2 * 1024 * 1024
# Field errors listed in one 422 body; a batch of garbage is not echoed in full.
MAX_LISTED_ERRORS = 100
STORE_KEY = "mlapp.store"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    _configure_mlflow_client(settings)
    configure_sklearn()
    store = ModelStore(
        settings.MLFLOW_TRACKING_URI,
        settings.REGISTERED_MODEL_NAME,
        poll_seconds=settings.MODEL_POLL_SECONDS,
        first_load_wait=settings.HTTP_TIMEOUT_SECONDS,
    )

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions[STORE_KEY] = store
    install(app, "mlapp")
    # Started here, in the process that serves: never in a gunicorn master before fork.
    app.before_request(store.ensure_started)
    admin_token = settings.ADMIN_TOKEN.encode()

    @app.post("/predict")
    def predict() -> Any:
        with metrics.ACTIVE_REQUESTS.track_inprogress():
            return _predict(store)

    @app.get("/model")
    def model() -> Any:
        served = store.current
        if served is None:
            return _no_model(store)
        info = served.info
        return jsonify(
            model={
                **served.public,
                "loaded_at": info.loaded_at,
                "load_seconds": info.load_seconds,
                "predictor": info.predictor,
            },
            registry=_registry_status(store),
        )

    @app.get("/health")
    def health() -> Any:
        return jsonify(status="ok")

    @app.get("/ready")
    def ready() -> Any:
        # Answers at once (probes have short timeouts); only /predict waits for a first load.
        served = store.current
        if served is None:
            return jsonify(ready=False, reason=store.not_ready_reason()), 503
        return jsonify(ready=True, model=served.public)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        payload, content_type = metrics_payload(metrics.REGISTRY)
        return Response(payload, content_type=content_type)

    @app.get("/openapi.json")
    def openapi() -> Any:
        return jsonify(openapi_document())

    @app.post("/admin/reload")
    def admin_reload() -> Any:
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), admin_token):
            body = jsonify(
                error="unauthorized",
                message="send the admin token as 'Authorization: Bearer <ADMIN_TOKEN>'",
                request_id=current_request_id(),
            )
            return body, 401, {"WWW-Authenticate": "Bearer"}
        changed = store.check()
        served = store.current
        status = _registry_status(store)
        body = {
            "changed": changed,
            "model": served.public if served else None,
            "registry": status,
            "worker_pid": os.getpid(),
        }
        return jsonify(body), (502 if status["last_error"] else 200)

    return app


def _configure_mlflow_client(settings: Settings) -> None:
    """MLflow client behaviour for this process (an operator's explicit values win)."""
    # A down MLflow must show up within seconds, not after minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    timeout = str(max(1, math.ceil(settings.HTTP_TIMEOUT_SECONDS)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", timeout)
    # Loading any scikit-learn model (skops included) needs this opt-in. mlapp loads only
    # from the platform's own registry: whoever can register a model there is trusted.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")


def _registry_status(store: ModelStore) -> dict[str, Any]:
    status = store.status
    return {
        "champion_version": status.champion_version,
        "last_check_at": status.last_check_at,
        "last_ok_at": status.last_ok_at,
        "last_error": status.last_error,
        "poll_seconds": store.poll_seconds,
    }


def _no_model(store: ModelStore) -> Any:
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
            return _no_model(store)

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
