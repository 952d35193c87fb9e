"""The record contract: which fields a house sale has, their types and ranges.

One definition serves every boundary: the web form, the mlapp and dbapp JSON APIs
(`validate_features`, one record at a time, errors named per field) and the data
job (`validate_frame`, vectorised over a whole CSV, each bad row kept with its
reason).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "int", "float" or "str"
    low: float | None = None
    high: float | None = None
    max_len: int = 200
    pattern: str | None = None
    help: str = ""

    def describe(self) -> str:
        if self.kind == "str":
            return self.help or f"text of 1-{self.max_len} characters"
        noun = "a whole number" if self.kind == "int" else "a number"
        return f"{noun} from {_fmt(self.low)} to {_fmt(self.high)}"


def _fmt(value: float | None) -> str:
    return "" if value is None else (f"{value:g}" if value % 1 else f"{int(value)}")


# Order matters: models receive arrays with columns in this order.
FEATURES: tuple[Field, ...] = (
    Field("bedrooms", "float", 0, 50),
    Field("bathrooms", "float", 0, 25),
    Field("sqft_living", "int", 100, 100_000),
    Field("sqft_lot", "int", 100, 50_000_000),
    Field("floors", "float", 1, 5),
    Field("waterfront", "int", 0, 1),
    Field("view", "int", 0, 4),
    Field("condition", "int", 1, 5),
    Field("sqft_above", "int", 0, 100_000),
    Field("sqft_basement", "int", 0, 100_000),
    Field("yr_built", "int", 1800, 2100),
    Field("yr_renovated", "int", 0, 2100, help="0 if never renovated, else a year from 1800"),
    Field("street", "str", max_len=200),
    Field("city", "str", max_len=100),
    Field(
        "statezip",
        "str",
        max_len=8,
        pattern=r"[A-Z]{2} \d{5}",
        help='state and zip, e.g. "WA 98103"',
    ),
    Field("country", "str", max_len=60),
)
PRICE = Field("price", "float", 1_000, 1_000_000_000)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NUMERIC_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind != "str")
TEXT_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "str")
# Columns of a raw sales CSV; `date` is optional.
RAW_COLUMNS: tuple[str, ...] = ("date", "price", *FEATURE_NAMES)
REQUIRED_COLUMNS: tuple[str, ...] = ("price", *FEATURE_NAMES)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in (*FEATURES, PRICE)}


def check_value(field: Field, value: Any) -> tuple[Any, str | None]:
    """Return (clean value, None) or (None, message) for one JSON value."""
    if field.kind == "str":
        if not isinstance(value, str):
            return None, "must be text"
        text = value.strip()
        if not text:
            return None, "must not be empty"
        if len(text) > field.max_len:
            return None, f"must be at most {field.max_len} characters"
        if field.pattern and not re.fullmatch(field.pattern, text):
            return None, f"must look like {field.help}"
        return text, None
    # bool is an int subclass in Python; a dict is how operator injection arrives.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"must be {field.describe()}"
    number = float(value)
    if not math.isfinite(number):
        return None, "must be a finite number"
    if field.kind == "int":
        if not number.is_integer():
            return None, "must be a whole number"
        number = int(number)
    if (field.low is not None and number < field.low) or (
        field.high is not None and number > field.high
    ):
        return None, f"must be {field.describe()}"
    if field.name == "yr_renovated" and 0 < number < 1800:
        return None, f"must be {field.help}"
    return number, None


def validate_features(record: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate one record of house features (e.g. a JSON object).

    Returns (clean record, errors by field name). Unknown fields are reported too,
    so a typo in a field name is not silently ignored.
    """
    if not isinstance(record, Mapping):
        return {}, {"record": "must be a JSON object of house features"}
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in FEATURES:
        if field.name not in record or record[field.name] is None:
            errors[field.name] = "is required"
            continue
        value, error = check_value(field, record[field.name])
        if error:
            errors[field.name] = error
        else:
            clean[field.name] = value
    for name in record:
        if name not in FIELDS_BY_NAME and name != "date":
            errors[str(name)[:50]] = "is not a known field"
    return clean, errors


def validate_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate raw sales rows, vectorised.

    Returns (valid rows with clean dtypes and the columns RAW_COLUMNS,
    rejected rows as read plus a `reason` column naming every bad field).
    The caller must have checked that REQUIRED_COLUMNS are present.
    """
    reasons = np.full(len(frame), "", dtype=object)
    clean = pd.DataFrame(index=frame.index)

    def reject(mask: np.ndarray, message: str) -> None:
        reasons[mask] = reasons[mask] + message + "; "

    for field in (PRICE, *FEATURES):
        column = frame[field.name]
        if field.kind == "str":
            text = column.astype("string").str.strip()
            missing = text.isna().to_numpy() | (text.fillna("") == "").to_numpy()
            reject(missing, f"{field.name}: is required")
            too_long = (text.str.len() > field.max_len).fillna(False).to_numpy(dtype=bool)
            reject(too_long & ~missing, f"{field.name}: longer than {field.max_len} characters")
            if field.pattern:
                ok = text.str.fullmatch(field.pattern).fillna(False).to_numpy(dtype=bool)
                reject(~ok & ~missing & ~too_long, f"{field.name}: must look like {field.help}")
            clean[field.name] = text.astype(object)
            continue
        number = pd.to_numeric(column, errors="coerce").astype("float64")
        values = number.to_numpy()
        missing = np.isnan(values)
        reject(missing & column.isna().to_numpy(), f"{field.name}: is required")
        reject(missing & column.notna().to_numpy(), f"{field.name}: not a number")
        present = ~missing
        bad_range = present & ((values < field.low) | (values > field.high))
        if field.name == "yr_renovated":
            bad_range |= present & (values > 0) & (values < 1800)
        reject(bad_range, f"{field.name}: must be {field.describe()}")
        if field.kind == "int":
            fractional = present & ~bad_range & (np.mod(values, 1) != 0)
            reject(fractional, f"{field.name}: must be a whole number")
        clean[field.name] = number

    if "date" in frame.columns:
        given = (
            frame["date"].notna().to_numpy()
            & (frame["date"].astype("string").str.strip() != "").fillna(False).to_numpy()
        )
        parsed = pd.to_datetime(frame["date"], errors="coerce", format="mixed")
        reject(given & parsed.isna().to_numpy(), "date: not a date")
        clean["date"] = parsed.dt.strftime("%Y-%m-%d").fillna("")
    else:
        clean["date"] = ""

    bad = reasons != ""
    rejected = frame.loc[bad].copy()
    rejected["reason"] = [r.rstrip("; ") for r in reasons[bad]]
    valid = clean.loc[~bad, list(RAW_COLUMNS)]
    for field in FEATURES:
        if field.kind == "int":
            valid[field.name] = valid[field.name].astype("int64")
    return valid.reset_index(drop=True), rejected.reset_index(drop=True)
