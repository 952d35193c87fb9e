"""The operator's page for corrections held as implausible: see why, accept or reject.

Behind the admin token: typed once into a form, then remembered in the signed session as
a digest (never the token itself, which a session cookie would expose). The page calls
dbapp's admin endpoints with the webapp's own ADMIN_TOKEN; changing the token signs
every session out. Every form carries the CSRF token like the other pages'.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

import requests
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from houseprice.web import current_request_id
from webapp.clients import DependencyError, Page, Rejected, _Service
from webapp.metrics import count_error

log = logging.getLogger("webapp.review")

bp = Blueprint("review", __name__, url_prefix="/review")

SESSION_KEY = "review_admin"
PER_PAGE = 20
DECISIONS = {"accept": "accepted", "reject": "rejected"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_PAGE = re.compile(r"[1-9]\d{0,4}")
MAX_TEXT = 200


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers["Authorization"] = f"Bearer {self.token}"
        return prepared


class ReviewClient(_Service):
    """dbapp's /admin/corrections endpoints, with the admin token."""

    name = "dbapp"

    def __init__(self, base_url: str, timeout: float, session: requests.Session, token: str):
        super().__init__(base_url, timeout, session)
        self.auth = _Bearer(token)

    def held(self, page: int, request_id: str) -> Page:
        response = self.call(
            "GET",
            "/admin/corrections/held",
            request_id,
            params={"page": page, "per_page": PER_PAGE},
            auth=self.auth,
        )
        if response.status_code != 200:
            raise self.unexpected(response)
        body = response.json()
        try:
            items = [item for item in body["items"] if isinstance(item, dict)]
            return Page(items, int(body["page"]), int(body["per_page"]), int(body["total"]))
        except (TypeError, KeyError, ValueError):
            raise DependencyError(self.name, "bad_response", "page lacks items/total") from None

    def decide(self, correction_id: str, action: str, by: str, reason: str, request_id: str):
        """POST accept/reject; returns None when decided, else dbapp's message (404/409)."""
        body = {"by": by, "reason": reason} if reason else {"by": by}
        response = self.call(
            "POST",
            f"/admin/corrections/{correction_id}/{action}",
            request_id,
            json=body,
            auth=self.auth,
        )
        if response.status_code == 200:
            return None
        if response.status_code in (404, 409):
            try:
                return str(response.json().get("message", ""))
            except ValueError:
                return f"HTTP {response.status_code}"
        raise self.unexpected(response)


@bp.app_template_filter("factor")
def factor(ratio: Any) -> str:
    """A ratio as people say it: 40.0x above, 53.3x below."""
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio <= 0:
        return "—"
    if ratio >= 1:
        return f"{ratio:.1f}\u00d7 above"
    return f"{1 / ratio:.1f}\u00d7 below"


def _client() -> ReviewClient:
    services = current_app.extensions["webapp"]
    settings = services.settings
    return ReviewClient(
        settings.DBAPP_URL,
        settings.HTTP_TIMEOUT_SECONDS,
        services.dbapp.session,
        settings.ADMIN_TOKEN,
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def signed_in() -> bool:
    expected = _digest(current_app.extensions["webapp"].settings.ADMIN_TOKEN)
    return hmac.compare_digest(str(session.get(SESSION_KEY, "")), expected)


@bp.get("/")
def held():
    if not signed_in():
        return render_template("review_login.html", problem=""), 200
    text = request.args.get("page", "1")
    if not _PAGE.fullmatch(text):
        abort(400, "page must be a whole number from 1, e.g. /review/?page=2")
    return _render(int(text))


def _render(page: int, status: int = 200, errors: dict[str, Any] | None = None, **extra: Any):
    problem = ""
    listing = None
    try:
        listing = _client().held(page, current_request_id())
    except DependencyError as exc:
        count_error(exc.kind, "dbapp")
        log.warning("request_id=%s held corrections unavailable: %s", current_request_id(), exc)
        problem = "The list of held corrections is unavailable: the history service "
        problem += "is not answering. Try again in a minute."
        status = 503
    context = {"form": {}, "target": "", **extra}
    body = render_template(
        "review.html",
        listing=listing,
        page=page,
        problem=problem,
        errors=errors or {},
        by=session.get("review_by", ""),
        **context,
    )
    return body, status


@bp.post("/login")
def login():
    typed = request.form.get("token", "")[:500]
    expected = current_app.extensions["webapp"].settings.ADMIN_TOKEN
    if not hmac.compare_digest(typed.encode(), expected.encode()):
        count_error("admin_token")
        log.warning("request_id=%s review sign-in with a wrong token", current_request_id())
        problem = "That is not the admin token. Nothing was shown or changed."
        return render_template("review_login.html", problem=problem), 401
    session[SESSION_KEY] = _digest(expected)
    return redirect(url_for("review.held"), 303)


@bp.post("/logout")
def logout():
    session.pop(SESSION_KEY, None)
    return redirect(url_for("review.held"), 303)


@bp.post("/<correction_id>")
def decide(correction_id: str):
    if not signed_in():
        return render_template(
            "review_login.html", problem="Sign in again: your session has ended."
        ), 401
    if not _REQUEST_ID.fullmatch(correction_id):
        abort(400, "This is not a correction id.")
    action = request.form.get("decision", "")
    by = request.form.get("by", "").strip()[: MAX_TEXT + 1]
    reason = request.form.get("reason", "").strip()[: MAX_TEXT + 1]
    errors = {}
    if action not in DECISIONS:
        abort(400, "Choose Accept or Reject.")
    if not by:
        errors["by"] = "Enter your name, so the decision says who made it."
    elif len(by) > MAX_TEXT:
        errors["by"] = f"Use at most {MAX_TEXT} characters."
    if action == "reject" and not reason:
        errors["reason"] = "Say why it is rejected; the reason is kept with the correction."
    elif len(reason) > MAX_TEXT:
        errors["reason"] = f"Use at most {MAX_TEXT} characters."
    form = {"by": by, "reason": reason}
    text = request.form.get("page", "1")
    page = int(text) if _PAGE.fullmatch(text) else 1  # the page the form was on
    if errors:
        return _render(page, 422, errors, form=form, target=correction_id)
    try:
        refused = _client().decide(correction_id, action, by, reason, current_request_id())
    except Rejected as exc:
        fields = {k: v for k, v in exc.fields.items() if k in ("by", "reason")}
        problem = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.detail
        return _render(page, 422, fields or {"by": problem}, form=form, target=correction_id)
    except DependencyError as exc:
        count_error(exc.kind, "dbapp")
        log.warning("request_id=%s review not saved: %s", current_request_id(), exc)
        flash(
            "The decision was NOT saved: the history service is not answering. Try again.", "error"
        )
        return redirect(url_for("review.held", page=page), 303)
    session["review_by"] = by
    if refused:
        flash(f"Nothing changed: {refused}", "warning")
    else:
        log.info(
            "request_id=%s correction %s %s by %r",
            current_request_id(),
            correction_id,
            DECISIONS[action],
            by,
        )
        flash(f"Correction {correction_id} {DECISIONS[action]}.", "success")
    return redirect(url_for("review.held", page=page), 303)
