"""Read-only answers about data and models for the web pages.

GET /comparables            similar past sales, a zip's sales for its chart, familiarity
GET /model/history          the champion, why it won, every promotion decision
GET /lineage?model_version  a model version -> its dataset version's manifest
GET /drift_report?dataset_version  a dataset version's drift report, when there is one

mlapp answers these because it runs beside the data (BUCKET_2) and MLflow in namespace
ml; the webapp reaches only mlapp and dbapp. Nothing here writes anywhere.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from houseprice.datasets import VERSION_PREFIX, read_manifest
from houseprice.schema import FIELDS_BY_NAME, check_value
from houseprice.settings import Settings
from houseprice.storage import open_bucket
from houseprice.web import current_request_id, validation_error
from mlapp import api, model_history
from mlapp.sales import SalesCache

log = logging.getLogger(__name__)

bp = Blueprint("insights", __name__)

KEY = "mlapp.insights"
DEFAULT_LIMIT = 5
MAX_LIMIT = 20
HISTORY_SECONDS = 10.0  # one registry read serves the model page this long
DRIFT_REPORT = "drift.html"
_VERSION = re.compile(r"v[1-9]\d{0,8}")
_MODEL_VERSION = re.compile(r"[1-9]\d{0,8}")
COMPARABLE_PARAMS = ("statezip", "sqft_living", "bedrooms", "bathrooms", "yr_built", "limit")
# A drift report is a whole HTML document written by the data job: shown sandboxed (no
# script runs, no request leaves), with the inline styles such reports carry.
DRIFT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class Insights:
    """Per-process state: where the data and registry are, and what was read already."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sales = SalesCache(settings.BUCKET_2, refresh_seconds=settings.MODEL_POLL_SECONDS)
        self._history: tuple[float, dict[str, Any]] | None = None
        self._history_lock = threading.Lock()

    def client(self):
        from mlflow import MlflowClient

        uri = self.settings.MLFLOW_TRACKING_URI
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    def history(self) -> dict[str, Any]:
        with self._history_lock:
            if self._history and time.monotonic() - self._history[0] < HISTORY_SECONDS:
                return self._history[1]
            name = self.settings.REGISTERED_MODEL_NAME
            client = self.client()
            champion = model_history.champion(client, name)
            decisions = model_history.promotions(client, name)
            if champion is not None:
                champion["promoted"] = model_history.promoted(decisions, champion["version"])
            body = {"registered_model": name, "champion": champion, "promotions": decisions}
            self._history = (time.monotonic(), body)
            return body


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    state.app.extensions[KEY] = Insights(state.options["settings"])


def insights() -> Insights:
    return current_app.extensions[KEY]


def _unavailable(what: str, exc: Exception) -> Any:
    log.warning("request_id=%s %s unavailable: %s", current_request_id(), what, exc)
    return jsonify(
        error="unavailable",
        message=f"{what} cannot be read right now ({type(exc).__name__})",
        request_id=current_request_id(),
    ), 503


def _not_found(message: str) -> Any:
    return jsonify(error="not found", message=message, request_id=current_request_id()), 404


def _unknown_params(allowed: tuple[str, ...]) -> dict[str, str]:
    return {str(k)[:50]: "is not a known parameter" for k in request.args if k not in allowed}


# -- comparables ---------------------------------------------------------


