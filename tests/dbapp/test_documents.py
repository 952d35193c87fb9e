"""The fixed document shapes and their validation, as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from werkzeug.datastructures import MultiDict

from dbapp.documents import (
    CORRECTION_FIELDS,
    MAX_NESTING,
    PAGE_QUERY,
    PREDICTION_FIELDS,
    new_correction,
    new_prediction,
    parse_json_int,
    public,
    same_content,
    unsafe_content,
    utcnow,
    validate_correction,
    validate_prediction,
)
from houseprice.contract import check_query
from houseprice.mongo import PENDING
from houseprice.schema import FEATURE_NAMES
from tests.dbapp.conftest import prediction_body


def correction_body(**overrides):
    return {
        "request_id": "corr-1",
        "prediction_id": "pred-1",
        "corrected_price": 420_000,
        **overrides,
    }


def test_valid_prediction_is_cleaned_and_keeps_only_its_fields():
    body = prediction_body(model_name="  house-price  ", price=412_345)
    body["features"]["city"] = "  Seattle "
    clean, errors = validate_prediction(body)
    assert errors == {}
    assert tuple(clean) == PREDICTION_FIELDS
    assert clean["model_name"] == "house-price"
    assert clean["price"] == 412_345.0 and isinstance(clean["price"], float)
    assert clean["features"]["city"] == "Seattle"
    assert set(clean["features"]) == set(FEATURE_NAMES)


def test_empty_prediction_names_every_required_field():
    clean, errors = validate_prediction({})
    assert clean is None
    assert set(errors) == set(PREDICTION_FIELDS)
    assert all(problem == "is required" for problem in errors.values())


@pytest.mark.parametrize(
    ("field", "value", "message_part"),
    [
        ("request_id", "has spaces", "letters, digits"),
        ("request_id", "x" * 65, "1-64"),
        ("request_id", 12, "letters, digits"),
        ("price", 0, "greater than 0"),
        ("price", -5, "greater than 0"),
        ("price", "100", "number"),
        ("price", True, "number"),
        ("price", float("nan"), "finite"),
        ("model_name", "", "empty"),
        ("model_name", "   ", "empty"),
        ("model_version", 3, "text"),
        ("dataset_version", "v\n2", "control characters"),
        ("dataset_version", "v" * 201, "200"),
    ],
)
def test_bad_prediction_field_is_named(field, value, message_part):
    body = prediction_body()
    body[field] = value
    clean, errors = validate_prediction(body)
    assert clean is None
    assert list(errors) == [field]
    assert message_part in errors[field]


def test_bad_features_are_named_nested():
    body = prediction_body()
    body["features"]["bedrooms"] = 500
    body["features"]["statezip"] = "98103"
    del body["features"]["city"]
    body["features"]["colour"] = "red"
    _, errors = validate_prediction(body)
    assert set(errors) == {
        "features.bedrooms",
        "features.statezip",
        "features.city",
        "features.colour",
    }
    assert errors["features.city"] == "is required"


@pytest.mark.parametrize("features", [None, [], "a house", 3])
def test_features_must_be_an_object(features):
    body = prediction_body(features=features)
    _, errors = validate_prediction(body)
    assert list(errors) == ["features"]


def test_unknown_top_level_fields_are_refused():
    _, errors = validate_prediction(prediction_body(collection="users", query="x"))
    assert errors == {"collection": "is not a known field", "query": "is not a known field"}


@pytest.mark.parametrize("body", [[], "text", 3, None, [prediction_body()]])
def test_body_must_be_an_object(body):
    assert validate_prediction(body) == (None, {"body": "must be a JSON object"})
    assert validate_correction(body) == (None, {"body": "must be a JSON object"})


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(request_id={"$gt": ""}), "request_id"),
        (lambda b: b.update(price={"$ne": 0}), "price"),
        (lambda b: b.update({"$where": "sleep(1000)"}), "$where"),
        (lambda b: b["features"].update(bedrooms={"$gt": 1}), "features.bedrooms"),
        (lambda b: b["features"].update({"$set": {"price": 1}}), "features"),
        (lambda b: b["features"].update({"a.b": 1}), "features"),
        (lambda b: b.update({"x.y": 1}), "x.y"),
        (lambda b: b.update(model_name=[{"$regex": ".*"}]), "model_name[0]"),
    ],
)
def test_operator_injection_is_refused_and_named(mutate, field):
    body = prediction_body()
    mutate(body)
    clean, errors = validate_prediction(body)
    assert clean is None
    assert field in errors
    assert "refused" in errors[field]


def test_operator_scan_is_bounded_in_depth():
    deep: object = 1
    for _ in range(MAX_NESTING + 5):
        deep = {"k": deep}
    errors = unsafe_content({"features": deep})
    assert len(errors) == 1
    assert "nested deeper" in next(iter(errors.values()))


def test_operator_scan_accepts_plain_values():
    assert unsafe_content(prediction_body()) == {}
    # "$" inside a value is data, not an operator: only keys are dangerous.
    assert unsafe_content({"street": "$100 Main St"}) == {}


def test_text_that_cannot_be_stored_is_named():
    body = prediction_body(model_name="model\ud800")
    body["features"]["street"] = "\udfff Main St"
    body["note\ud800"] = 1
    errors = unsafe_content(body)
    assert errors["model_name"] == "must be valid Unicode text"
    assert errors["features.street"] == "must be valid Unicode text"
    assert "body" in errors
    _, errors = validate_prediction(body)
    assert {"model_name", "features.street"} <= set(errors)


def test_integers_too_long_for_any_field_become_floats():
    assert parse_json_int("42") == 42 and isinstance(parse_json_int("42"), int)
    assert parse_json_int("1" + "0" * 30) == 1e30
    assert parse_json_int("1" + "0" * 400) == float("inf")
    _, errors = validate_prediction(prediction_body(price=10**400))
    assert list(errors) == ["price"]


def test_correction_without_features_leaves_them_to_the_caller():
    clean, errors = validate_correction(correction_body())
    assert errors == {}
    assert tuple(clean) == CORRECTION_FIELDS
    assert clean["features"] is None
    assert clean["corrected_price"] == 420_000.0


def test_correction_with_features_validates_them(features):
    clean, errors = validate_correction(correction_body(features=features))
    assert errors == {}
    assert clean["features"] == features
    features["floors"] = 9
    _, errors = validate_correction(correction_body(features=features))
    assert list(errors) == ["features.floors"]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"corrected_price": 10}, {"corrected_price"}),  # below the platform's price range
        ({"corrected_price": 2e9}, {"corrected_price"}),
        ({"corrected_price": None}, {"corrected_price"}),
        ({"prediction_id": "../etc"}, {"prediction_id"}),
        ({"prediction_id": {"$ne": None}}, {"prediction_id"}),
        ({"consumed": True}, {"consumed"}),  # server-set fields cannot be sent
        ({"consumed_in": "v9", "created_at": "2020"}, {"consumed_in", "created_at"}),
    ],
)
def test_bad_correction_fields_are_named(overrides, fields):
    clean, errors = validate_correction(correction_body(**overrides))
    assert clean is None
    assert set(errors) == fields


def test_new_correction_is_pending_for_the_data_job(features):
    clean, _ = validate_correction(correction_body(features=features))
    document = new_correction(clean)
    assert document["consumed"] is False and document["consumed_in"] == ""
    assert {key: document[key] for key in PENDING} == PENDING
    assert document["created_at"].tzinfo is not None


def test_new_correction_needs_features():
    clean, _ = validate_correction(correction_body())
    with pytest.raises(ValueError, match="features"):
        new_correction(clean)


def test_same_content_ignores_server_fields_only():
    clean, _ = validate_prediction(prediction_body(request_id="same"))
    stored = {**new_prediction(clean), "_id": "x"}
    assert same_content(stored, clean, PREDICTION_FIELDS)
    other, _ = validate_prediction({**prediction_body(request_id="same"), "price": 1.0})
    assert not same_content(stored, other, PREDICTION_FIELDS)


def test_public_drops_mongo_id_and_formats_time_in_utc():
    moment = datetime(2024, 5, 2, 15, 30, 1, 250_000, tzinfo=timezone(timedelta(hours=2)))
    out = public({"_id": object(), "request_id": "a", "created_at": moment})
    assert out == {"request_id": "a", "created_at": "2024-05-02T13:30:01.250Z"}
    naive = public({"created_at": datetime(2024, 5, 2, 13, 30)})
    assert naive["created_at"] == "2024-05-02T13:30:00.000Z"


def test_utcnow_has_millisecond_precision_like_mongodb():
    now = utcnow()
    assert now.tzinfo == UTC
    assert now.microsecond % 1000 == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, {"page": 1, "per_page": 20}),
        ({"page": "3", "per_page": "100"}, {"page": 3, "per_page": 100}),
    ],
)
def test_page_parameters(args, expected):
    assert check_query(PAGE_QUERY, MultiDict(args)) == (expected, {})


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "0"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1e3"}, "page"),
        ({"page": "²"}, "page"),
        ({"page": "9" * 40}, "page"),
        ({"page": ""}, "page"),
        ([("per_page", "5"), ("per_page", "6")], "per_page"),
        ({"collection": "users"}, "collection"),
        ({"filter": '{"$where": "1"}'}, "filter"),
    ],
)
def test_bad_page_parameters_are_named(args, field):
    _, errors = check_query(PAGE_QUERY, MultiDict(args))
    assert list(errors) == [field]
