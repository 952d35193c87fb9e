"""The record contract: which fields a house sale has, their types and ranges, and
the rules that tie fields of one record together.

One definition serves every boundary: the web form, the mlapp and dbapp JSON APIs
(`validate_features` then `consistency_errors`, one record at a time, errors named
per field) and the data job (`validate_frame`, vectorised over a whole CSV, each bad
row kept with its reason). Both apply the same field checks and the same CONSISTENCY
rule table, with the same messages.

Text that a spreadsheet would execute (a cell starting with =, +, - or @) is
rejected, not rewritten: no street, city, state/zip or country starts that way, and
a rejected row keeps its original text for the operator (the data job neutralises
such cells only in the rejected-rows files it writes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "int", "float" or "str"
    low: float | None = None
    high: float | None = None
    max_len: int = 200
    pattern: str | None = None
    help: str = ""
    # A number field may hold 0 ("none") or a value from here up (yr_renovated: a year).
    zero_or_from: float | None = None

    def describe(self) -> str:
        if self.kind == "str":
            return self.help or f"text of 1-{self.max_len} characters"
        noun = "a whole number" if self.kind == "int" else "a number"
        return f"{noun} from {_fmt(self.low)} to {_fmt(self.high)}"

    def check(self, value: Any) -> tuple[Any, str | None]:
        return check_value(self, value)

    def schema(self, components: Any = None) -> dict[str, Any]:
        """This field's JSON Schema (what the OpenAPI documents say of it)."""
        if self.kind == "str":
            # Exactly what check_value accepts: surrounding spaces are trimmed; what is left
            # is 1-max_len characters, none a control character. The length lives in the
            # pattern (no maxLength): generators handle one constraint far better than two.
            edge = f"[^{_CONTROL_CHARS} ]"
            first = f"[^{_CONTROL_CHARS} =+\\-@]"  # nor a spreadsheet formula's start
            body = self.pattern or f"{first}(?:{_TEXT}{{0,{self.max_len - 2}}}{edge})?"
            out: dict[str, Any] = {"type": "string", "pattern": f"^ *(?:{body}) *$"}
        else:
            out = {"type": "integer" if self.kind == "int" else "number"}
            if self.zero_or_from is not None:
                out["anyOf"] = [{"const": 0}, {"minimum": self.zero_or_from}]
            out["minimum"], out["maximum"] = self.low, self.high
        out["description"] = self.describe()
        return out


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
    Field(
        "yr_renovated",
        "int",
        0,
        2100,
        help="0 if never renovated, else a year from 1800",
        zero_or_from=1800,
    ),
    Field("street", "str", max_len=200),
    Field("city", "str", max_len=100),
    Field(
        "statezip",
        "str",
        max_len=8,
        pattern=r"[A-Z]{2} [0-9]{5}",
        help='state and zip, e.g. "WA 98103"',
    ),
    Field("country", "str", max_len=60),
)
PRICE = Field("price", "float", 1_000, 1_000_000_000)

# A record may carry its sale date (optional, text); only a date in the future is refused.
DATE_MAX_LEN = 40
DATE_PROBLEM = f"must be a date as text of at most {DATE_MAX_LEN} characters, e.g. 2014-05-02"

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NUMERIC_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind != "str")
TEXT_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "str")
# Columns of a raw sales CSV; `date` is optional.
RAW_COLUMNS: tuple[str, ...] = ("date", "price", *FEATURE_NAMES)
REQUIRED_COLUMNS: tuple[str, ...] = ("price", *FEATURE_NAMES)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in (*FEATURES, PRICE)}
# How each kind of field is held in a pandas frame and in an Arrow table / Parquet file.
PANDAS_DTYPES: dict[str, str] = {"int": "int64", "float": "float64", "str": "string"}
ARROW_TYPES: dict[str, pa.DataType] = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}

# One realistic record (the first sale of sample_dataset): documents' examples, forms, tests.
EXAMPLE_RECORD: dict[str, Any] = {
    "bedrooms": 3.0,
    "bathrooms": 1.5,
    "sqft_living": 1340,
    "sqft_lot": 7912,
    "floors": 1.5,
    "waterfront": 0,
    "view": 0,
    "condition": 3,
    "sqft_above": 1340,
    "sqft_basement": 0,
    "yr_built": 1955,
    "yr_renovated": 2005,
    "street": "18810 Densmore Ave N",
    "city": "Shoreline",
    "statezip": "WA 98133",
    "country": "USA",
}


