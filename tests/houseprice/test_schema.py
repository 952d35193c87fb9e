"""The record contract: one record at a time (validate_features), whole frames (validate_frame)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from houseprice.schema import (
    CONSISTENCY,
    EXAMPLE_RECORD,
    FEATURE_NAMES,
    FEATURES,
    FIELDS_BY_NAME,
    RAW_COLUMNS,
    REQUIRED_COLUMNS,
    check_value,
    consistency_errors,
    validate_features,
    validate_frame,
)
from tests.conftest import SAMPLE_CSV


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_CSV)


def good_record() -> dict:
    return {**EXAMPLE_RECORD, "street": " 18810 Densmore Ave N "}


def test_columns() -> None:
    assert len(FEATURES) == 16
    assert ("date", "price", *FEATURE_NAMES) == RAW_COLUMNS
    assert "date" not in REQUIRED_COLUMNS and "price" in REQUIRED_COLUMNS


def test_a_good_record_comes_back_clean() -> None:
    clean, errors = validate_features(good_record())
    assert errors == {}
    assert list(clean) == list(FEATURE_NAMES)
    assert clean["street"] == "18810 Densmore Ave N"
    assert clean["sqft_living"] == 1340 and isinstance(clean["sqft_living"], int)
    assert isinstance(clean["bedrooms"], float)
    # Whole floats are fine for whole-number fields (JSON has one number type).
    clean, errors = validate_features({**good_record(), "sqft_lot": 7912.0, "date": "2014-05-02"})
    assert errors == {} and clean["sqft_lot"] == 7912


NUMERIC = [f for f in FEATURES if f.kind != "str"]
TEXT = [f for f in FEATURES if f.kind == "str"]


@pytest.mark.parametrize("field", NUMERIC, ids=lambda f: f.name)
def test_numeric_fields_check_type_and_range(field) -> None:
    for bad in (field.low - 1, field.high + 1, "3", None, [1], True, {"$gt": 0}):
        _, errors = validate_features({**good_record(), field.name: bad})
        assert set(errors) == {field.name}, bad
    for edge in (field.low, field.high):
        if field.name == "yr_renovated" and edge == 2100:
            continue
        # Only the field's own check: the edge may break a cross-field rule (tested below).
        assert check_value(field, edge)[1] is None, edge
    _, errors = validate_features({**good_record(), field.name: math.nan})
    assert errors == {field.name: "must be a finite number"}
    if field.kind == "int":
        _, errors = validate_features({**good_record(), field.name: field.low + 0.5})
        assert errors == {field.name: "must be a whole number"}


@pytest.mark.parametrize("field", TEXT, ids=lambda f: f.name)
def test_text_fields_check_type_length_and_shape(field) -> None:
    cases = [
        (5, "must be text"),
        ("   ", "must not be empty"),
        ("x" * (field.max_len + 1), f"must be at most {field.max_len} characters"),
        ({"$ne": ""}, "must be text"),
        (True, "must be text"),
    ]
    for bad, message in cases:
        _, errors = validate_features({**good_record(), field.name: bad})
        assert errors == {field.name: message}


def test_statezip_must_look_like_state_and_zip() -> None:
    for bad in ("98133", "wa 98133", "WA98133", "WA 9813"):
        _, errors = validate_features({**good_record(), "statezip": bad})
        assert errors == {"statezip": 'must look like state and zip, e.g. "WA 98103"'}


def test_renovation_year_is_zero_or_a_real_year() -> None:
    for ok in (0, 1800, 2015):
        assert validate_features({**good_record(), "yr_built": 1800, "yr_renovated": ok})[1] == {}
    _, errors = validate_features({**good_record(), "yr_renovated": 1200})
    assert errors == {"yr_renovated": "must be 0 if never renovated, else a year from 1800"}


def test_missing_unknown_and_non_object_input() -> None:
    record = good_record()
    del record["city"]
    record["bedroom"] = 3  # a typo must not pass silently
    record["floors"] = None
    _, errors = validate_features(record)
    assert errors == {
        "city": "is required",
        "floors": "is required",
        "bedroom": "is not a known field",
    }
    assert validate_features(["not", "a", "record"]) == (
        {},
        {"record": "must be a JSON object of house features"},
    )


def test_sample_frame_splits_into_valid_and_rejected(sales: pd.DataFrame) -> None:
    valid, rejected = validate_frame(sales)
    assert (len(valid), len(rejected)) == (3737, 210)
    assert list(valid.columns) == list(RAW_COLUMNS)
    assert list(rejected.columns) == [*sales.columns, "reason"]
    assert valid.index.equals(pd.RangeIndex(3737))
    for spec in FEATURES:
        kind = str(valid[spec.name].dtype)
        assert kind == {"int": "int64", "float": "float64", "str": "str"}[spec.kind]
    assert valid["date"].iloc[0] == "2014-05-02"
    price = "price: must be a number from 1000 to 1000000000"
    renovated = "yr_renovated: must not be before yr_built (0 means never renovated)"
    assert set(rejected["reason"]) == {price, renovated, f"{price}; {renovated}"}


def test_frame_reasons_name_every_bad_field(sales: pd.DataFrame) -> None:
    frame = sales.head(8).astype(object).copy()
    frame.loc[0, "price"] = "abc"
    frame.loc[1, "price"] = None
    frame.loc[1, "bedrooms"] = -1
    frame.loc[2, "sqft_living"] = 1500.5
    frame.loc[3, "statezip"] = "98103"
    frame.loc[4, "city"] = "   "
    frame.loc[5, "date"] = "not a date"
    frame.loc[6, "street"] = "x" * 201
    frame.loc[7, "waterfront"] = True  # a bool is not a CSV number
    valid, rejected = validate_frame(frame)
    assert valid.empty
    assert list(rejected["reason"]) == [
        "price: not a number",
        "price: is required; bedrooms: must be a number from 0 to 50",
        "sqft_living: must be a whole number",
        'statezip: must look like state and zip, e.g. "WA 98103"',
        "city: is required",
        "date: not a date",
        "street: longer than 200 characters",
        "waterfront: not a number",
    ]
    assert rejected.loc[0, "price"] == "abc"  # rejected rows keep what was read


def test_text_numbers_and_dates_in_any_usual_form(sales: pd.DataFrame) -> None:
    frame = sales.head(5).astype(str).copy()
    frame["date"] = ["2014-05-02", "2014-05-02T13:00:00Z", "05/03/2014", "", "2014-05-04 00:00:00"]
    frame.loc[0, "view"] = " 2 "
    valid, rejected = validate_frame(frame)
    assert rejected.empty
    assert list(valid["date"]) == ["2014-05-02", "2014-05-02", "2014-05-03", "", "2014-05-04"]
    assert valid.loc[0, "view"] == 2 and valid["view"].dtype == np.int64


def test_date_column_is_optional_and_may_be_typed(sales: pd.DataFrame) -> None:
    valid, _ = validate_frame(sales.head(3).drop(columns=["date"]))
    assert list(valid["date"]) == ["", "", ""]
    typed = sales.head(3).assign(date=pd.to_datetime(sales["date"].head(3)))
    valid, _ = validate_frame(typed)
    assert list(valid["date"]) == ["2014-05-02"] * 3


def test_keep_index_tells_which_rows_were_kept(sales: pd.DataFrame) -> None:
    frame = sales.iloc[3730:3750]
    valid, rejected = validate_frame(frame, keep_index=True)
    assert set(valid.index) | set(rejected.index) == set(frame.index)
    before_built = (frame["yr_renovated"] > 0) & (frame["yr_renovated"] < frame["yr_built"])
    assert set(rejected.index) == set(frame.index[(frame["price"] == 0) | before_built])


def test_frame_and_record_validation_agree(sales: pd.DataFrame) -> None:
    frame = sales.head(300).copy()
    rng = np.random.default_rng(5)
    for name in ("bedrooms", "sqft_lot", "yr_renovated", "condition", "floors"):
        picks = rng.choice(len(frame), 15, replace=False)
        spec = FIELDS_BY_NAME[name]
        frame.loc[picks, name] = rng.choice([spec.low - 1, spec.high + 1, 1500, spec.low], 15)
    valid, _ = validate_frame(frame, keep_index=True)
    for position, row in frame.iterrows():
        record = {n: row[n].item() if hasattr(row[n], "item") else row[n] for n in FEATURE_NAMES}
        clean, errors = validate_features(record)
        errors = errors or consistency_errors({**clean, "date": row["date"]})
        assert (position in valid.index) == (not errors and row["price"] >= 1000), position


def test_cross_field_rules_name_the_field_they_blame() -> None:
    broken = {
        **good_record(),
        "sqft_living": 1900,  # above 1340 + basement 0
        "yr_built": 2010,
        "yr_renovated": 2005,  # before it was built
        "bedrooms": 2.5,
        "date": "2999-01-01",
    }
    _, errors = validate_features(broken)
    assert set(errors) == {"sqft_living", "yr_renovated", "bedrooms", "date"}
    assert errors["sqft_living"].startswith("must equal sqft_above + sqft_basement")
    assert errors["date"] == "must not be in the future"
    # A field that fails its own check is not blamed twice.
    _, errors = validate_features({**broken, "sqft_above": "lots"})
    assert errors["sqft_above"] == "must be a whole number from 0 to 100000"
    assert "sqft_living" not in errors


def test_cross_field_rules_accept_consistent_records() -> None:
    for record in (
        good_record(),
        {**good_record(), "yr_renovated": 0, "date": "2014-05-02 00:00:00"},
        {**good_record(), "sqft_above": 1000, "sqft_basement": 340, "date": "not a date"},
    ):
        assert validate_features(record)[1] == {}


# -- input hygiene and cross-field rules -----------------------------------------------------


def one_row_frame(**changes) -> pd.DataFrame:
    return pd.DataFrame([{"date": "2014-05-02", "price": 350_000.0, **good_record(), **changes}])


@pytest.mark.parametrize("text", ["Main\x00St", "Main\tSt", "Main\x1bSt", "Main\x7fSt"])
def test_control_characters_are_refused_alike_by_api_and_csv(text: str) -> None:
    _, errors = validate_features({**good_record(), "street": text})
    valid, rejected = validate_frame(one_row_frame(street=text))
    assert errors == {"street": "must not contain control characters"}
    assert valid.empty and rejected["reason"].tolist() == [f"street: {errors['street']}"]


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"])
@pytest.mark.parametrize("name", ["street", "city", "country"])
def test_spreadsheet_formulas_are_refused_alike_by_api_and_csv(name: str, text: str) -> None:
    _, errors = validate_features({**good_record(), name: text})
    valid, rejected = validate_frame(one_row_frame(**{name: text}))
    assert set(errors) == {name} and "formula" in errors[name]
    assert valid.empty and rejected["reason"].tolist() == [f"{name}: {errors[name]}"]
    # Inside the text it is harmless.
    assert validate_features({**good_record(), name: f"A {text}"})[1] == {}


CONSISTENT = {**good_record(), "date": "2014-05-02"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"yr_built": 2004, "yr_renovated": 2003}, "yr_renovated"),
        ({"bedrooms": 2.5}, "bedrooms"),
        ({"sqft_living": 2000, "sqft_above": 1000, "sqft_basement": 500}, "sqft_living"),
        ({"date": "2999-01-01"}, "date"),
    ],
)
def test_inconsistent_records_are_refused_with_the_field_named(changes: dict, field: str) -> None:
    record = {**CONSISTENT, **changes}
    errors = consistency_errors(record)
    assert list(errors) == [field]
    valid, rejected = validate_frame(one_row_frame(**changes))
    assert valid.empty and rejected["reason"].tolist() == [f"{field}: {errors[field]}"]


@pytest.mark.parametrize(
    "changes",
    [
        {"yr_renovated": 0},  # never renovated
        {"yr_built": 2004, "yr_renovated": 2004},
        {"sqft_living": 2000, "sqft_above": 1500, "sqft_basement": 530},  # within 50 sqft
        {"sqft_living": 10000, "sqft_above": 7000, "sqft_basement": 2850},  # within 2 %
        {"date": datetime.now(UTC).date().isoformat()},
        {"bedrooms": 0.0},
    ],
)
def test_consistent_records_pass_both_forms(changes: dict) -> None:
    assert consistency_errors({**CONSISTENT, **changes}) == {}
    valid, rejected = validate_frame(one_row_frame(**changes))
    assert len(valid) == 1 and rejected.empty


def test_rules_skip_fields_that_are_already_wrong() -> None:
    # A missing or out-of-range field has its own error; no rule piles onto it.
    assert consistency_errors({"yr_renovated": 1990}) == {}
    assert consistency_errors({**CONSISTENT, "sqft_above": "a lot"}) == {}
    _, rejected = validate_frame(one_row_frame(bedrooms=99.5, yr_renovated="x"))
    assert rejected["reason"].tolist() == [
        "bedrooms: must be a number from 0 to 50; yr_renovated: not a number"
    ]


def test_the_rule_table_is_the_one_place_rules_live() -> None:
    assert {rule.field for rule in CONSISTENCY} == {
        "yr_renovated",
        "bedrooms",
        "sqft_living",
        "date",
    }
    record = {**CONSISTENT, "bedrooms": 2.5, "yr_renovated": 1900, "yr_built": 1950}
    frame = one_row_frame(bedrooms=2.5, yr_renovated=1900, yr_built=1950)
    _, rejected = validate_frame(frame)
    expected = "; ".join(f"{k}: {v}" for k, v in consistency_errors(record).items())
    assert sorted(rejected["reason"].iloc[0].split("; ")) == sorted(expected.split("; "))
