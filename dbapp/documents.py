"""The two fixed document shapes dbapp stores, and their validation.

Plain functions, no Flask and no database: a request body goes in, a clean
document (or every problem, named by field) comes out. The client never chooses
a collection, a query or a field name that reaches MongoDB unchecked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from houseprice.contract import (
    HOUSE,
    REQUEST_ID,
    REQUEST_ID_PATTERN,
    REQUEST_ID_PROBLEM,
    Body,
    Components,
    ListOf,
    Nullable,
    Plain,
    Whole,
    boolean,
    integer,
    text,
)
from houseprice.schema import PRICE, Field

MAX_LABEL_LENGTH = 200
MAX_NESTING = 10  # deeper JSON than any valid body: refuse it before walking it

Errors = dict[str, str]


@dataclass(frozen=True)
class RequestId:
    """The client-chosen key of a stored document (the X-Request-ID rule)."""

    description: str

    def schema(self, components: Components) -> dict[str, Any]:
        return {
            "type": "string",
            "pattern": f"^{REQUEST_ID_PATTERN}$",
            "description": self.description,
        }

    def check(self, value: Any) -> tuple[str | None, str | None]:
        if not isinstance(value, str) or not REQUEST_ID.fullmatch(value):
            return None, REQUEST_ID_PROBLEM
        return value, None


@dataclass(frozen=True)
class PositiveNumber:
    description: str

    def schema(self, components: Components) -> dict[str, Any]:
        return {"type": "number", "exclusiveMinimum": 0, "description": self.description}

    def check(self, value: Any) -> tuple[float | None, str | None]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, "must be a number greater than 0"
        try:
            number = float(value)
        except OverflowError:  # an int with hundreds of digits
            return None, "must be a finite number greater than 0"
        if not math.isfinite(number) or number <= 0:
            return None, "must be a finite number greater than 0"
        return number, None


def _label(name: str, help: str) -> Field:
    return Field(name, "str", max_len=MAX_LABEL_LENGTH, help=help)


# -- the declared bodies: validation below and dbapp's /openapi.json both use these ------

_PREDICTION_PROPS = {
    "request_id": RequestId("client-chosen unique id; the idempotency key"),
    "features": HOUSE,
    "price": PositiveNumber("predicted price, US dollars"),
    "model_name": _label("model_name", "registered model that predicted"),
    "model_version": _label("model_version", "its registry version"),
    "dataset_version": _label("dataset_version", "dataset version it was trained on, e.g. v3"),
}
_CORRECTION_PROPS = {
    "request_id": RequestId("client-chosen unique id; the idempotency key"),
    "prediction_id": RequestId("request_id of the stored prediction this corrects"),
    "features": HOUSE,
    "corrected_price": PRICE,
}
_CREATED_AT = text("server time, UTC, ISO 8601", format="date-time")

PREDICTION_IN = Body("PredictionIn", _PREDICTION_PROPS)
CORRECTION_IN = Body(
    "CorrectionIn",
    {**_CORRECTION_PROPS, "features": Nullable(HOUSE)},
    required=("request_id", "prediction_id", "corrected_price"),
    description="`features` (absent or null) defaults to those of the prediction it corrects",
)
PREDICTION = Body("Prediction", {**_PREDICTION_PROPS, "created_at": _CREATED_AT})
CORRECTION = Body(
    "Correction",
    {
        **_CORRECTION_PROPS,
        "created_at": _CREATED_AT,
        "consumed": Plain(
            {"type": "boolean", "description": "true once a dataset version holds it"}
        ),
        "consumed_in": text(
            'the dataset version that holds it ("v3"), "" until then, "held:<reason>" '
            'while it waits for review, "rejected:<reason>" once refused'
        ),
        # Set by the data job's screen and by a review (houseprice.mongo); absent otherwise.
        "held": boolean("true while held for review as implausible (never trained on)"),
        "held_at": text("when it was held, UTC", format="date-time"),
        "screen": Plain(
            {
                "type": "object",
                "description": "the numbers that decided: ratios to the prediction and to "
                "the zip's price per square foot, the threshold, the dataset version",
            }
        ),
        "review": Body(
            "Review",
            {
                "decision": Plain({"type": "string", "enum": ["accepted", "rejected"]}),
                "by": text("who decided"),
                "reason": text("why"),
                "at": text("when, UTC", format="date-time"),
            },
        ),
    },
    required=(*_CORRECTION_PROPS, "created_at", "consumed", "consumed_in"),
)
REVIEW_IN = Body(
    "ReviewIn",
    {
        "by": _label("by", "who decides (an operator's name)"),
        "reason": _label("reason", "why; required to reject"),
    },
    required=("by",),
)
REJECT_IN = Body(
    "RejectIn",
    {
        "by": _label("by", "who decides (an operator's name)"),
        "reason": _label("reason", "why it is refused"),
    },
)
PREDICTION_FIELDS = tuple(PREDICTION_IN.props)
CORRECTION_FIELDS = tuple(CORRECTION_IN.props)
# The server adds `created_at` to both, and `consumed: False, consumed_in: ""` to a
# correction; the data job later sets `consumed: True, consumed_in: "vN"`.


def page_of(item: Body) -> Body:
    return Body(
        f"{item.name}Page",
        {
            "items": ListOf(item),
            "page": integer(minimum=1),
            "per_page": integer(minimum=1, maximum=MAX_PER_PAGE),
            "total": integer("documents in all pages (from collection metadata)", minimum=0),
        },
    )


DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 100_000  # bounds the skip a client can ask the database for
PAGE_QUERY = {
    "page": Whole(1, MAX_PAGE, default=1),
    "per_page": Whole(1, MAX_PER_PAGE, default=DEFAULT_PER_PAGE),
}


def unsafe_content(value: Any, path: str = "") -> Errors:
    """Name every place in a JSON body that must never reach MongoDB.

    Keys starting with "$" (`{"$gt": ""}`) or containing "." could act as operators
    or paths; text with lone surrogates cannot be encoded as BSON at all. The error
    is reported at the field that holds the problem.
    """
    errors: Errors = {}
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_NESTING:
            errors[where or "body"] = f"is nested deeper than {MAX_NESTING} levels"
        elif isinstance(item, str):
            if not _encodable(item):
                errors[where or "body"] = "must be valid Unicode text"
        elif isinstance(item, Mapping):
            for key, child in item.items():
                key = str(key)
                if not _encodable(key):
                    errors[where or "body"] = "must not contain keys that are not valid Unicode"
                elif key.startswith("$") or "." in key:
                    name = where or key[:64]
                    errors[name] = (
                        f"must not contain the key {key[:64]!r} ('$' and '.' are refused)"
                    )
                else:
                    stack.append((child, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                stack.append((child, f"{where}[{index}]" if where else f"[{index}]", depth + 1))
    return errors


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json_int(digits: str) -> int | float:
    """JSON integer literal -> int, or float when no field could hold it.

    Keeps validation from overflowing on `10**400` (int -> float conversion):
    such a literal becomes a float (possibly inf) and fails the range check instead.
    """
    return int(digits) if len(digits) <= 18 else float(digits)


def _validate(declared: Body, body: Any) -> tuple[dict[str, Any] | None, Errors]:
    if not isinstance(body, Mapping):
        return None, {"body": "must be a JSON object"}
    clean, errors = declared.validate(body)
    errors.update(unsafe_content(body))
    if errors:
        return None, errors
    return clean, {}


def validate_prediction(body: Any) -> tuple[dict[str, Any] | None, Errors]:
    """A POST /predictions body -> (clean document without server fields, errors)."""
    return _validate(PREDICTION_IN, body)


def validate_correction(body: Any) -> tuple[dict[str, Any] | None, Errors]:
    """A POST /corrections body -> (clean document without server fields, errors).

    `features` may be omitted: the document then carries None there, and the
    caller fills in the features of the prediction it corrects.
    """
    return _validate(CORRECTION_IN, body)


def validate_review(body: Any, rejecting: bool) -> tuple[dict[str, str] | None, Errors]:
    """An accept/reject body -> ({"by", "reason"}, errors). A rejection must say why."""
    clean, errors = _validate(REJECT_IN if rejecting else REVIEW_IN, body)
    if clean is not None:
        clean["reason"] = clean["reason"] or ""
    return clean, errors


def new_prediction(clean: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    return {**clean, "created_at": now or utcnow()}


def new_correction(clean: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    if clean.get("features") is None:
        raise ValueError("a correction needs features (its own or its prediction's)")
    return {**clean, "created_at": now or utcnow(), "consumed": False, "consumed_in": ""}


def same_content(
    stored: Mapping[str, Any], clean: Mapping[str, Any], fields: tuple[str, ...]
) -> bool:
    """True when a retry repeats what the client sent first (server-set fields are ignored)."""
    return all(stored.get(name) == clean.get(name) for name in fields)


def public(document: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document as JSON: no Mongo `_id`, its times as ISO 8601 UTC."""
    out = {key: value for key, value in document.items() if key != "_id"}
    for name in ("consumed", "held"):  # nx-27017 hands back a $set boolean as 0/1
        if name in out:
            out[name] = bool(out[name])
    for name in ("created_at", "held_at"):
        if isinstance(out.get(name), datetime):
            out[name] = iso_utc(out[name])
    review = out.get("review")
    if isinstance(review, Mapping) and isinstance(review.get("at"), datetime):
        out["review"] = {**review, "at": iso_utc(review["at"])}
    return out


def iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:  # a client without tz_aware hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utcnow() -> datetime:
    # MongoDB keeps milliseconds; truncate now so the response equals what a read returns.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
