"""The predict and correction forms: how each field is shown, what it suggests, how it is read.

Form posts are strings; they are turned into numbers here and then checked by the
one record contract (`houseprice.schema.validate_features`), so the web form accepts
exactly what mlapp and dbapp accept. The values as typed are kept for re-display.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from itsdangerous import BadSignature, URLSafeSerializer

from houseprice.schema import (
    FEATURES,
    PRICE,
    REQUIRED_COLUMNS,
    Field,
    check_value,
    validate_features,
    validate_frame,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FormField:
    """One input of the predict form."""

    name: str
    label: str
    hint: str
    kind: str  # "number", "text" or "select"
    step: str = "1"
    low: str = ""
    high: str = ""
    datalist: str = ""  # id of the <datalist> with known values, if any
    options: tuple[tuple[str, str], ...] = ()  # (value, label) for a select
    autocomplete: str = "off"


# (label, unit or help, step) per feature; the range comes from the schema.
_PRESENTATION: dict[str, tuple[str, str, str]] = {
    "sqft_living": ("Living area", "sq ft", "1"),
    "sqft_above": ("Area above ground", "sq ft", "1"),
    "sqft_basement": ("Basement area", "sq ft, 0 if none", "1"),
    "sqft_lot": ("Lot size", "sq ft", "1"),
    "bedrooms": ("Bedrooms", "count", "1"),
    "bathrooms": ("Bathrooms", "in quarter steps, e.g. 2.25", "0.25"),
    "floors": ("Floors", "in half steps, e.g. 1.5", "0.5"),
    "condition": ("Condition", "1 (poor) to 5 (very good)", "1"),
    "view": ("View", "0 (none) to 4 (excellent)", "1"),
    "waterfront": ("Waterfront", "on the water or not", "1"),
    "yr_built": ("Year built", "a year", "1"),
    "yr_renovated": ("Year renovated", "0 if never renovated", "1"),
    "street": ("Street address", "e.g. 5003 159th Ct NE", ""),
    "city": ("City", "pick a known city or type one", ""),
    "statezip": ("State and ZIP", 'e.g. "WA 98052"', ""),
    "country": ("Country", "e.g. USA", ""),
}

# Fieldsets of the predict form, in display order; every feature appears exactly once.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Size", ("sqft_living", "sqft_above", "sqft_basement", "sqft_lot")),
    ("Rooms and floors", ("bedrooms", "bathrooms", "floors")),
    ("Condition and history", ("condition", "view", "waterfront", "yr_built", "yr_renovated")),
    ("Location", ("street", "city", "statezip", "country")),
)

_DATALISTS = {"city": "cities", "statezip": "statezips", "country": "countries"}
_AUTOCOMPLETE = {"street": "address-line1", "city": "address-level2", "country": "country-name"}


def number_text(value: float | None) -> str:
    """3 for 3.0, 2.25 as is: how a person writes the number."""
    if value is None:
        return ""
    return repr(float(value)) if value % 1 else str(int(value))


def _grouped(value: float | None) -> str:
    """100,000 for areas; years and small counts stay as written (1800, not 1,800)."""
    if value is None:
        return ""
    return f"{int(value):,}" if value >= 10_000 and not value % 1 else number_text(value)


def _form_field(spec: Field) -> FormField:
    label, unit, step = _PRESENTATION[spec.name]
    if spec.kind == "str":
        return FormField(
            spec.name,
            label,
            unit,
            "text",
            step="",
            datalist=_DATALISTS.get(spec.name, ""),
            autocomplete=_AUTOCOMPLETE.get(spec.name, "off"),
        )
    if spec.name == "waterfront":
        return FormField(spec.name, label, unit, "select", options=(("0", "No"), ("1", "Yes")))
    span = f"{_grouped(spec.low)} to {_grouped(spec.high)}"
    return FormField(
        spec.name,
        label,
        unit if span in unit or " to " in unit else f"{unit}; {span}",
        "number",
        step=step,
        low=number_text(spec.low),
        high=number_text(spec.high),
    )


FORM_FIELDS: dict[str, FormField] = {spec.name: _form_field(spec) for spec in FEATURES}
LABELS: dict[str, str] = {
    **{name: f.label for name, f in FORM_FIELDS.items()},
    "corrected_price": "Correct price",
}


@dataclass(frozen=True)
class Choices:
    """Known values offered as suggestions, and the values the form starts with."""

    cities: tuple[str, ...] = ()
    statezips: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    defaults: dict[str, str] = field(default_factory=dict)
    # The state/ZIPs seen with each city: choosing a city narrows the ZIP suggestions.
    zips_by_city: dict[str, tuple[str, ...]] = field(default_factory=dict)


def load_choices(path: str | Path) -> Choices:
    """Suggestions and defaults from a CSV of past sales, read once at start.

    The defaults are one real house, the sale closest to the median in every number,
    so the values agree with each other (above ground + basement = living area). A missing
    or unreadable file leaves the form without suggestions rather than stopping it.
    """
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        log.warning("no form suggestions: cannot read %s (%s)", path, exc)
        return Choices()
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        log.warning("no form suggestions: %s lacks columns %s", path, ", ".join(missing))
        return Choices()
    valid, _ = validate_frame(frame)
    if valid.empty:
        log.warning("no form suggestions: %s has no valid rows", path)
        return Choices()
    typical = valid.iloc[_most_typical_row(valid)]
    defaults = {}
    for spec in FEATURES:
        value = typical[spec.name]
        defaults[spec.name] = str(value) if spec.kind == "str" else number_text(float(value))
    return Choices(
        cities=tuple(sorted(valid["city"].unique())),
        statezips=tuple(sorted(valid["statezip"].unique())),
        countries=tuple(sorted(valid["country"].unique())),
        defaults=defaults,
        zips_by_city={
            str(city): tuple(sorted(zips.unique()))
            for city, zips in valid.groupby("city")["statezip"]
        },
    )


def _most_typical_row(valid: pd.DataFrame) -> int:
    """Position of the row nearest the column medians (distance in standard deviations)."""
    numbers = valid[["price", *(f.name for f in FEATURES if f.kind != "str")]].astype(float)
    spread = numbers.std().replace(0, 1).fillna(1)
    distance = ((numbers - numbers.median()).abs() / spread).sum(axis=1)
    return int(distance.to_numpy().argmin())


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


def parse_number(text: str) -> float | None:
    """A number as a person types it ("1,250.5" included), or None if it is not one."""
    text = text.strip()
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        return None
    return float(text)


@dataclass
class Submission:
    """A form read: the clean record (when valid), errors by field, the values as typed."""

    clean: dict[str, Any]
    errors: dict[str, str]
    values: dict[str, str]

    @property
    def ok(self) -> bool:
        return not self.errors


def read_features(form: Mapping[str, str]) -> Submission:
    """Read the 16 house features from a posted form (other keys, e.g. the CSRF token, ignored)."""
    values = {spec.name: str(form.get(spec.name, "") or "").strip() for spec in FEATURES}
    record: dict[str, Any] = {}
    not_numbers: dict[str, str] = {}
    for spec in FEATURES:
        text = values[spec.name]
        if not text:
            record[spec.name] = None
        elif spec.kind == "str":
            record[spec.name] = text
        else:
            record[spec.name] = parse_number(text)
            if record[spec.name] is None:
                not_numbers[spec.name] = f"must be {spec.describe()}, not “{text[:40]}”"
    clean, errors = validate_features(record)
    errors.update(not_numbers)
    areas = ("sqft_living", "sqft_above", "sqft_basement")
    if not errors or ("sqft_living" in errors and all(n in clean for n in areas)):
        # The contract's rule, said as which field to change and to what.
        errors.update(area_mismatch(clean))
    return Submission(clean if not errors else {}, errors, values)


def area_mismatch(house: dict[str, Any]) -> dict[str, str]:
    """Living area must be area above ground plus basement; the message says what to change.

    Mirrors the record contract's rule so the person reads which field to fix.
    """
    living, above, basement = (house[n] for n in ("sqft_living", "sqft_above", "sqft_basement"))
    total = above + basement
    if living == total:
        return {}
    if living > above:
        other = f"basement area to {living - above:,}"
    else:
        other = f"area above ground to {living - basement:,}" if living > basement else ""
    fix = f"set living area to {total:,}" + (f", or {other}" if other else "")
    return {
        "sqft_living": (
            f"({living:,} sq ft) must equal area above ground plus basement area "
            f"({above:,} + {basement:,} = {total:,} sq ft): {fix}"
        )
    }


def read_price(text: str) -> tuple[float | None, str | None]:
    """The corrected price from its form field: ($ and thousands commas allowed)."""
    text = (text or "").strip().removeprefix("$").strip()
    if not text:
        return None, "is required"
    number = parse_number(text)
    if number is None:
        return None, f"must be {PRICE.describe()} (US dollars)"
    value, error = check_value(PRICE, number)
    if error:
        return None, f"{error} (US dollars)"
    return value, None


def message(name: str, problem: str) -> str:
    """A field error as a sentence that names the field the way the form labels it."""
    return f"{LABELS.get(name, name)} {problem}."


# The correction form carries the prediction it corrects (id, price, model, features) in
# one signed hidden field: a correction can be saved even when the prediction itself
# could not be (history service down at the time), and it cannot be forged or altered.
_TOKEN_SALT = "webapp.prediction"


def sign_prediction(secret_key: str, prediction: dict[str, Any]) -> str:
    return URLSafeSerializer(secret_key, salt=_TOKEN_SALT).dumps(prediction)


def read_prediction(secret_key: str, token: str) -> dict[str, Any] | None:
    """The prediction a correction form was issued for, or None if the token is not ours."""
    try:
        data = URLSafeSerializer(secret_key, salt=_TOKEN_SALT).loads(token or "")
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("request_id"), str):
        return None
    clean, errors = validate_features(data.get("features"))
    if errors or not isinstance(data.get("price"), int | float):
        return None
    return {**data, "features": clean}
