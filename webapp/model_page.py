"""The read-only model page: which model serves and why, how promotions went, and where one
prediction came from (prediction id -> model version -> dataset version -> rows and sources).

Everything is read from mlapp's insights endpoints (MLflow and BUCKET_2 live beside mlapp)
and from dbapp (the stored prediction). A source that does not answer leaves its part of
the page saying so; the rest still shows.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from markupsafe import Markup

from houseprice.datasets import version_number
from houseprice.web import current_request_id
from webapp import charts
from webapp.clients import DependencyError
from webapp.metrics import count_error

log = logging.getLogger("webapp")

bp = Blueprint("model_page", __name__)

_PREDICTION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # dbapp's request id rule
_DATASET_VERSION = re.compile(r"v[1-9]\d{0,8}")
MAX_SOURCES = 20  # sources listed on the page; the count is always shown
DRIFT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _services():
    return current_app.extensions["webapp"]


@bp.get("/model")
def model():
    request_id = current_request_id()
    mlapp = _services().mlapp
    history, problem = None, ""
    try:
        history = mlapp.insight("/model/history", {}, request_id)
    except DependencyError as exc:
        count_error(exc.kind, "mlapp")
        log.warning("request_id=%s no model history: %s", request_id, exc)
        problem = "The model registry cannot be read right now: try this page again later."
    champion = history.get("champion") if history else None
    champion_data = _lineage(champion["version"])[0] if champion else None

    typed = request.args.get("prediction", "").strip()[:100]
    trace: dict[str, Any] | None = None
    trace_error = ""
    if typed:
        if _PREDICTION_ID.fullmatch(typed):
            trace, trace_error = _trace(typed)
        else:
            trace_error = "must be a prediction id as shown on the result page, e.g. 3f2a…"
    promotions = (history or {}).get("promotions") or []
    body = render_template(
        "model.html",
        active="model",
        problem=problem,
        registered_model=(history or {}).get("registered_model", ""),
        champion=champion,
        champion_data=champion_data,
        decisions=list(reversed(promotions)),
        chart=history_chart(promotions),
        typed=typed,
        trace=trace,
        trace_error=trace_error,
        max_sources=MAX_SOURCES,
    )
    status = 503 if problem else 422 if trace_error and not trace else 200
    return body, status


def _lineage(model_version: str) -> tuple[dict[str, Any] | None, str]:
    try:
        found = _services().mlapp.insight(
            "/lineage", {"model_version": model_version}, current_request_id()
        )
        return found, ""
    except DependencyError as exc:
        if exc.kind == "not_found":
            return None, f"the registry has no model version {model_version}"
        count_error(exc.kind, "mlapp")
        return None, "the model registry cannot be read right now"


def _trace(prediction_id: str) -> tuple[dict[str, Any] | None, str]:
    """The lineage of one stored prediction, or (None, what is missing)."""
    try:
        prediction = _services().dbapp.get_prediction(prediction_id, current_request_id())
    except DependencyError as exc:
        count_error(exc.kind, "dbapp")
        return None, "cannot be looked up: the history service is not answering"
    if prediction is None:
        return None, f"“{prediction_id}” is not a saved prediction"
    version = str(prediction.get("model_version") or "")
    if not version:
        return {"prediction": prediction, "lineage": None, "missing": "no model version"}, ""
    lineage, missing = _lineage(version)
    return {"prediction": prediction, "lineage": lineage, "missing": missing}, ""


def _version_key(version: str) -> int:
    try:
        return version_number(version)
    except ValueError:
        return -1


def _rank(score: dict[str, Any], champion: str) -> tuple[bool, int]:
    """The champion first, then the newest version."""
    text = str(score.get("version", ""))
    return (text == champion, int(text) if text.isdigit() else -1)


def history_chart(promotions: list[dict[str, Any]]) -> Markup | None:
    """MdAPE per dataset version per model folder; each decision's champion is ringed.

    The last decision on a dataset version stands for that version.
    """
    latest: dict[str, dict[str, Any]] = {}
    for decision in promotions:
        latest[str(decision.get("dataset_version", ""))] = decision
    versions = sorted((v for v in latest if v), key=_version_key)
    points: dict[str, list[tuple[int, float, bool]]] = {}
    for index, version in enumerate(versions):
        decision = latest[version]
        champion = str(decision.get("champion_version", ""))
        # One point per folder: its champion version if it has it, else its newest version.
        chosen: dict[str, dict[str, Any]] = {}

        for score in decision.get("scores") or []:
            if not isinstance(score.get("mdape"), int | float) or score.get("error"):
                continue
            folder = str(score.get("model_folder") or "unknown")
            if folder not in chosen or _rank(score, champion) > _rank(chosen[folder], champion):
                chosen[folder] = score
        for folder, score in chosen.items():
            is_champion = str(score["version"]) == champion
            points.setdefault(folder, []).append((index, float(score["mdape"]), is_champion))
    if not points:
        return None
    series = [charts.Series(name, tuple(p)) for name, p in sorted(points.items())]
    return charts.mdape_history(series, versions)


@bp.get("/model/drift/<version>")
def drift(version: str):
    """The drift report of a dataset version, shown sandboxed: its scripts never run here."""
    if not _DATASET_VERSION.fullmatch(version):
        abort(404, "Dataset versions are named v1, v2, …")
    try:
        html = _services().mlapp.drift_report(version, current_request_id())
    except DependencyError as exc:
        if exc.kind == "not_found":
            abort(404, f"Dataset version {version} has no drift report.")
        count_error(exc.kind, "mlapp")
        abort(503, "The drift report cannot be read right now: try again later.")
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DRIFT_CSP
    return response
