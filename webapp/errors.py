"""Error pages: a page that says what happened and what to do, with the request id."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from houseprice.web import current_request_id, error_headers
from webapp.forms import read_features
from webapp.metrics import count_error
from webapp.pages import render_predict

log = logging.getLogger("webapp")


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected)


def csrf_error(exc: CSRFError):
    count_error("csrf")
    problem = (
        "This form had expired or was not sent from this site, so nothing was done. "
        "Check the values and submit again."
    )
    if request.method == "POST" and request.path == url_for("pages.predict"):
        return render_predict(read_features(request.form).values, problem=problem), 400
    return error_page(
        400, "Form expired", problem + " Go back, reload the page, and try again."
    ), 400


def http_error(exc: HTTPException):
    if exc.code and exc.code >= 500:
        count_error(f"http_{exc.code}")
    page = error_page(exc.code or 500, exc.name, exc.description or "")
    return page, exc.code, error_headers(exc)


def unexpected(exc: Exception):
    log.exception("request_id=%s unhandled error", current_request_id())
    count_error("internal")
    return error_page(
        500,
        "Something went wrong",
        "The page could not be shown. Try again; if it keeps happening, report the "
        "request id below.",
    ), 500


def error_page(status: int, title: str, text: str) -> str:
    return render_template("error.html", status=status, title=title, text=text)
