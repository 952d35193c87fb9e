"""dbapp's contract: one Operation per endpoint (houseprice.contract).

The bodies are declared in dbapp.documents, which validates requests with them; each
view carries its Operation as a decorator and `/openapi.json` is generated from them.
A new endpoint declares its Operation here and decorates its view.
"""

from __future__ import annotations

from dbapp.documents import (
    CORRECTION,
    CORRECTION_IN,
    PAGE_QUERY,
    PREDICTION,
    PREDICTION_IN,
    REJECT_IN,
    REVIEW_IN,
    page_of,
)
from houseprice.contract import (
    ERROR,
    STATUS,
    VALIDATION_ERROR,
    Body,
    Operation,
    Reply,
    text,
)
from houseprice.contract import (
    REQUEST_ID_PATTERN as _PATTERN,
)

TITLE = "dbapp"
VERSION = "1.1.0"
DESCRIPTION = (
    "Stores and lists house-price predictions and the corrections users send. Fixed "
    "schemas: no collection name and no query is ever taken from a client."
)

UNAVAILABLE = Reply(ERROR, "MongoDB is unavailable; retry later", headers={"Retry-After": {}})
_STORE_ERRORS = {
    400: Reply(ERROR, "The body is not valid JSON"),
    409: Reply(ERROR, "`request_id` is already used by a different document"),
    413: Reply(ERROR, "The body is larger than 64 KB"),
    415: Reply(ERROR, "The body is not sent as application/json"),
    422: Reply(VALIDATION_ERROR, "Invalid fields, each named in `fields`"),
    503: UNAVAILABLE,
}
_IDEMPOTENT = (
    "`request_id` is the idempotency key: the same body again returns 200 with the stored "
    "document and stores nothing new; the same `request_id` with other content is a 409."
)


def _store(summary: str, body: Body, stored: Body, extra: str = "") -> Operation:
    return Operation(
        summary,
        body=body,
        description=_IDEMPOTENT + extra,
        responses={
            201: Reply(stored, "Stored", headers={"Location": {"type": "string"}}),
            200: Reply(stored, "Already stored by an identical earlier request"),
            **_STORE_ERRORS,
        },
    )


def _list(kind: str, item: Body) -> Operation:
    return Operation(
        f"List {kind}, newest first",
        query=PAGE_QUERY,
        responses={200: Reply(page_of(item), "One page"), 503: UNAVAILABLE},
    )


def _get(kind: str, item: Body) -> Operation:
    return Operation(
        f"One {kind} by its request_id",
        path={"request_id": {"type": "string", "pattern": f"^{_PATTERN}$"}},
        responses={
            200: Reply(item, "Found"),
            404: Reply(ERROR, "No document has this request_id"),
            503: UNAVAILABLE,
        },
    )


STORE_PREDICTION = _store("Store a prediction", PREDICTION_IN, PREDICTION)
STORE_CORRECTION = _store(
    "Store a correction of a stored prediction",
    CORRECTION_IN,
    CORRECTION,
    " A `prediction_id` that no stored prediction has is a 422 naming it.",
)
LIST_PREDICTIONS = _list("predictions", PREDICTION)
LIST_CORRECTIONS = _list("corrections", CORRECTION)
GET_PREDICTION = _get("prediction", PREDICTION)
GET_CORRECTION = _get("correction", CORRECTION)

HEALTH = Operation("Liveness; does not touch MongoDB", responses={200: Reply(STATUS, "Alive")})
READY = Operation(
    "Readiness: MongoDB answers a ping and the indexes exist",
    responses={200: Reply(STATUS, "Ready"), 503: UNAVAILABLE},
)
METRICS = Operation(
    "Prometheus metrics of all workers",
    responses={200: Reply(text(), "Prometheus text format", media="text/plain")},
)

# -- review of held corrections (admin token) ---------------------------------------

LIST_HELD = Operation(
    "Corrections held for review as implausible, most recently held first",
    query=PAGE_QUERY,
    admin=True,
    responses={200: Reply(page_of(CORRECTION), "One page"), 503: UNAVAILABLE},
)


def _review(summary: str, body: Body) -> Operation:
    return Operation(
        summary,
        body=body,
        admin=True,
        path={"request_id": {"type": "string", "pattern": f"^{_PATTERN}$"}},
        responses={
            200: Reply(CORRECTION, "Decided; the correction as it is now"),
            400: Reply(ERROR, "The body is not valid JSON"),
            404: Reply(ERROR, "No correction has this request_id"),
            409: Reply(ERROR, "The correction is not held for review"),
            415: Reply(ERROR, "The body is not sent as application/json"),
            503: UNAVAILABLE,
        },
    )


ACCEPT_HELD = _review("Release a held correction to the next dataset version", REVIEW_IN)
REJECT_HELD = _review("Keep a held correction out for good, saying who and why", REJECT_IN)
