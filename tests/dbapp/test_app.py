"""The Flask app through its test client, against a real nx-27017 database."""

from __future__ import annotations

import json
import uuid

import pytest

from dbapp.app import MAX_BODY_BYTES, create_app
from dbapp.metrics import REGISTRY
from houseprice import mongo
from houseprice.mongo import PENDING
from tests.dbapp.conftest import prediction_body
from tests.support.servers import free_port


def count(settings, kind: str, **query) -> int:
    client = mongo.connect(settings)
    try:
        collection = mongo.predictions if kind == "predictions" else mongo.corrections
        return collection(client, settings).count_documents(query)
    finally:
        client.close()


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def store_prediction(client, **overrides):
    body = prediction_body(**overrides)
    response = client.post("/predictions", json=body)
    assert response.status_code == 201, response.json
    return body, response.json


# -- predictions -------------------------------------------------------------


def test_store_prediction_then_read_it_back(client, settings):
    body = prediction_body()
    response = client.post("/predictions", json=body)
    assert response.status_code == 201
    stored = response.json
    assert response.headers["Location"] == f"/predictions/{body['request_id']}"
    assert {k: stored[k] for k in body} == body
    assert stored["created_at"].endswith("Z")
    fetched = client.get(f"/predictions/{body['request_id']}")
    assert fetched.status_code == 200
    assert fetched.json == stored
    assert count(settings, "predictions", request_id=body["request_id"]) == 1


def test_same_prediction_twice_is_stored_once(client, settings):
    body = prediction_body()
    inserted_before = sample("documents_inserted_total", collection="predictions")
    first = client.post("/predictions", json=body)
    again = client.post("/predictions", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json  # same created_at: the stored document, not a new one
    assert count(settings, "predictions", request_id=body["request_id"]) == 1
    assert sample("documents_inserted_total", collection="predictions") == inserted_before + 1


def test_same_request_id_with_other_content_is_a_conflict(client, settings):
    body, stored = store_prediction(client)
    response = client.post("/predictions", json={**body, "price": body["price"] + 1})
    assert response.status_code == 409
    assert response.json["fields"] == {"request_id": "is already used by a different document"}
    assert client.get(f"/predictions/{body['request_id']}").json == stored


def test_invalid_prediction_names_every_field_and_stores_nothing(client, settings):
    body = prediction_body(price=-1)
    body["features"]["bedrooms"] = "three"
    body["features"]["yr_built"] = 1500
    response = client.post("/predictions", json=body)
    assert response.status_code == 422
    assert response.json["error"] == "validation failed"
    assert set(response.json["fields"]) == {"price", "features.bedrooms", "features.yr_built"}
    assert "features.bedrooms" in response.json["message"]
    assert count(settings, "predictions") == 0


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(request_id={"$gt": ""}), "request_id"),
        (lambda b: b["features"].update(sqft_living={"$where": "1"}), "features.sqft_living"),
        (lambda b: b.update({"$set": {"price": 1}}), "$set"),
        (lambda b: b.update(collection="users"), "collection"),
    ],
)
def test_injection_and_unknown_fields_are_refused(client, settings, mutate, field):
    body = prediction_body()
    mutate(body)
    response = client.post("/predictions", json=body)
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert count(settings, "predictions") == 0


def test_lookup_with_an_operator_in_the_path_finds_nothing(client):
    store_prediction(client)
    response = client.get('/predictions/{"$gt":""}')
    assert response.status_code == 422
    assert list(response.json["fields"]) == ["request_id"]


def test_unknown_prediction_is_404(client):
    response = client.get(f"/predictions/missing-{uuid.uuid4().hex}")
    assert response.status_code == 404
    assert response.json["error"] == "not found"


# -- bodies that are not what they claim -----------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("request_id=a", "application/x-www-form-urlencoded", 415),
        ('{"request_id": "a"}', "text/plain", 415),
        ("{not json", "application/json", 400),
        ("[" * 20_000, "application/json", 400),
        ("", "application/json", 400),
    ],
)
def test_bodies_that_are_not_json_objects(client, data, content_type, status):
    response = client.post("/predictions", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.is_json and response.json["message"]


@pytest.mark.parametrize(
    ("replace", "by", "field"),
    [
        ('"bedrooms": 3.0', '"bedrooms": 1' + "0" * 400, "features.bedrooms"),
        ('"price": ', '"price": 1' + "0" * 400 + ', "_": ', "price"),
        ('"street": "', '"street": "\\ud800', "features.street"),
        ('"model_name": "', '"model_name": "\\udfff', "model_name"),
    ],
)
def test_numbers_and_text_that_cannot_be_stored_are_422(client, settings, replace, by, field):
    text = json.dumps(prediction_body())
    assert replace in text
    response = client.post(
        "/predictions", data=text.replace(replace, by, 1), content_type="application/json"
    )
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert count(settings, "predictions") == 0


def test_json_that_is_not_an_object_is_422(client):
    response = client.post("/predictions", json=[prediction_body()])
    assert response.status_code == 422
    assert response.json["fields"] == {"body": "must be a JSON object"}


def test_oversized_body_is_413(client, settings):
    body = prediction_body(model_name="m" * MAX_BODY_BYTES)
    response = client.post("/predictions", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 413
    assert response.is_json
    assert count(settings, "predictions") == 0


def test_unsupported_method_is_a_json_405(client):
    response = client.delete("/predictions")
    assert response.status_code == 405
    assert response.is_json


# -- listing -------------------------------------------------------------------


def test_list_is_paged_newest_first(client):
    ids = [store_prediction(client, index=i)[0]["request_id"] for i in range(5)]
    first = client.get("/predictions?page=1&per_page=2").json
    second = client.get("/predictions?page=2&per_page=2").json
    third = client.get("/predictions?page=3&per_page=2").json
    assert (first["total"], first["page"], first["per_page"]) == (5, 1, 2)
    listed = [item["request_id"] for page in (first, second, third) for item in page["items"]]
    assert listed == ids[::-1]
    assert client.get("/predictions?page=4&per_page=2").json["items"] == []
    default = client.get("/predictions").json
    assert (default["page"], default["per_page"], len(default["items"])) == (1, 20, 5)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=101", "per_page"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("collection=users", "collection"),
        ("request_id[$ne]=x", "request_id[$ne]"),
    ],
)
def test_bad_list_parameters_are_422(client, query, field):
    response = client.get(f"/predictions?{query}")
    assert response.status_code == 422
    assert field in response.json["fields"]


