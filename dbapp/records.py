"""Store and list predictions and corrections, with fixed schemas.

The client never names a collection or sends a query: each endpoint knows its
collection, and list endpoints accept only `page` and `per_page`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from dbapp import api
from dbapp.documents import (
    CORRECTION_FIELDS,
    PREDICTION_FIELDS,
    new_correction,
    new_prediction,
    public,
    same_content,
    validate_correction,
    validate_prediction,
)
from dbapp.metrics import (
    DOCUMENTS_INSERTED,
    RETRIEVE_LATENCY,
    RETRIEVE_REQUESTS,
    STORE_LATENCY,
    STORE_REQUESTS,
)
from dbapp.repository import Kind, Repository
from houseprice.contract import REQUEST_ID, REQUEST_ID_PROBLEM, query_values
from houseprice.web import current_request_id, validation_error

log = logging.getLogger("dbapp")

bp = Blueprint("records", __name__)

REPOSITORY_KEY = "dbapp.repository"


def repository() -> Repository:
    return current_app.extensions[REPOSITORY_KEY]


@bp.after_request
def _record_metrics(response: Response) -> Response:
    measured = g.pop("measured", None)
    if measured is not None:
        action, kind, started = measured
        counter, histogram = (
            (STORE_REQUESTS, STORE_LATENCY)
            if action == "store"
            else (RETRIEVE_REQUESTS, RETRIEVE_LATENCY)
        )
        counter.labels(collection=kind, status=str(response.status_code)).inc()
        histogram.labels(collection=kind).observe(time.perf_counter() - started)
    return response


def _measured(action: str, kind: Kind) -> Callable:
    """Mark a view so its response is counted and timed under `kind`."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            g.measured = (action, kind, time.perf_counter())
            return view(*args, **kwargs)

        return wrapper

    return decorate


def json_body() -> Any:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    try:
        return request.get_json()
    except BadRequest:
        raise BadRequest("the body is not valid JSON") from None
    except RecursionError:  # the parser gives up on absurd nesting before we see it
        raise BadRequest("the body is nested too deeply") from None


def _store_response(
    kind: Kind,
    clean: dict[str, Any],
    stored: dict[str, Any],
    inserted: bool,
    fields: tuple[str, ...],
):
    request_id = clean["request_id"]
    if inserted:
        DOCUMENTS_INSERTED.labels(collection=kind).inc()
        log.info("request_id=%s stored %s/%s", current_request_id(), kind, request_id)
        return jsonify(public(stored)), 201, {"Location": f"/{kind}/{request_id}"}
    if not same_content(stored, clean, fields):
        return jsonify(
            error="conflict",
            message=f"request_id {request_id!r} is already stored with different content",
            fields={"request_id": "is already used by a different document"},
            request_id=current_request_id(),
        ), 409
    # The same request again (a client retry): answer as before, store nothing new.
    return jsonify(public(stored)), 200


def _list_response(kind: Kind):
    page, per_page = query_values()["page"], query_values()["per_page"]
    items, total = repository().page(kind, page, per_page)
    return jsonify(
        items=[public(item) for item in items], page=page, per_page=per_page, total=total
    )


def _get_response(kind: Kind, request_id: str):
    if not REQUEST_ID.fullmatch(request_id):
        return validation_error({"request_id": REQUEST_ID_PROBLEM})
    document = repository().get(kind, request_id)
    if document is None:
        return jsonify(
            error="not found",
            message=f"no {kind[:-1]} has request_id {request_id!r}",
            request_id=current_request_id(),
        ), 404
    return jsonify(public(document))


# -- store -------------------------------------------------------------


@bp.post("/predictions")
@api.STORE_PREDICTION
@_measured("store", "predictions")
def store_prediction():
    clean, errors = validate_prediction(json_body())
    if errors:
        return validation_error(errors)
    stored, inserted = repository().insert_once("predictions", new_prediction(clean))
    return _store_response("predictions", clean, stored, inserted, PREDICTION_FIELDS)


@bp.post("/corrections")
@api.STORE_CORRECTION
@_measured("store", "corrections")
def store_correction():
    clean, errors = validate_correction(json_body())
    if errors:
        return validation_error(errors)
    prediction = repository().get("predictions", clean["prediction_id"])
    if prediction is None:
        return validation_error({"prediction_id": "no prediction has this request_id"})
    if clean["features"] is None:
        clean["features"] = prediction["features"]
    stored, inserted = repository().insert_once("corrections", new_correction(clean))
    return _store_response("corrections", clean, stored, inserted, CORRECTION_FIELDS)


# -- retrieve ----------------------------------------------------------


@bp.get("/predictions")
@api.LIST_PREDICTIONS
@_measured("retrieve", "predictions")
def list_predictions():
    return _list_response("predictions")


@bp.get("/corrections")
@api.LIST_CORRECTIONS
@_measured("retrieve", "corrections")
def list_corrections():
    return _list_response("corrections")


@bp.get("/predictions/<request_id>")
@api.GET_PREDICTION
@_measured("retrieve", "predictions")
def get_prediction(request_id: str):
    return _get_response("predictions", request_id)


@bp.get("/corrections/<request_id>")
@api.GET_CORRECTION
@_measured("retrieve", "corrections")
def get_correction(request_id: str):
    return _get_response("corrections", request_id)
