"""mlapp's /openapi.json is generated from mlapp.api and says what the service does."""

from __future__ import annotations

import pytest

from houseprice.schema import EXAMPLE_RECORD, FEATURE_NAMES
from mlapp.app import create_app
from mlapp.predict import STORE_KEY
from tests.mlapp.conftest import mlapp_settings
from tests.support.openapi import (
    assert_documents_exactly_the_routes,
    assert_schemas_are_valid,
    conforms,
    served_document,
)

TOKEN = "test-admin-token"


@pytest.fixture(scope="module")
def app(tmp_path_factory, mlflow_uri, linear_v1):
    app = create_app(mlapp_settings(tmp_path_factory.mktemp("mlapp"), mlflow_uri, linear_v1.name))
    yield app
    app.extensions[STORE_KEY].stop()


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def document(client):
    return served_document(client)


def test_every_route_and_method_is_documented_and_nothing_else(app, document):
    assert_documents_exactly_the_routes(app, document)


def test_schemas_are_valid_and_the_record_comes_from_the_field_table(document):
    assert_schemas_are_valid(document)
    record = document["components"]["schemas"]["HouseFeatures"]
    assert record["required"] == list(FEATURE_NAMES)
    assert conforms(document, EXAMPLE_RECORD, "HouseFeatures") == []
    assert document["paths"]["/admin/reload"]["post"]["security"] == [{"adminToken": []}]


def test_real_answers_match_the_documented_schemas(client, document):
    one = client.post("/predict", json=EXAMPLE_RECORD)
    assert one.status_code == 200
    assert conforms(document, one.json, "Prediction") == []
    batch = client.post("/predict", json=[EXAMPLE_RECORD, {**EXAMPLE_RECORD, "bedrooms": 4}])
    assert batch.status_code == 200
    assert conforms(document, batch.json, "BatchPrediction") == []
    bad = client.post("/predict", json={**EXAMPLE_RECORD, "view": 9})
    assert bad.status_code == 422
    assert conforms(document, bad.json, "ValidationError") == []
    assert conforms(document, client.get("/model").json, "ModelStatus") == []
    assert conforms(document, client.get("/ready").json, "Readiness") == []
    reload = client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert conforms(document, reload.json, "Reload") == []
    assert conforms(document, client.post("/admin/reload").json, "Error") == []


def test_the_interval_is_declared_for_one_record_and_per_record_in_a_batch(document):
    schemas = document["components"]["schemas"]
    assert set(schemas["Interval"]["required"]) == {"low", "high", "level"}
    assert schemas["Prediction"]["properties"]["interval"] == {
        "$ref": "#/components/schemas/Interval"
    }
    assert schemas["BatchPrediction"]["properties"]["intervals"]["items"] == {
        "$ref": "#/components/schemas/Interval"
    }
    with_interval = {
        "request_id": "r1",
        "price": 300_000.0,
        "interval": {"low": 250_000.0, "high": 350_000.0, "level": 0.8},
        "model": {k: "x" for k in ("name", "version", "model_folder", "dataset_version", "run_id")},
    }
    assert conforms(document, with_interval, "Prediction") == []
    assert conforms(document, {**with_interval, "interval": {"low": 1}}, "Prediction")


def test_http_semantics(client):
    trace = client.open("/predict", method="TRACE")
    assert trace.status_code == 405
    assert set(trace.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    assert trace.json["error"] == "Method Not Allowed" and trace.json["request_id"]
    options = client.open("/model", method="OPTIONS")
    assert options.status_code == 200 and options.data == b""
    assert set(options.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    get, head = client.get("/health"), client.head("/health")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


@pytest.mark.parametrize(
    ("query", "named"),
    [("?verbose=1", "verbose"), ("?a=1&b=2", "a"), ("?=x", "")],
)
def test_undeclared_query_parameters_are_a_422_naming_them(client, query, named):
    response = client.get(f"/model{query}")
    assert response.status_code == 422
    assert named in response.json["fields"]
    assert response.json["fields"][named] == "is not a known parameter"
