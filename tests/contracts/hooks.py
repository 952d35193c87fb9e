"""schemathesis hooks for the fuzz runs (loaded through SCHEMATHESIS_HOOKS).

Two rules of the contract cannot be said in JSON Schema, so generated data would break
them by chance and a *valid* request would be refused for the wrong reason:
- the cross-field rules of houseprice.schema (listed in the documents under
  `x-consistency-rules`): a valid-by-schema record is made consistent before it is sent;
- a correction must name a stored prediction: valid corrections name the one the run
  seeded (HOUSEPRICE_FUZZ_PREDICTION_ID).
Only cases whose body is meant to be valid are touched; invalid ones go out as drawn.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation

from houseprice.schema import FIELDS_BY_NAME
from tests.support.fuzz import PREDICTION_ID_ENV

_LIVING = FIELDS_BY_NAME["sqft_living"]
_PAST_DAY = "2014-05-02"


def make_consistent(record: Any) -> None:
    """Repair, in place, a record whose every field is valid so that it keeps the rules."""
    if not isinstance(record, dict):
        return
    if isinstance(record.get("bedrooms"), int | float):
        record["bedrooms"] = float(round(record["bedrooms"]))
    above, basement = record.get("sqft_above"), record.get("sqft_basement")
    if isinstance(above, int | float) and isinstance(basement, int | float):
        living = int(min(max(above + basement, _LIVING.low), _LIVING.high))
        record["sqft_basement"] = basement = int(min(basement, living))
        record["sqft_above"] = living - basement
        record["sqft_living"] = living
    built, renovated = record.get("yr_built"), record.get("yr_renovated")
    numbers = isinstance(built, int | float) and isinstance(renovated, int | float)
    if numbers and renovated and renovated < built:
        record["yr_renovated"] = built
    sold = record.get("date")
    if isinstance(sold, str) and sold[:10] > datetime.now(UTC).date().isoformat():
        record["date"] = _PAST_DAY  # a future day (or text that sorts after one)


def _body_is_valid(case: Any) -> bool:
    meta = case.meta
    if meta is None:
        return False
    component = meta.components.get(ParameterLocation.BODY)
    mode = component.mode if component is not None else meta.generation.mode
    return mode.is_positive


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if _body_is_valid(case):
        _repair(case)
    return case


@schemathesis.hook
def before_add_examples(context: Any, examples: list[Any]) -> None:
    # The examples phase (the documents' own examples) skips map_case; they are valid bodies.
    for case in examples:
        _repair(case)


def _repair(case: Any) -> None:
    if case.method.upper() != "POST":
        return
    body = case.body
    path = case.operation.path
    if path == "/predict":
        for record in body if isinstance(body, list) else [body]:
            make_consistent(record)
    elif path in ("/predictions", "/corrections") and isinstance(body, dict):
        make_consistent(body.get("features"))
        if path == "/corrections" and os.environ.get(PREDICTION_ID_ENV):
            body["prediction_id"] = os.environ[PREDICTION_ID_ENV]
