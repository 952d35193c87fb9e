"""Error answers of dbapp beyond houseprice.web's: a database that does not answer."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from pymongo.errors import ConnectionFailure, PyMongoError

from houseprice.web import current_request_id

log = logging.getLogger("dbapp")


def register(app: Flask) -> None:
    app.register_error_handler(PyMongoError, _database_unavailable)


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
