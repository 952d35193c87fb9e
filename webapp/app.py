"""The browser UI: predict form, result with a correction form, saved history.

Thin by design: forms.py reads and checks what was posted, clients.py talks to
mlapp and dbapp, the templates show it. A dependency that is down becomes a page
that says so (with the right status), never a stack trace, and nothing the user
typed is dropped without telling them.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from datetime import datetime
from typing import Any

import requests
from flask import Flask, Response, abort, jsonify, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import StrictUndefined
from werkzeug.exceptions import HTTPException

from houseprice.metrics import metrics_payload
from houseprice.schema import FEATURES
from houseprice.settings import Settings
from houseprice.web import configure_logging, current_request_id, install
from webapp.clients import DbappClient, DependencyError, MlappClient, Prediction, Rejected
from webapp.forms import (
    FORM_FIELDS,
    GROUPS,
    LABELS,
    load_choices,
    message,
    number_text,
    parse_number,
    read_features,
    read_prediction,
    read_price,
    sign_prediction,
)
from webapp.metrics import (
    CORRECTION_REQUESTS,
    LAST_PREDICTED_PRICE,
    PREDICTION_LATENCY,
    PREDICTION_REQUESTS,
    count_error,
)
from webapp.metrics import (
    REGISTRY as metrics_registry,
)

log = logging.getLogger("webapp")

HISTORY_PER_PAGE = 20
_CORRECTION_ID = re.compile(r"[0-9a-f]{32}")
_PAGE = re.compile(r"[1-9]\d{0,4}|100000")  # dbapp serves pages 1 to 100,000

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    ),
}

# What a person is told when a dependency fails, by (dependency, kind).
PROBLEMS = {
    ("mlapp", "unavailable"): "The pricing service is not answering right now. "
    "Your entries are kept below: try again in a minute.",
    ("mlapp", "no_model"): "No price model is ready yet (none has been trained and promoted). "
    "Your entries are kept below: try again once a model is available.",
    ("mlapp", "bad_response"): "The pricing service gave an answer this page cannot use. "
    "Your entries are kept below: try again, and report the request id if it persists.",
    ("dbapp", "unavailable"): "Saved history is unavailable: the history service is not answering.",
    ("dbapp", "bad_response"): "Saved history is unavailable: the history service gave an "
    "answer this page cannot use.",
}


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.SECRET_KEY,
        MAX_CONTENT_LENGTH=64 * 1024,  # the largest real form is a few hundred bytes
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=8 * 3600,  # a form left open for a working day still posts
    )
    app.jinja_env.undefined = StrictUndefined  # a template typo fails tests, not users
    install(app, "webapp", json_errors=False)  # first: the CSRF check below logs its request id
    CSRFProtect(app)

    choices = load_choices(settings.WEBAPP_SAMPLE_CSV)
    session = requests.Session()  # one pool per worker process (the app is built per worker)
    mlapp = MlappClient(settings.MLAPP_URL, settings.HTTP_TIMEOUT_SECONDS, session)
    dbapp = DbappClient(settings.DBAPP_URL, settings.HTTP_TIMEOUT_SECONDS, session)
    app.extensions["webapp"] = {"settings": settings, "choices": choices}

    app.add_template_filter(money)
    app.add_template_filter(when)
    app.add_template_filter(plain)
    app.jinja_env.globals.update(
        message=message,
        labels=LABELS,
        request_id=current_request_id,
        is_plain_number=lambda text: text == "" or parse_number(text) is not None,
    )

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"  # pages carry CSRF tokens
        return response

    def render_predict(
        values: dict[str, str], errors: dict[str, str] | None = None, problem: str = ""
    ) -> str:
        return render_template(
            "predict.html",
            groups=GROUPS,
            fields=FORM_FIELDS,
            choices=choices,
            values=values,
            errors=errors or {},
            problem=problem,
        )

    def render_result(prediction: dict[str, Any], token: str, **extra: Any) -> str:
        context: dict[str, Any] = {
            "saved": None,
            "problem": "",
            "errors": {},
            "corrected_price": "",
            "correction_id": uuid.uuid4().hex,
            **extra,
        }
        prefill = {name: plain(value) for name, value in prediction["features"].items()}
        return render_template(
            "result.html",
            prediction=prediction,
            token=token,
            features=FEATURES,
            prefill=prefill,
            **context,
        )

    @app.get("/")
    def predict_form():
        # Query values (from "change these values" on the result page) override the defaults.
        values = {
            **choices.defaults,
            **{f.name: request.args[f.name][:200] for f in FEATURES if f.name in request.args},
        }
        return render_predict(values)

    @app.post("/")
    def predict():
        submission = read_features(request.form)
        if not submission.ok:
            PREDICTION_REQUESTS.labels("invalid").inc()
            return render_predict(submission.values, submission.errors), 422
        request_id = current_request_id()
        started = time.perf_counter()
        try:
            prediction = mlapp.predict(submission.clean, request_id)
        except Rejected as exc:
            PREDICTION_REQUESTS.labels("invalid").inc()
            count_error("rejected", "mlapp")
            errors = exc.fields or {"record": exc.detail or "was refused by the pricing service"}
            return render_predict(submission.values, errors), 422
        except DependencyError as exc:
            PREDICTION_REQUESTS.labels("failed").inc()
            count_error(exc.kind, "mlapp")
            log.warning("request_id=%s no price: %s", request_id, exc)
            status = 502 if exc.kind == "bad_response" else 503
            return render_predict(submission.values, problem=PROBLEMS["mlapp", exc.kind]), status
        PREDICTION_LATENCY.observe(time.perf_counter() - started)
        LAST_PREDICTED_PRICE.set(prediction.price)
        PREDICTION_REQUESTS.labels("ok").inc()

        saved = True
        try:
            dbapp.save_prediction(prediction, submission.clean, request_id)
        except DependencyError as exc:
            saved = False
            count_error(exc.kind, "dbapp")
            log.warning("request_id=%s prediction not saved: %s", request_id, exc)
        shown = _shown(prediction, submission.clean)
        return render_result(shown, sign_prediction(settings.SECRET_KEY, shown), saved=saved)

    @app.post("/correction")
    def correct():
        token = request.form.get("prediction", "")
        prediction = read_prediction(settings.SECRET_KEY, token)
        correction_id = request.form.get("correction_id", "")
        if prediction is None or not _CORRECTION_ID.fullmatch(correction_id):
            CORRECTION_REQUESTS.labels("invalid").inc()
            abort(
                400,
                "This correction form was not issued by this site or was altered. "
                "Make a new prediction and correct that one.",
            )
        typed = request.form.get("corrected_price", "")[:60]
        keep = {"correction_id": correction_id, "corrected_price": typed}
        price, error = read_price(typed)
        if error:
            CORRECTION_REQUESTS.labels("invalid").inc()
            return render_result(prediction, token, errors={"corrected_price": error}, **keep), 422
        try:
            created = save_correction(prediction, correction_id, price)
        except Rejected as exc:
            CORRECTION_REQUESTS.labels("invalid").inc()
            count_error("rejected", "dbapp")
            errors = {k: v for k, v in exc.fields.items() if k == "corrected_price"}
            problem = (
                ""
                if errors
                else "Your correction was NOT saved: the history service refused it"
                + (f" ({exc.detail})." if exc.detail else ".")
            )
            return render_result(prediction, token, errors=errors, problem=problem, **keep), 422
        except DependencyError as exc:
            CORRECTION_REQUESTS.labels("unsaved").inc()
            count_error(exc.kind, "dbapp")
            log.warning(
                "request_id=%s correction %s not saved: %s",
                current_request_id(),
                correction_id,
                exc,
            )
            if exc.kind == "conflict":
                # The same form was sent before with another price (e.g. after Back):
                # the first one stands; a fresh id lets this price be sent as a new one.
                keep["correction_id"] = uuid.uuid4().hex
                problem = (
                    "This form was already sent with a different price, and that first "
                    "correction is saved. This price was NOT saved: submit again to add it."
                )
                return render_result(prediction, token, problem=problem, **keep), 409
            problem = (
                "Your correction was NOT saved: the history service is not answering. "
                "Your price is kept below; submit again in a minute (it will be saved once)."
            )
            status = 502 if exc.kind == "bad_response" else 503
            return render_result(prediction, token, problem=problem, **keep), status
        CORRECTION_REQUESTS.labels("saved" if created else "duplicate").inc()
        return render_template(
            "corrected.html",
            prediction=prediction,
            corrected_price=price,
            correction_id=correction_id,
            created=created,
        )

    def save_correction(prediction: dict[str, Any], correction_id: str, price: float) -> bool:
        request_id = current_request_id()
        try:
            return dbapp.save_correction(
                correction_id, prediction["request_id"], prediction["features"], price, request_id
            )
        except Rejected as exc:
            if "prediction_id" not in exc.fields:
                raise
        # dbapp only takes corrections of predictions it holds; this one could not be saved
        # when it was made (history was down). The signed form carries it: save it now.
        model = prediction["model"]
        dbapp.save_prediction(
            Prediction(prediction["request_id"], prediction["price"], model),
            prediction["features"],
            request_id,
        )
        return dbapp.save_correction(
            correction_id, prediction["request_id"], prediction["features"], price, request_id
        )

    @app.get("/history")
    def history():
        text = request.args.get("page", "1")
        if not _PAGE.fullmatch(text):
            abort(400, "page must be a whole number from 1, e.g. /history?page=2")
        page = int(text)
        lists: dict[str, Any] = {}
        problem = ""
        for collection in ("predictions", "corrections"):
            try:
                lists[collection] = dbapp.list(
                    collection, page, HISTORY_PER_PAGE, current_request_id()
                )
            except DependencyError as exc:
                count_error(exc.kind, "dbapp")
                log.warning("request_id=%s history unavailable: %s", current_request_id(), exc)
                problem = PROBLEMS.get(("dbapp", exc.kind), PROBLEMS["dbapp", "bad_response"])
                break
        last_page = max((p.pages for p in lists.values()), default=1)
        body = render_template(
            "history.html",
            page=page,
            last_page=last_page,
            predictions=lists.get("predictions"),
            corrections=lists.get("corrections"),
            problem=problem,
        )
        return body, 503 if problem else 200

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.get("/ready")
    def ready():
        # Cheap on purpose: the pages stay useful (and say what is missing) while mlapp or
        # dbapp is down, so this pod should keep receiving traffic then.
        return jsonify(status="ready")

    @app.get("/metrics")
    def metrics():
        body, content_type = metrics_payload(metrics_registry)
        return Response(body, headers={"Content-Type": content_type})

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        count_error("csrf")
        problem = (
            "This form had expired or was not sent from this site, so nothing was done. "
            "Check the values and submit again."
        )
        if request.method == "POST" and request.path == url_for("predict"):
            return render_predict(read_features(request.form).values, problem=problem), 400
        return _error_page(400, "Form expired", problem + " " + _back_hint()), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code and exc.code >= 500:
            count_error(f"http_{exc.code}")
        # Keep what the exception says in headers (e.g. Allow on a 405), not its body type.
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return _error_page(exc.code or 500, exc.name, exc.description or ""), exc.code, headers

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("request_id=%s unhandled error", current_request_id())
        count_error("internal")
        return _error_page(
            500,
            "Something went wrong",
            "The page could not be shown. Try again; if it keeps happening, report the "
            "request id below.",
        ), 500

    return app


def _shown(prediction: Prediction, features: dict[str, Any]) -> dict[str, Any]:
    """What the result page and the correction form need to know about a prediction."""
    return {
        "request_id": prediction.request_id,
        "price": prediction.price,
        "model": {
            key: prediction.model.get(key, "")
            for key in ("name", "version", "model_folder", "dataset_version", "run_id")
        },
        "features": features,
    }


def _error_page(status: int, title: str, text: str) -> str:
    return render_template("error.html", status=status, title=title, text=text)


def _back_hint() -> str:
    return "Go back, reload the page, and try again."


def money(value: Any) -> str:
    """$1,234,567 for a price; prices are estimates, so cents would be false precision."""
    try:
        return f"${float(value):,.0f}"
    except (TypeError, ValueError):
        return "—"


def plain(value: Any) -> str:
    """3 rather than 3.0, 2.25 as is; text unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    return number_text(value)


def when(value: Any) -> str:
    """A stored timestamp as 'YYYY-MM-DD HH:MM UTC' (dbapp stores UTC)."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)[:32]
    return moment.strftime("%Y-%m-%d %H:%M UTC")
