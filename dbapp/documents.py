"""The two fixed document shapes dbapp stores, and their validation.

Plain functions, no Flask and no database: a request body goes in, a clean
document (or every problem, named by field) comes out. The client never chooses
a collection, a query or a field name that reaches MongoDB unchecked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from houseprice.schema import PRICE, check_value, validate_features

# Same alphabet as the X-Request-ID header: safe in logs, URLs and queries.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_LABEL_LENGTH = 200
MAX_NESTING = 10  # deeper JSON than any valid body: refuse it before walking it

PREDICTION_FIELDS = (
    "request_id",
    "features",
    "price",
    "model_name",
    "model_version",
    "dataset_version",
)
CORRECTION_FIELDS = ("request_id", "prediction_id", "features", "corrected_price")
# The server adds `created_at` to both, and `consumed: False, consumed_in: ""` to a
# correction; the data job later sets `consumed: True, consumed_in: "vN"`.

Errors = dict[str, str]


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


def _unknown_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> Errors:
    return {str(k)[:64]: "is not a known field" for k in body if k not in allowed}


def _request_id(value: Any) -> tuple[str | None, str | None]:
    if value is None:
        return None, "is required"
    if not isinstance(value, str) or not REQUEST_ID.fullmatch(value):
        return None, "must be 1-64 letters, digits, '.', '_', ':' or '-'"
    return value, None


def _label(value: Any) -> tuple[str | None, str | None]:
    if value is None:
        return None, "is required"
    if not isinstance(value, str):
        return None, "must be text"
    text = value.strip()
    if not text:
        return None, "must not be empty"
    if len(text) > MAX_LABEL_LENGTH or not text.isprintable():
        return None, f"must be at most {MAX_LABEL_LENGTH} printable characters"
    return text, None


def _positive_price(value: Any) -> tuple[float | None, str | None]:
    if value is None:
        return None, "is required"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "must be a number greater than 0"
    try:
        number = float(value)
    except OverflowError:  # an int with hundreds of digits
        return None, "must be a finite number greater than 0"
    if not math.isfinite(number) or number <= 0:
        return None, "must be a finite number greater than 0"
    return number, None


def _features(value: Any) -> tuple[dict[str, Any] | None, Errors]:
    if not isinstance(value, Mapping):
        return None, {"features": "must be a JSON object of the 16 house features"}
    clean, errors = validate_features(value)
    if errors:
        return None, {f"features.{name}": problem for name, problem in errors.items()}
    return clean, {}


def _not_an_object(body: Any) -> Errors | None:
    if not isinstance(body, Mapping):
        return {"body": "must be a JSON object"}
    return None


def validate_prediction(body: Any) -> tuple[dict[str, Any] | None, Errors]:
    """A POST /predictions body -> (clean document without server fields, errors)."""
    if (problem := _not_an_object(body)) is not None:
        return None, problem
    injected = unsafe_content(body)
    errors = _unknown_fields(body, PREDICTION_FIELDS)
    clean: dict[str, Any] = {}
    checks = {
        "request_id": _request_id,
        "price": _positive_price,
        "model_name": _label,
        "model_version": _label,
        "dataset_version": _label,
    }
    for name, check in checks.items():
        value, error = check(body.get(name))
        if error:
            errors[name] = error
        else:
            clean[name] = value
    if "features" not in body or body["features"] is None:
        errors["features"] = "is required"
    else:
        features, feature_errors = _features(body["features"])
        errors.update(feature_errors)
        clean["features"] = features
    errors.update(injected)
    if errors:
        return None, errors
    return {name: clean[name] for name in PREDICTION_FIELDS}, {}


def validate_correction(body: Any) -> tuple[dict[str, Any] | None, Errors]:
    """A POST /corrections body -> (clean document without server fields, errors).

    `features` may be omitted: the document then carries None there, and the
    caller fills in the features of the prediction it corrects.
    """
    if (problem := _not_an_object(body)) is not None:
        return None, problem
    injected = unsafe_content(body)
    errors = _unknown_fields(body, CORRECTION_FIELDS)
    clean: dict[str, Any] = {"features": None}
    for name in ("request_id", "prediction_id"):
        value, error = _request_id(body.get(name))
        if error:
            errors[name] = error
        else:
            clean[name] = value
    if body.get("corrected_price") is None:
        errors["corrected_price"] = "is required"
    else:
        price, error = check_value(PRICE, body["corrected_price"])
        if error:
            errors["corrected_price"] = error
        else:
            clean["corrected_price"] = float(price)
    if body.get("features") is not None:
        features, feature_errors = _features(body["features"])
        errors.update(feature_errors)
        clean["features"] = features
    errors.update(injected)
    if errors:
        return None, errors
    return {name: clean[name] for name in CORRECTION_FIELDS}, {}


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


# -- review of held corrections (admin) -------------------------------------------------------

REVIEW_FIELDS = ("by", "reason")


def validate_review(body: Any, decision: str) -> tuple[dict[str, str] | None, Errors]:
    """An accept/reject body -> ({"by", "reason"}, errors). A rejection must say why."""
    if (problem := _not_an_object(body)) is not None:
        return None, problem
    errors = _unknown_fields(body, REVIEW_FIELDS)
    errors.update(unsafe_content(body))
    clean: dict[str, str] = {}
    by, error = _label(body.get("by"))
    if error:
        errors["by"] = error
    else:
        clean["by"] = by or ""
    if body.get("reason") is None and decision == "accepted":
        clean["reason"] = ""
    else:
        reason, error = _label(body.get("reason"))
        if error:
            errors["reason"] = error
        else:
            clean["reason"] = reason or ""
    if errors:
        return None, errors
    return clean, {}


DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 100_000  # bounds the skip a client can ask the database for
PAGE_PARAMETERS = ("page", "per_page")


def validate_page(args: Mapping[str, str]) -> tuple[int, int, Errors]:
    """Query string of a list request -> (page, per_page, errors); nothing else is accepted."""
    errors: Errors = {
        str(k)[:64]: "is not a known parameter" for k in args if k not in PAGE_PARAMETERS
    }
    page, error = _whole_number(args.get("page"), default=1, high=MAX_PAGE)
    if error:
        errors["page"] = error
    per_page, error = _whole_number(
        args.get("per_page"), default=DEFAULT_PER_PAGE, high=MAX_PER_PAGE
    )
    if error:
        errors["per_page"] = error
    return page, per_page, errors


def _whole_number(text: str | None, default: int, high: int) -> tuple[int, str | None]:
    if text is None or text == "":
        return default, None
    message = f"must be a whole number from 1 to {high}"
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return default, message
    number = int(text)
    return (number, None) if 1 <= number <= high else (default, message)
