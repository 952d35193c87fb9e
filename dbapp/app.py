"""dbapp: stores and lists predictions and corrections, with fixed schemas.

HTTP in, validation (dbapp.documents), pymongo (dbapp.repository), HTTP out.
The client never names a collection or sends a query: each endpoint knows its
collection, and list endpoints accept only `page` and `per_page`.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from dbapp import openapi
from dbapp.documents import (
    CORRECTION_FIELDS,
    PREDICTION_FIELDS,
    REQUEST_ID,
    new_correction,
    new_prediction,
    parse_json_int,
    public,
    same_content,
    validate_correction,
    validate_page,
    validate_prediction,
)
from dbapp.metrics import (
    DOCUMENTS_INSERTED,
    RETRIEVE_LATENCY,
    RETRIEVE_REQUESTS,
    STORE_LATENCY,
    STORE_REQUESTS,
)
from dbapp.metrics import (
    REGISTRY as metrics_registry,
)
from dbapp.repository import Kind, Repository
from houseprice.metrics import metrics_payload
from houseprice.settings import Settings
from houseprice.web import configure_logging, current_request_id, install, validation_error

MAX_BODY_BYTES = 64 * 1024  # a prediction with long street names is under 2 KB

log = logging.getLogger("dbapp")


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    app = Flask(__name__)
    app.json = BoundedJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    install(app, "dbapp")
    repo = Repository(settings)
    app.extensions["dbapp.repository"] = repo

    @app.errorhandler(PyMongoError)
    def _database_unavailable(exc: PyMongoError):
        if isinstance(exc, ConnectionFailure):
            log.warning("request_id=%s database unavailable: %s", current_request_id(), exc)
        else:
            log.exception("request_id=%s database error", current_request_id())
        body = jsonify(
            error="database unavailable",
            message="MongoDB did not answer in time; retry later",
            request_id=current_request_id(),
        )
        return body, 503, {"Retry-After": "5"}

    @app.after_request
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

    # -- store -------------------------------------------------------------

    @app.post("/predictions")
    @_measured("store", "predictions")
    def store_prediction():
        clean, errors = validate_prediction(_json_body())
        if errors:
            return validation_error(errors)
        stored, inserted = repo.insert_once("predictions", new_prediction(clean))
        return _store_response("predictions", clean, stored, inserted, PREDICTION_FIELDS)

    @app.post("/corrections")
    @_measured("store", "corrections")
    def store_correction():
        clean, errors = validate_correction(_json_body())
        if errors:
            return validation_error(errors)
        prediction = repo.get("predictions", clean["prediction_id"])
        if prediction is None:
            return validation_error({"prediction_id": "no prediction has this request_id"})
        if clean["features"] is None:
            clean["features"] = prediction["features"]
        stored, inserted = repo.insert_once("corrections", new_correction(clean))
        return _store_response("corrections", clean, stored, inserted, CORRECTION_FIELDS)

    # -- retrieve ----------------------------------------------------------

    @app.get("/predictions")
    @_measured("retrieve", "predictions")
    def list_predictions():
        return _list_response(repo, "predictions")

    @app.get("/corrections")
    @_measured("retrieve", "corrections")
    def list_corrections():
        return _list_response(repo, "corrections")

    @app.get("/predictions/<request_id>")
    @_measured("retrieve", "predictions")
    def get_prediction(request_id: str):
        return _get_response(repo, "predictions", request_id)

    @app.get("/corrections/<request_id>")
    @_measured("retrieve", "corrections")
    def get_correction(request_id: str):
        return _get_response(repo, "corrections", request_id)

    # -- operations --------------------------------------------------------

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.get("/ready")
    def ready():
        repo.ping()  # a failure becomes the 503 "database unavailable" above
        repo.collection("predictions")  # and the indexes exist
        return jsonify(status="ready")

    @app.get("/metrics")
    def metrics():
        payload, content_type = metrics_payload(metrics_registry)
        return Response(payload, content_type=content_type)

    @app.get("/openapi.json")
    def openapi_document():
        return jsonify(openapi.document())

    return app


class BoundedJSONProvider(DefaultJSONProvider):
    """Parses request bodies so that no number can overflow during validation."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_int", parse_json_int)
        return super().loads(s, **kwargs)


def _measured(action: str, kind: Kind) -> Callable:
    """Mark a view so its response is counted and timed under `kind`."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            g.measured = (action, kind, time.perf_counter())
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _json_body() -> Any:
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


def _list_response(repo: Repository, kind: Kind):
    page, per_page, errors = validate_page(request.args)
    if errors:
        return validation_error(errors)
    items, total = repo.page(kind, page, per_page)
    return jsonify(
        items=[public(item) for item in items], page=page, per_page=per_page, total=total
    )


def _get_response(repo: Repository, kind: Kind, request_id: str):
    if not REQUEST_ID.fullmatch(request_id):
        return validation_error(
            {"request_id": "must be 1-64 letters, digits, '.', '_', ':' or '-'"}
        )
    document = repo.get(kind, request_id)
    if document is None:
        return jsonify(
            error="not found",
            message=f"no {kind[:-1]} has request_id {request_id!r}",
            request_id=current_request_id(),
        ), 404
    return jsonify(public(document))
