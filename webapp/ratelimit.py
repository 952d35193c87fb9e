"""The limit on corrections per client (Flask-Limiter), and its 429 page.

Corrections teach the models, so one client cannot flood them: CORRECTION_RATE_LIMIT
(e.g. "20 per minute") per client address. The counters live in
RATE_LIMIT_STORAGE_URI: memory:// keeps them per worker process (a client may then send
the limit once per worker), so several workers or pods need a shared store such as
redis://. If that store fails, requests are counted in memory instead of refused.
The review page's sign-in is limited too (SIGN_IN_LIMIT), so the admin token cannot be
guessed by brute force through the webapp.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from houseprice.settings import Settings
from webapp.errors import error_page
from webapp.metrics import count_error

LIMITER_KEY = "webapp.limiter"
LIMITED_VIEW = "pages.correct"  # POST /correction
# Guessing the admin token on the review page's sign-in: a few tries a minute, not millions.
SIGN_IN_VIEW = "review.login"
SIGN_IN_LIMIT = "10 per minute"


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Limit the correction view of an app whose blueprints are registered."""
    limiter = Limiter(
        client_address,
        app=app,
        storage_uri=settings.RATE_LIMIT_STORAGE_URI,
        strategy="moving-window",
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        headers_enabled=False,  # only the 429 says when to retry
    )
    for endpoint, rate in (
        (LIMITED_VIEW, settings.CORRECTION_RATE_LIMIT),
        (SIGN_IN_VIEW, SIGN_IN_LIMIT),
    ):
        limit = limiter.limit(rate, methods=["POST"])
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])
    app.extensions[LIMITER_KEY] = limiter
    app.register_error_handler(RateLimitExceeded, too_many)
    return limiter


def client_address() -> str:
    """The client as this app sees it. Behind a load balancer that must be the forwarded
    client address (werkzeug's ProxyFix trusting exactly the proxies in front), or every
    client behind it shares one limit."""
    return request.remote_addr or "unknown"


def too_many(exc: RateLimitExceeded):
    count_error("rate_limited")
    retry = _retry_after()
    if request.endpoint == SIGN_IN_VIEW:
        text = (
            f"Too many sign-in attempts from this address (the limit is {exc.description}). "
            f"Wait {retry} seconds, then try the admin token again."
        )
        return error_page(429, "Too many sign-in attempts", text), 429, {"Retry-After": str(retry)}
    text = (
        f"This address has sent too many corrections in a short time (the limit is "
        f"{exc.description}). This correction was NOT saved. Wait {retry} seconds, then go "
        "back and send it again: your price is still in the form."
    )
    body = error_page(429, "Too many corrections", text)
    return body, 429, {"Retry-After": str(retry)}


def _retry_after() -> int:
    """Seconds until the limit lets this client through again (at least 1)."""

    current = current_app.extensions[LIMITER_KEY].current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))
