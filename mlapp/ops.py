"""The platform's endpoints: model info, liveness, readiness, metrics, reload."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from houseprice.metrics import metrics_payload
from houseprice.web import admin_only
from mlapp import api, metrics
from mlapp.batching import Batcher
from mlapp.model_store import ModelStore, Served
from mlapp.predict import BATCHER_KEY, no_model, store

bp = Blueprint("ops", __name__)


@bp.get("/model")
@api.MODEL
def model() -> Any:
    served = store().current
    if served is None:
        return no_model(store())
    info = served.info
    return jsonify(
        model={
            **served.public,
            "loaded_at": info.loaded_at,
            "load_seconds": info.load_seconds,
            "predictor": info.predictor,
        },
        registry=_registry_status(store()),
        batching=_batching_status(served),
        interval=_interval_status(served),
    )


@bp.get("/health")
@api.HEALTH
def health() -> Any:
    return jsonify(status="ok")


@bp.get("/ready")
@api.READY
def ready() -> Any:
    # Answers at once (probes have short timeouts); only /predict waits for a first load.
    served = store().current
    if served is None:
        return jsonify(ready=False, reason=store().not_ready_reason()), 503
    return jsonify(ready=True, model=served.public)


@bp.get("/metrics")
@api.METRICS
def prometheus_metrics() -> Response:
    payload, content_type = metrics_payload(metrics.REGISTRY)
    return Response(payload, content_type=content_type)


@bp.post("/admin/reload")
@api.ADMIN_RELOAD
@admin_only
def admin_reload() -> Any:
    changed = store().check()
    served = store().current
    status = _registry_status(store())
    body = {
        "changed": changed,
        "model": served.public if served else None,
        "registry": status,
        "worker_pid": os.getpid(),
    }
    return jsonify(body), (502 if status["last_error"] else 200)


def _interval_status(served: Served) -> dict[str, Any]:
    """The price range every answer carries, or why answers carry none."""
    calibration = served.calibration
    if calibration is None:
        return {"served": False, "reason": served.info.interval_missing}
    return {
        "served": True,
        "level": calibration.level,
        "log_low": calibration.log_low,
        "log_high": calibration.log_high,
        "rows": calibration.rows,
    }


def _batching_status(served: Served) -> dict[str, Any]:
    batcher: Batcher | None = current_app.extensions[BATCHER_KEY]
    if batcher is None:
        return {"enabled": False, "reason": "BATCHING=off"}
    settings = batcher.settings
    status = {
        "enabled": served.batchable,
        "max_size": settings.max_size,
        "max_wait_ms": settings.max_wait * 1000,
    }
    if not served.batchable:
        status["reason"] = (
            "this model's batched prices differ from its one-by-one prices on its input "
            "example (or it has none): its requests are predicted one at a time"
        )
    return status


def _registry_status(store: ModelStore) -> dict[str, Any]:
    status = store.status
    return {
        "champion_version": status.champion_version,
        "last_check_at": status.last_check_at,
        "last_ok_at": status.last_ok_at,
        "last_error": status.last_error,
        "poll_seconds": store.poll_seconds,
    }
