"""The pages people use: predict form, result with a correction form, saved history.

Thin by design: forms.py reads and checks what was posted, clients.py talks to mlapp and
dbapp, the templates show it. A dependency that is down becomes a page that says so (with
the right status), never a stack trace, and nothing the user typed is dropped unsaid.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request

from houseprice.schema import FEATURES
from houseprice.settings import Settings
from houseprice.web import current_request_id
from webapp import comparables
from webapp.clients import DbappClient, DependencyError, MlappClient, Prediction, Rejected
from webapp.filters import plain
from webapp.forms import (
    FORM_FIELDS,
    GROUPS,
    Choices,
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

log = logging.getLogger("webapp")

bp = Blueprint("pages", __name__)

HISTORY_PER_PAGE = 20
_CORRECTION_ID = re.compile(r"[0-9a-f]{32}")
_PAGE = re.compile(r"[1-9]\d{0,4}|100000")  # dbapp serves pages 1 to 100,000

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


@dataclass(frozen=True)
class Services:
    """What the pages need, built once per worker by create_app."""

    settings: Settings
    mlapp: MlappClient
    dbapp: DbappClient
    choices: Choices


def _services() -> Services:
    return current_app.extensions["webapp"]


def render_predict(
    values: dict[str, str], errors: dict[str, str] | None = None, problem: str = ""
) -> str:
    return render_template(
        "predict.html",
        groups=GROUPS,
        fields=FORM_FIELDS,
        choices=_services().choices,
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
        "nearby": None,  # comparable sales, shown with a fresh estimate only
        "nearby_problem": "",
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


@bp.get("/")
def predict_form():
    # Query values (from "change these values" on the result page) override the defaults.
    values = {
        **_services().choices.defaults,
        **{f.name: request.args[f.name][:200] for f in FEATURES if f.name in request.args},
    }
    return render_predict(values)


@bp.post("/")
def predict():
    submission = read_features(request.form)
    if not submission.ok:
        PREDICTION_REQUESTS.labels("invalid").inc()
        return render_predict(submission.values, submission.errors), 422
    request_id = current_request_id()
    started = time.perf_counter()
    try:
        prediction = _services().mlapp.predict(submission.clean, request_id)
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
        _services().dbapp.save_prediction(prediction, submission.clean, request_id)
    except DependencyError as exc:
        saved = False
        count_error(exc.kind, "dbapp")
        log.warning("request_id=%s prediction not saved: %s", request_id, exc)
    shown = _shown(prediction, submission.clean)
    nearby, nearby_problem = comparables.for_house(
        _services().mlapp, submission.clean, prediction.price, prediction.interval, request_id
    )
    return render_result(
        shown,
        sign_prediction(_services().settings.SECRET_KEY, shown),
        saved=saved,
        nearby=nearby,
        nearby_problem=nearby_problem,
    )


@bp.post("/correction")
def correct():
    token = request.form.get("prediction", "")
    prediction = read_prediction(_services().settings.SECRET_KEY, token)
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
    dbapp = _services().dbapp
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


@bp.get("/history")
def history():
    text = request.args.get("page", "1")
    if not _PAGE.fullmatch(text):
        abort(400, "page must be a whole number from 1, e.g. /history?page=2")
    page = int(text)
    lists: dict[str, Any] = {}
    problem = ""
    for collection in ("predictions", "corrections"):
        try:
            lists[collection] = _services().dbapp.list(
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


def _shown(prediction: Prediction, features: dict[str, Any]) -> dict[str, Any]:
    """What the result page and the correction form need to know about a prediction."""
    return {
        "request_id": prediction.request_id,
        "price": prediction.price,
        "model": {
            key: prediction.model.get(key, "")
            for key in ("name", "version", "model_folder", "dataset_version", "run_id")
        },
        "interval": prediction.interval,
        "features": features,
    }