_CONTROL_CHARS = "\\u0000-\\u001f\\u007f"
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")
_TEXT = f"[^{_CONTROL_CHARS}]"
CONTROL_MESSAGE = "must not contain control characters"
FORMULA_START = ("=", "+", "-", "@")
FORMULA_MESSAGE = "must not start with =, +, - or @ (a spreadsheet would run it as a formula)"


def check_value(field: Field, value: Any) -> tuple[Any, str | None]:
    """Return (clean value, None) or (None, message) for one JSON value."""
    if field.kind == "str":
        if not isinstance(value, str):
            return None, "must be text"
        text = value.strip(" ")
        if not text:
            return None, "must not be empty"
        if len(text) > field.max_len:
            return None, f"must be at most {field.max_len} characters"
        if _CONTROL.search(text):
            return None, CONTROL_MESSAGE
        if text.startswith(FORMULA_START):
            return None, FORMULA_MESSAGE
        if field.pattern and not re.fullmatch(field.pattern, text):
            return None, f"must look like {field.help}"
        return text, None
    # bool is an int subclass in Python; a dict is how operator injection arrives.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"must be {field.describe()}"
    try:
        number = float(value)
    except OverflowError:  # an int with hundreds of digits
        return None, f"must be {field.describe()}"
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
    if field.zero_or_from is not None and 0 < number < field.zero_or_from:
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
    sold = record.get("date")
    if sold is not None and (not isinstance(sold, str) or len(sold) > DATE_MAX_LEN):
        errors["date"] = DATE_PROBLEM
    # Fields that failed their own check are absent from `clean`: their rules are skipped.
    errors.update(
        consistency_errors(
            {**clean, "date": record["date"]} if "date" in record else clean, checked=True
        )
    )
    return clean, errors


# -- cross-field rules ------------------------------------------------------------------------

# Living area must match above-ground plus basement within this (rounding in the records).
SQFT_TOLERANCE = 50  # square feet, or
SQFT_TOLERANCE_SHARE = 0.02  # of the living area, whichever is larger
FUTURE_SLACK_DAYS = 1  # a sale dated tomorrow UTC may be today somewhere


@dataclass(frozen=True)
class Rule:
    """A rule over several fields of one record; `broken` works on scalars and arrays alike."""

    field: str  # the field the message is filed under
    needs: tuple[str, ...]  # fields it reads, each already valid on its own
    message: str
    broken: Callable[..., Any]


def _today() -> np.datetime64:
    return np.datetime64(datetime.now(UTC).date(), "D")


CONSISTENCY: tuple[Rule, ...] = (
    Rule(
        "yr_renovated",
        ("yr_built", "yr_renovated"),
        "must not be before yr_built (0 means never renovated)",
        lambda built, renovated: (renovated != 0) & (renovated < built),
    ),
    Rule(
        "bedrooms",
        ("bedrooms",),
        "must be a whole number of bedrooms",
        lambda bedrooms: bedrooms != np.floor(bedrooms),
    ),
    Rule(
        "sqft_living",
        ("sqft_living", "sqft_above", "sqft_basement"),
        f"must equal sqft_above + sqft_basement (within {SQFT_TOLERANCE} sqft or "
        f"{SQFT_TOLERANCE_SHARE:.0%})",
        lambda living, above, basement: (
            np.abs(living - (above + basement))
            > np.maximum(SQFT_TOLERANCE, SQFT_TOLERANCE_SHARE * living)
        ),
    ),
    Rule(
        "date",
        ("date",),
        "must not be in the future",
        lambda day: day > _today() + np.timedelta64(FUTURE_SLACK_DAYS, "D"),
    ),
)


def consistency_errors(record: Mapping[str, Any], checked: bool = False) -> dict[str, str]:
    """The CONSISTENCY rules one record breaks (field name -> message).

    A rule whose fields are missing or not valid on their own is skipped, since those
    fields have their own errors. `checked=True` says every number present is already
    clean (what `validate_features` passes), which skips checking them again on the hot
    path. `date` may be absent, a date, or an ISO "YYYY-MM-DD..." text.
    """
    value_of = _checked_value if checked else _rule_value
    errors: dict[str, str] = {}
    for rule in CONSISTENCY:
        values = [value_of(name, record.get(name)) for name in rule.needs]
        if any(value is None for value in values):
            continue
        if bool(rule.broken(*values)):
            errors.setdefault(rule.field, rule.message)
    return errors


