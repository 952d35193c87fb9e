"""/openapi.json documents every route, and real responses match what it says."""

from __future__ import annotations

import re
import uuid

import pytest
from jsonschema import Draft202012Validator

from dbapp.openapi import SCHEMAS, document
from tests.dbapp.conftest import prediction_body

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def conforms(instance, schema_name: str) -> list[str]:
    """Errors of `instance` against a component schema, refs resolved within the document."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{schema_name}",
        "components": {"schemas": SCHEMAS},
    }
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(instance)]


def test_every_route_and_method_is_documented(app, client):
    served = client.get("/openapi.json")
    assert served.status_code == 200
    spec = served.json
    assert spec["openapi"].startswith("3.1")
    routes = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    assert routes
    for rule in routes:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], f"{path} is not documented"
        for method in rule.methods & METHODS:
            assert method.lower() in spec["paths"][path], f"{method} {path} is not documented"


def test_every_documented_path_exists(app):
    served = {re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", r.rule) for r in app.url_map.iter_rules()}
    assert set(document()["paths"]) <= served


def test_schemas_are_valid_and_every_reference_resolves():
    for name, schema in SCHEMAS.items():
        Draft202012Validator.check_schema(schema)
        # Validating resolves each $ref (a dangling one raises) and names each required field.
        assert len(conforms({}, name)) == len(schema.get("required", []))
    text = repr(document())
    for target in re.findall(r"#/components/schemas/(\w+)", text):
        assert target in SCHEMAS, f"dangling reference to {target}"


@pytest.mark.parametrize("name", ["PredictionIn", "CorrectionIn"])
def test_input_schemas_refuse_unknown_and_operator_fields(name):
    body = prediction_body() if name == "PredictionIn" else {}
    assert conforms({**body, "$where": "1"}, name)


def test_real_responses_match_the_documented_schemas(client, features):
    body = prediction_body()
    assert conforms(body, "PredictionIn") == []
    created = client.post("/predictions", json=body)
    assert created.status_code == 201
    assert conforms(created.json, "Prediction") == []

    correction = {
        "request_id": f"c-{uuid.uuid4().hex[:6]}",
        "prediction_id": body["request_id"],
        "corrected_price": 399_000,
    }
    assert conforms(correction, "CorrectionIn") == []
    stored = client.post("/corrections", json=correction)
    assert stored.status_code == 201
    assert conforms(stored.json, "Correction") == []

    assert conforms(client.get("/predictions").json, "PredictionPage") == []
    assert conforms(client.get("/corrections").json, "CorrectionPage") == []
    assert conforms(client.post("/predictions", json={}).json, "ValidationError") == []
    assert conforms(client.get("/predictions/nope").json, "Error") == []
    assert conforms(client.get("/ready").json, "Status") == []


def test_documented_feature_ranges_agree_with_validation(client):
    """A body the schema rejects for a range is also rejected by the service."""
    body = prediction_body()
    body["features"]["condition"] = 6
    assert conforms(body, "PredictionIn")
    response = client.post("/predictions", json=body)
    assert response.status_code == 422
    assert list(response.json["fields"]) == ["features.condition"]
