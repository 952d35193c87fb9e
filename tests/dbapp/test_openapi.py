"""/openapi.json is generated from the declarations dbapp validates with, and says the truth."""

from __future__ import annotations

import uuid

import pytest

from houseprice.schema import FEATURE_NAMES
from tests.dbapp.conftest import prediction_body
from tests.support.openapi import (
    assert_documents_exactly_the_routes,
    assert_schemas_are_valid,
    conforms,
    served_document,
)


@pytest.fixture
def document(client):
    return served_document(client)


def test_every_route_and_method_is_documented_and_nothing_else(app, document):
    assert_documents_exactly_the_routes(app, document)


def test_schemas_are_valid_and_every_reference_resolves(document):
    assert_schemas_are_valid(document)
    features = document["components"]["schemas"]["HouseFeatures"]
    assert features["required"] == list(FEATURE_NAMES)


@pytest.mark.parametrize("name", ["PredictionIn", "CorrectionIn"])
def test_input_schemas_refuse_unknown_and_operator_fields(document, name):
    body = prediction_body() if name == "PredictionIn" else {}
    assert conforms(document, {**body, "$where": "1"}, name)


def test_list_operations_document_their_query_parameters(document):
    params = document["paths"]["/predictions"]["get"]["parameters"]
    assert {p["name"]: p["schema"]["maximum"] for p in params} == {"page": 100_000, "per_page": 100}


def test_real_responses_match_the_documented_schemas(client, document):
    body = prediction_body()
    assert conforms(document, body, "PredictionIn") == []
    created = client.post("/predictions", json=body)
    assert created.status_code == 201
    assert conforms(document, created.json, "Prediction") == []

    correction = {
        "request_id": f"c-{uuid.uuid4().hex[:6]}",
        "prediction_id": body["request_id"],
        "corrected_price": 399_000,
    }
    assert conforms(document, correction, "CorrectionIn") == []
    stored = client.post("/corrections", json=correction)
    assert stored.status_code == 201
    assert conforms(document, stored.json, "Correction") == []

    assert conforms(document, client.get("/predictions").json, "PredictionPage") == []
    assert conforms(document, client.get("/corrections").json, "CorrectionPage") == []
    assert conforms(document, client.post("/predictions", json={}).json, "ValidationError") == []
    assert conforms(document, client.get("/predictions/nope").json, "Error") == []
    assert conforms(document, client.get("/ready").json, "Status") == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("condition", 6), ("yr_renovated", 1700), ("statezip", "WA 9810"), ("street", " ")],
)
def test_what_the_schema_refuses_the_service_refuses(client, document, field, value):
    body = prediction_body()
    body["features"][field] = value
    assert conforms(document, body, "PredictionIn")
    response = client.post("/predictions", json=body)
    assert response.status_code == 422
    assert list(response.json["fields"]) == [f"features.{field}"]


def test_cross_field_rules_are_documented_and_enforced(client, document):
    rules = document["components"]["schemas"]["HouseFeatures"]["x-consistency-rules"]
    assert any(
        rule.startswith("sqft_living must equal sqft_above + sqft_basement") for rule in rules
    )
    body = prediction_body()
    body["features"]["sqft_living"] = body["features"]["sqft_above"] + 900
    body["features"]["sqft_basement"] = 0
    response = client.post("/predictions", json=body)
    assert response.status_code == 422
    assert list(response.json["fields"]) == ["features.sqft_living"]
