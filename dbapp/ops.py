"""The platform's endpoints: liveness, readiness, metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from dbapp import api
from dbapp.metrics import REGISTRY
from dbapp.records import repository
from houseprice.metrics import metrics_payload

bp = Blueprint("ops", __name__)


@bp.get("/health")
@api.HEALTH
def health():
    return jsonify(status="ok")


@bp.get("/ready")
@api.READY
def ready():
    repository().ping()  # a failure becomes the 503 "database unavailable" of dbapp.errors
    repository().collection("predictions")  # and the indexes exist
    return jsonify(status="ready")


@bp.get("/metrics")
@api.METRICS
def metrics():
    payload, content_type = metrics_payload(REGISTRY)
    return Response(payload, content_type=content_type)