# -- corrections ---------------------------------------------------------------


def test_correction_defaults_to_the_predictions_features(client, settings):
    prediction, _ = store_prediction(client)
    body = {
        "request_id": f"corr-{uuid.uuid4().hex[:8]}",
        "prediction_id": prediction["request_id"],
        "corrected_price": 455_000,
    }
    response = client.post("/corrections", json=body)
    assert response.status_code == 201
    stored = response.json
    assert stored["features"] == prediction["features"]
    assert stored["corrected_price"] == 455_000
    assert (stored["consumed"], stored["consumed_in"]) == (False, "")
    # The data job selects pending corrections with this exact filter.
    assert count(settings, "corrections", **PENDING) == 1
    assert client.get(f"/corrections/{body['request_id']}").json == stored
    again = client.post("/corrections", json=body)
    assert again.status_code == 200 and again.json == stored
    assert count(settings, "corrections") == 1


def test_correction_with_its_own_features(client, features):
    prediction, _ = store_prediction(client)
    features["bedrooms"] = features["bedrooms"] + 1
    body = {
        "request_id": "corr-own",
        "prediction_id": prediction["request_id"],
        "corrected_price": 500_000.5,
        "features": features,
    }
    response = client.post("/corrections", json=body)
    assert response.status_code == 201
    assert response.json["features"] == features
    changed = client.post("/corrections", json={**body, "corrected_price": 600_000})
    assert changed.status_code == 409


def test_correction_of_an_unknown_prediction_is_422(client, settings):
    body = {"request_id": "corr-x", "prediction_id": "never-stored", "corrected_price": 300_000}
    response = client.post("/corrections", json=body)
    assert response.status_code == 422
    assert list(response.json["fields"]) == ["prediction_id"]
    assert count(settings, "corrections") == 0


def test_invalid_correction_names_fields(client):
    body = {"request_id": "c", "prediction_id": {"$ne": ""}, "corrected_price": 5, "consumed": True}
    response = client.post("/corrections", json=body)
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"prediction_id", "corrected_price", "consumed"}


def test_corrections_are_listed_newest_first(client):
    prediction, _ = store_prediction(client)
    ids = []
    for i in range(3):
        body = {
            "request_id": f"corr-{i}",
            "prediction_id": prediction["request_id"],
            "corrected_price": 400_000 + i,
        }
        assert client.post("/corrections", json=body).status_code == 201
        ids.append(body["request_id"])
    page = client.get("/corrections?per_page=100").json
    assert [item["request_id"] for item in page["items"]] == ids[::-1]
    assert page["total"] == 3


# -- operations ----------------------------------------------------------------


def test_health_ready_and_request_id(client):
    assert client.get("/health").json == {"status": "ok"}
    ready = client.get("/ready", headers={"X-Request-ID": "probe-1"})
    assert ready.status_code == 200 and ready.json == {"status": "ready"}
    assert ready.headers["X-Request-ID"] == "probe-1"
    assert sample("mongo_health_status") == 1


def test_metrics_count_requests_by_collection_and_status(client):
    stored_before = sample("store_requests_total", collection="predictions", status="201")
    invalid_before = sample("store_requests_total", collection="predictions", status="422")
    read_before = sample("retrieve_requests_total", collection="predictions", status="200")
    body, _ = store_prediction(client)
    client.post("/predictions", json={})
    client.get(f"/predictions/{body['request_id']}")
    text = client.get("/metrics").get_data(as_text=True)
    for name in ("store_latency_seconds", "retrieve_latency_seconds", "mongo_active_connections"):
        assert name in text
    assert sample("store_requests_total", collection="predictions", status="201") == (
        stored_before + 1
    )
    assert sample("store_requests_total", collection="predictions", status="422") == (
        invalid_before + 1
    )
    assert sample("retrieve_requests_total", collection="predictions", status="200") == (
        read_before + 1
    )
    assert sample("mongo_active_connections") >= 1


def test_database_down_is_a_json_503(make_settings):
    # Nothing listens on this port: a real refused connection, not a mock.
    settings = make_settings(MONGO_URI=f"mongodb://127.0.0.1:{free_port()}")
    app = create_app(settings)
    client = app.test_client()
    errors_before = sample("db_errors_total", operation="ensure_indexes") + sample(
        "db_errors_total", operation="ping"
    )
    try:
        response = client.post("/predictions", json=prediction_body())
        assert response.status_code == 503
        assert response.json["error"] == "database unavailable"
        assert client.get("/ready").status_code == 503
        assert client.get("/predictions").status_code == 503
        assert client.get("/health").status_code == 200
        assert sample("mongo_health_status") == 0
        errors_after = sample("db_errors_total", operation="ensure_indexes") + sample(
            "db_errors_total", operation="ping"
        )
        assert errors_after >= errors_before + 3
        # Bad input is still a 4xx: validation does not need the database.
        assert client.post("/predictions", json={}).status_code == 422
    finally:
        app.extensions["dbapp.repository"].close()