def _checked_value(name: str, value: Any) -> Any:
    if name == "date" or value is None:
        return _rule_value(name, value)
    return value


def _rule_value(name: str, value: Any) -> Any:
    if name == "date":
        if isinstance(value, datetime):
            return np.datetime64(value.date(), "D")
        if isinstance(value, date):
            return np.datetime64(value, "D")
        if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return np.datetime64(value.strip()[:10], "D")
            except ValueError:
                return None
        return None
    field = FIELDS_BY_NAME[name]
    if field.kind == "str":
        return value if isinstance(value, str) else None
    _, problem = check_value(field, value) if value is not None else (None, "absent")
    return None if problem else float(value)


def consistency_masks(columns: Mapping[str, np.ndarray], usable: Mapping[str, np.ndarray]):
    """Vectorised CONSISTENCY over clean columns: (row mask, "field: message") per rule.

    `usable[name]` marks the rows where that field is valid on its own.
    """
    for rule in CONSISTENCY:
        ok = np.logical_and.reduce([usable[name] for name in rule.needs])
        with np.errstate(invalid="ignore"):
            broken = np.asarray(rule.broken(*(columns[name] for name in rule.needs)), dtype=bool)
        yield ok & broken, f"{rule.field}: {rule.message}"


def validate_frame(
    frame: pd.DataFrame, keep_index: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate raw sales rows, vectorised.

    Returns (valid rows with clean dtypes and the columns RAW_COLUMNS,
    rejected rows as read plus a `reason` column naming every bad field).
    The caller must have checked that REQUIRED_COLUMNS are present.
    With `keep_index` both frames keep the input's index labels (so a caller can
    tell which input row each one was); otherwise they are renumbered from 0.

    Typed input (numbers already numeric, e.g. from a typed CSV reader) takes a
    fast path; text input is coerced and reported per field.
    """
    problems: list[tuple[np.ndarray, str]] = []  # (row mask, message)
    clean: dict[str, Any] = {}

    def reject(mask: np.ndarray, message: str) -> None:
        if mask.any():
            problems.append((mask, message))

    columns: dict[str, np.ndarray] = {}  # clean values, for the cross-field rules
    usable: dict[str, np.ndarray] = {}  # rows where the field is valid on its own

    for field in (PRICE, *FEATURES):
        column = frame[field.name]
        if field.kind == "str":
            text = _as_text(column)
            length = text.str.len().to_numpy(dtype="float64", na_value=0)
            empty = length == 0
            reject(empty, f"{field.name}: is required")
            too_long = length > field.max_len
            reject(too_long, f"{field.name}: longer than {field.max_len} characters")
            control = text.str.contains(_CONTROL).to_numpy(dtype=bool, na_value=False)
            reject(control, f"{field.name}: {CONTROL_MESSAGE}")
            formula = text.str.startswith(FORMULA_START).to_numpy(dtype=bool, na_value=False)
            reject(formula, f"{field.name}: {FORMULA_MESSAGE}")
            wrong = empty | too_long | control | formula
            if field.pattern:
                ok = text.str.fullmatch(field.pattern).to_numpy(dtype=bool, na_value=False)
                reject(~ok & ~wrong, f"{field.name}: must look like {field.help}")
                wrong |= ~ok
            usable[field.name] = ~wrong
            clean[field.name] = pa.array(text)
            continue
        values, absent = _as_numbers(column)
        missing = np.isnan(values)
        reject(missing & absent, f"{field.name}: is required")
        reject(missing & ~absent, f"{field.name}: not a number")
        present = ~missing
        bad_range = present & ((values < field.low) | (values > field.high))
        if field.zero_or_from is not None:
            bad_range |= present & (values > 0) & (values < field.zero_or_from)
        reject(bad_range, f"{field.name}: must be {field.describe()}")
        fractional = np.zeros(len(values), dtype=bool)
        if field.kind == "int":
            fractional = present & ~bad_range & (values != np.floor(values))
            reject(fractional, f"{field.name}: must be a whole number")
        usable[field.name] = present & ~bad_range & ~fractional
        columns[field.name] = values
        clean[field.name] = values

    if "date" in frame.columns:
        dates, days, unparsed = _as_dates(frame["date"])
        reject(unparsed, "date: not a date")
        clean["date"] = dates
    else:
        days = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[D]")
        clean["date"] = pa.repeat(pa.scalar("", pa.large_string()), len(frame))
    columns["date"], usable["date"] = days, ~np.isnat(days)
    for mask, message in consistency_masks(columns, usable):
        reject(mask, message)

    bad = np.zeros(len(frame), dtype=bool)
    for mask, _ in problems:
        bad |= mask
    reasons = np.full(int(bad.sum()), "", dtype=object)
    for mask, message in problems:
        hit = mask[bad]
        reasons[hit] = reasons[hit] + message + "; "
    rejected = frame.loc[bad].copy()
    rejected["reason"] = [r.removesuffix("; ") for r in reasons]

    good = ~bad
    index = frame.index[good] if keep_index else pd.RangeIndex(int(good.sum()))
    keep = pa.array(good) if bad.any() else None
    valid = pd.DataFrame(  # copy=False: one block per column, no consolidation copy
        {name: _keep_rows(clean[name], keep, good, name, index) for name in RAW_COLUMNS},
        index=index,
        copy=False,
    )
    if not keep_index:
        rejected = rejected.reset_index(drop=True)
    return valid, rejected


def _keep_rows(
    values: np.ndarray | pa.Array,
    keep: pa.Array | None,
    good: np.ndarray,
    name: str,
    index: pd.Index,
) -> pd.Series:
    """The good rows of one clean column, in its final dtype (text stays Arrow-backed)."""
    if isinstance(values, np.ndarray):
        kept = values[good] if keep is not None else values
        if FIELDS_BY_NAME[name].kind == "int":
            kept = kept.astype("int64")
        return pd.Series(kept, index=index, copy=False)
    kept = values.filter(keep) if keep is not None else values
    return kept.to_pandas().astype("str").set_axis(index)


def _as_text(column: pd.Series) -> pd.Series:
    """Stripped text (missing values stay missing); non-text objects count as missing."""
    if pd.api.types.is_object_dtype(column.dtype):
        column = column.where(column.map(lambda v: isinstance(v, str)), None)
    return column.astype("str").str.strip()


def _as_numbers(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN where not a number, mask of cells that were empty)."""
    dtype = column.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        return values, np.isnan(values)
    absent = column.isna().to_numpy()
    if pd.api.types.is_object_dtype(dtype):
        # bool is a number to Python; a dict or list is nothing a CSV cell can hold.
        column = column.map(
            lambda v: v if isinstance(v, str | int | float) and not isinstance(v, bool) else None
        )
    else:
        column = column.astype("str")
    text = column.astype("str").str.strip()
    absent = absent | (text.str.len() == 0).to_numpy(dtype=bool, na_value=True)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return values, absent


