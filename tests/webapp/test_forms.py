"""Reading the predict and correction forms, and the suggestions taken from past sales."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseprice.schema import FEATURE_NAMES, validate_features
from tests.conftest import SAMPLE_CSV
from webapp.forms import (
    FORM_FIELDS,
    GROUPS,
    load_choices,
    message,
    parse_number,
    read_features,
    read_prediction,
    read_price,
    sign_prediction,
)

HOUSE = {
    "bedrooms": "3",
    "bathrooms": "2.25",
    "sqft_living": "1,910",
    "sqft_lot": "5040",
    "floors": "1.5",
    "waterfront": "0",
    "view": "0",
    "condition": "3",
    "sqft_above": "1910",
    "sqft_basement": "0",
    "yr_built": "1971",
    "yr_renovated": "0",
    "street": " 2415 209th Ave NE ",
    "city": "Sammamish",
    "statezip": "WA 98074",
    "country": "USA",
}


def test_every_feature_is_in_exactly_one_fieldset():
    shown = [name for _, names in GROUPS for name in names]
    assert sorted(shown) == sorted(FEATURE_NAMES)
    assert set(FORM_FIELDS) == set(FEATURE_NAMES)


def test_number_inputs_take_their_range_from_the_schema():
    assert (FORM_FIELDS["yr_built"].low, FORM_FIELDS["yr_built"].high) == ("1800", "2100")
    assert FORM_FIELDS["bathrooms"].step == "0.25"
    assert "50,000,000" in FORM_FIELDS["sqft_lot"].hint
    assert FORM_FIELDS["city"].datalist == "cities"
    assert FORM_FIELDS["waterfront"].options == (("0", "No"), ("1", "Yes"))


def test_a_valid_form_becomes_a_clean_record():
    submission = read_features({**HOUSE, "csrf_token": "ignored"})
    assert submission.ok, submission.errors
    assert submission.clean["sqft_living"] == 1910
    assert submission.clean["bathrooms"] == 2.25
    assert submission.clean["street"] == "2415 209th Ave NE"
    assert validate_features(submission.clean) == (submission.clean, {})


def test_a_word_in_a_number_field_is_named_and_kept_as_typed():
    submission = read_features({**HOUSE, "sqft_living": "big", "bedrooms": ""})
    assert not submission.ok
    assert submission.clean == {}
    assert "not “big”" in submission.errors["sqft_living"]
    assert submission.errors["bedrooms"] == "is required"
    assert submission.values["sqft_living"] == "big"
    assert set(submission.errors) == {"sqft_living", "bedrooms"}


@pytest.mark.parametrize(
    ("field", "typed", "expected"),
    [
        ("yr_built", "1700", "must be a whole number from 1800 to 2100"),
        ("floors", "0", "must be a number from 1 to 5"),
        ("sqft_lot", "12.5", "must be a whole number"),
        ("statezip", "98074", 'must look like state and zip, e.g. "WA 98103"'),
        ("yr_renovated", "900", "must be 0 if never renovated, else a year from 1800"),
        ("bedrooms", "nan", "must be a number from 0 to 50, not “nan”"),
        ("bedrooms", "1e999", "must be a finite number"),
    ],
)
def test_out_of_range_values_get_the_schema_message(field, typed, expected):
    submission = read_features({**HOUSE, field: typed})
    assert submission.errors == {field: expected}


def test_missing_fields_are_required():
    submission = read_features({})
    assert set(submission.errors) == set(FEATURE_NAMES)
    assert set(submission.errors.values()) == {"is required"}


@pytest.mark.parametrize(
    ("text", "number"),
    [("12", 12.0), (" -3.5 ", -3.5), ("1,250,000", 1_250_000.0), (".5", 0.5), ("2e3", 2000.0)],
)
def test_numbers_as_people_type_them(text, number):
    assert parse_number(text) == number


@pytest.mark.parametrize("text", ["", "1,2", "12,34", "1_000", "inf", "0x10", "3 4", "$5"])
def test_things_that_are_not_numbers(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("typed", "price", "error"),
    [
        ("$ 450,000", 450_000.0, None),
        ("512000.50", 512_000.5, None),
        ("", None, "is required"),
        ("lots", None, "must be a number from 1000 to 1000000000 (US dollars)"),
        ("999", None, "must be a number from 1000 to 1000000000 (US dollars)"),
    ],
)
def test_corrected_price(typed, price, error):
    assert read_price(typed) == (price, error)


def test_messages_name_the_field_as_labelled():
    assert message("yr_built", "is required") == "Year built is required."
    assert message("corrected_price", "is required") == "Correct price is required."


def test_choices_come_from_the_sample_sales():
    choices = load_choices(SAMPLE_CSV)
    assert "Seattle" in choices.cities and "Redmond" in choices.cities
    assert "WA 98103" in choices.statezips
    assert choices.countries == ("USA",)
    assert list(choices.cities) == sorted(set(choices.cities))
    # The defaults are one real, valid house from the file.
    clean, errors = validate_features(read_features(choices.defaults).clean)
    assert errors == {}
    assert clean["sqft_above"] + clean["sqft_basement"] == clean["sqft_living"]
    assert clean["city"] in choices.cities


def test_choices_skip_bad_rows(tmp_path: Path):
    csv = tmp_path / "sales.csv"
    header = "price," + ",".join(FEATURE_NAMES)
    good = "500000,3,2,1500,4000,1,0,0,3,1500,0,1990,0,1 Main St,Kent,WA 98031,USA"
    bad = "500000,3,2,1500,4000,1,0,0,3,1500,0,1990,0,2 Main St,Nowhere,98031,USA"
    csv.write_text("\n".join([header, good, bad]) + "\n")
    choices = load_choices(csv)
    assert choices.cities == ("Kent",)
    assert choices.defaults["statezip"] == "WA 98031"


def test_no_sample_file_means_an_empty_form_not_a_crash(tmp_path: Path):
    choices = load_choices(tmp_path / "missing.csv")
    assert choices.cities == () and choices.defaults == {}
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert load_choices(tmp_path / "other.csv").defaults == {}


def test_the_prediction_token_round_trips_and_refuses_tampering():
    clean = read_features(HOUSE).clean
    prediction = {"request_id": "abc", "price": 512000.0, "model": {"name": "m"}, "features": clean}
    token = sign_prediction("secret", prediction)
    assert read_prediction("secret", token) == prediction
    assert read_prediction("other-secret", token) is None
    assert read_prediction("secret", token[:-2] + "xx") is None
    assert read_prediction("secret", "") is None
    forged = sign_prediction("secret", {**prediction, "features": {"bedrooms": 3}})
    assert read_prediction("secret", forged) is None