def read_house(args: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The house a comparables request describes (schema ranges), and errors by parameter."""
    house: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in COMPARABLE_PARAMS[:-1]:
        text = args.get(name, "").strip()
        if not text:
            if name in ("statezip", "sqft_living"):
                errors[name] = "is required"
            continue
        spec = FIELDS_BY_NAME[name]
        raw: Any = text
        if spec.kind != "str":
            try:
                raw = float(text)
            except ValueError:
                errors[name] = f"must be {spec.describe()}"
                continue
        value, error = check_value(spec, raw)
        if error:
            errors[name] = error
        else:
            house[name] = value
    return house, errors


def _read_limit(text: str) -> tuple[int, str | None]:
    if not text:
        return DEFAULT_LIMIT, None
    if not re.fullmatch(r"\d{1,3}", text) or not 1 <= int(text) <= MAX_LIMIT:
        return 0, f"must be a whole number from 1 to {MAX_LIMIT}"
    return int(text), None


@bp.get("/comparables")
@api.COMPARABLES
def comparables() -> Any:
    house, errors = read_house(request.args)
    limit, problem = _read_limit(request.args.get("limit", "").strip())
    if problem:
        errors["limit"] = problem
    errors.update(_unknown_params(COMPARABLE_PARAMS))
    if errors:
        return validation_error(errors)
    try:
        sales = insights().sales.get()
    except Exception as exc:
        return _unavailable("the dataset versions", exc)
    if sales is None:
        return jsonify(
            error="no data",
            message="no dataset version is committed yet: run the data job first",
            request_id=current_request_id(),
        ), 404
    return jsonify(
        dataset_version=sales.version,
        sales=sales.rows,
        statezip=house["statezip"],
        comparables=sales.comparables(house, limit),
        zip_points=sales.zip_points(house["statezip"]),
        familiarity=sales.familiarity(house),
    )


# -- models ----------------------------------------------------------------


@bp.get("/model/history")
@api.MODEL_HISTORY
def history() -> Any:
    errors = _unknown_params(())
    if errors:
        return validation_error(errors)
    try:
        return jsonify(insights().history())
    except Exception as exc:
        return _unavailable("the model registry", exc)


@bp.get("/lineage")
@api.LINEAGE
def lineage() -> Any:
    number = request.args.get("model_version", "").strip()
    errors = _unknown_params(("model_version",))
    if not _MODEL_VERSION.fullmatch(number):
        errors["model_version"] = "must be a registered version number, e.g. 3"
    if errors:
        return validation_error(errors)
    state = insights()
    try:
        model = model_history.version(state.client(), state.settings.REGISTERED_MODEL_NAME, number)
    except Exception as exc:
        return _unavailable("the model registry", exc)
    if model is None:
        return _not_found(f"{state.settings.REGISTERED_MODEL_NAME} has no version {number}")
    dataset = _dataset(state, model["dataset_version"])
    return jsonify(model=model, dataset=dataset)


def _dataset(state: Insights, version: str) -> dict[str, Any]:
    """A dataset version's manifest (None when it cannot be read) and its drift report."""
    found: dict[str, Any] = {"version": version, "manifest": None, "drift_report": False}
    if not _VERSION.fullmatch(version or ""):
        found["problem"] = "the model version names no dataset version"
        return found
    try:
        bucket = open_bucket(state.settings.BUCKET_2)
        found["manifest"] = read_manifest(bucket, version)
        found["drift_report"] = bucket.exists(f"{VERSION_PREFIX}{version}/{DRIFT_REPORT}")
    except FileNotFoundError:
        found["problem"] = f"dataset version {version} is not committed in BUCKET_2"
    except Exception as exc:
        log.warning("request_id=%s manifest of %s: %s", current_request_id(), version, exc)
        found["problem"] = f"the manifest of {version} cannot be read right now"
    return found


@bp.get("/drift_report")
@api.DRIFT_REPORT
def drift_report() -> Any:
    version = request.args.get("dataset_version", "").strip()
    errors = _unknown_params(("dataset_version",))
    if not _VERSION.fullmatch(version):
        errors["dataset_version"] = "must be a dataset version, e.g. v3"
    if errors:
        return validation_error(errors)
    try:
        bucket = open_bucket(insights().settings.BUCKET_2)
        html = bucket.read_bytes(f"{VERSION_PREFIX}{version}/{DRIFT_REPORT}")
    except FileNotFoundError:
        return _not_found(f"dataset version {version} has no drift report")
    except Exception as exc:
        return _unavailable("the dataset bucket", exc)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DRIFT_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