def _as_dates(column: pd.Series) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """("YYYY-MM-DD" or "" per row, the days (NaT if none), rows whose date could not be read)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        parsed = column
        given = column.notna().to_numpy()
    else:
        text = _as_text(column)
        given = (text.str.len() > 0).to_numpy(dtype=bool, na_value=False)
        parsed = _parse_dates(text)
    days = parsed.to_numpy(dtype="datetime64[s]", na_value=np.datetime64("NaT"))
    unparsed = given & np.isnat(days)
    # Few distinct days even in a million sales: format each once, then index.
    codes, uniques = pd.factorize(days.astype("datetime64[D]"))
    labels = [*np.asarray(uniques).astype(str), ""]
    codes[codes < 0] = len(labels) - 1
    labelled = pa.array(labels, pa.large_string()).take(pa.array(codes))
    return labelled, days.astype("datetime64[D]"), unparsed


def _parse_dates(text: pd.Series) -> pd.Series:
    # ISO 8601 is what the sales exports hold; anything else takes the slow, lenient path.
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    retry = parsed.isna() & (text.str.len() > 0).fillna(False)
    if retry.any():
        parsed = parsed.copy()
        parsed[retry] = pd.to_datetime(text[retry], errors="coerce", format="mixed", utc=True)
    return parsed.dt.tz_localize(None)
