"""The browser UI's factory: settings, extensions, blueprints (pages, ops) and error pages."""

from __future__ import annotations

import os

import requests
from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect
from jinja2 import StrictUndefined

from houseprice.settings import Settings
from houseprice.web import configure_logging, current_request_id, install, serve_behind_proxies
from webapp import errors, filters, model_page, ops, pages, ratelimit, review
from webapp.clients import DbappClient, MlappClient
from webapp.forms import LABELS, load_choices, message, parse_number

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    ),
}


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.require_secrets()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.SECRET_KEY,
        MAX_CONTENT_LENGTH=64 * 1024,  # the largest real form is a few hundred bytes
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=8 * 3600,  # a form left open for a working day still posts
    )
    app.jinja_env.undefined = StrictUndefined  # a template typo fails tests, not users
    serve_behind_proxies(app, settings.PROXY_HOPS)  # Secure cookies when served over HTTPS
    install(app, "webapp", json_errors=False)  # first: the CSRF check below logs its request id
    CSRFProtect(app)

    session = requests.Session()  # one pool per worker process (the app is built per worker)
    # The platform's own services, never through a proxy: skips requests' scan of the
    # environment for proxy and netrc settings on every call (0.4-0.65 ms CPU per page).
    session.trust_env = False
    app.extensions["webapp"] = pages.Services(
        settings=settings,
        mlapp=MlappClient(settings.MLAPP_URL, settings.HTTP_TIMEOUT_SECONDS, session),
        dbapp=DbappClient(settings.DBAPP_URL, settings.HTTP_TIMEOUT_SECONDS, session),
        choices=load_choices(settings.WEBAPP_SAMPLE_CSV),
    )
    for name in ("money", "when", "when_unix", "plain", "percent", "grouped"):
        app.add_template_filter(getattr(filters, name))
    app.jinja_env.globals.update(
        message=message,
        labels=LABELS,
        request_id=current_request_id,
        is_plain_number=lambda text: text == "" or parse_number(text) is not None,
    )
    app.after_request(_security_headers)
    app.register_blueprint(pages.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(model_page.bp)
    app.register_blueprint(review.bp)
    errors.register(app)
    ratelimit.init_app(app, settings)
    return app


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"  # pages carry CSRF tokens
    return response
