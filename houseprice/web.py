"""Flask plumbing shared by the services: request ids, request logs, JSON errors, admin token.

HTTP semantics live here once for all three services: an error keeps the headers its
status calls for (`Allow` on a 405, `WWW-Authenticate` on a 401), HEAD and OPTIONS are
answered by Flask as RFC 9110 says (HEAD: GET's headers, no body; OPTIONS: 200 with
`Allow`), and the query parameters of a declared operation (houseprice.contract) are
checked before its view runs.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from houseprice.contract import REQUEST_ID, check_query, operation_of

REQUEST_ID_HEADER = "X-Request-ID"


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str:
    return getattr(g, "request_id", "") or new_request_id()


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def install(app: Flask, service: str, json_errors: bool = True) -> None:
    """Request id in/out, one log line per request, and JSON bodies for HTTP errors."""
    log = logging.getLogger(f"{service}.access")

    @app.before_request
    def _start() -> None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else new_request_id()
        g.started = time.perf_counter()

    @app.before_request
    def _check_query() -> Any:
        if request.method == "OPTIONS" or request.endpoint is None:
            return None
        operation = operation_of(app.view_functions.get(request.endpoint))
        if operation is None:
            return None
        values, errors = check_query(operation.query, request.args)
        if errors:
            return validation_error(errors)
        g.query = values
        return None

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = current_request_id()
        if request.path not in ("/metrics", "/health"):
            elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            log.info(
                "request_id=%s %s %s %s %.1fms",
                current_request_id(),
                request.method,
                request.path,
                response.status_code,
                elapsed_ms,
            )
        return response

    if json_errors:

        @app.errorhandler(HTTPException)
        def _http_error(exc: HTTPException):
            response = jsonify(
                error=exc.name, message=exc.description, request_id=current_request_id()
            )
            response.status_code = exc.code or 500
            response.headers.extend(error_headers(exc))
            return response

        @app.errorhandler(Exception)
        def _unexpected(exc: Exception):
            logging.getLogger(service).exception(
                "request_id=%s unhandled error", current_request_id()
            )
            return jsonify(
                error="Internal Server Error",
                message="unexpected error, see logs",
                request_id=current_request_id(),
            ), 500


def error_headers(exc: HTTPException) -> list[tuple[str, str]]:
    """The headers an error's status calls for (Allow on a 405, WWW-Authenticate on a 401,
    Retry-After), without its default body type: every service's error answer keeps them."""
    return [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]


def validation_error(fields: dict[str, str], status: int = 422):
    """The one shape of a validation error across services: every bad field named."""
    message = "; ".join(f"{name}: {problem}" for name, problem in fields.items())
    return jsonify(
        error="validation failed", message=message, fields=fields, request_id=current_request_id()
    ), status


class _SchemeAwareSessions(SecureCookieSessionInterface):
    """The session cookie (which also holds the CSRF token) is Secure on HTTPS requests."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def serve_behind_proxies(app: Flask, hops: int) -> None:
    """Trust the X-Forwarded-For/-Proto/-Host of `hops` reverse proxies (PROXY_HOPS).

    Behind the Ingress (hops=1) a request that arrived over HTTPS is then seen as HTTPS:
    its cookies get `Secure`, and `request.remote_addr` is the client's. With 0 the
    headers are ignored, so a client cannot claim HTTPS or another address.
    """
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.session_interface = _SchemeAwareSessions()


ADMIN_TOKEN_KEY = "houseprice.admin_token"


def set_admin_token(app: Flask, token: str) -> None:
    app.extensions[ADMIN_TOKEN_KEY] = token.encode()


def admin_only(view: Callable) -> Callable:
    """Refuse the view with 401 unless the request carries `Authorization: Bearer <ADMIN_TOKEN>`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        expected = current_app.extensions[ADMIN_TOKEN_KEY]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
            body = jsonify(
                error="unauthorized",
                message="send the admin token as 'Authorization: Bearer <ADMIN_TOKEN>'",
                request_id=current_request_id(),
            )
            return body, 401, {"WWW-Authenticate": "Bearer"}
        return view(*args, **kwargs)

    return wrapper
