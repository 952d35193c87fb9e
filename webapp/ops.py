"""Endpoints for the platform rather than people: liveness, readiness, metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from houseprice.metrics import metrics_payload
from webapp.metrics import REGISTRY

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health():
    return jsonify(status="ok")


@bp.get("/ready")
def ready():
    # Cheap on purpose: the pages stay useful (and say what is missing) while mlapp or
    # dbapp is down, so this pod should keep receiving traffic then.
    return jsonify(status="ready")


@bp.get("/metrics")
def metrics():
    body, content_type = metrics_payload(REGISTRY)
    return Response(body, headers={"Content-Type": content_type})
