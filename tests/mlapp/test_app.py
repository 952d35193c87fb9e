"""mlapp's HTTP API in-process (Flask test client) against a real MLflow server."""

from __future__ import annotations

import pytest

from houseprice.schema import FEATURE_NAMES
from mlapp.app import create_app
from mlapp.predict import MAX_BATCH, STORE_KEY
from tests.mlapp.conftest import mlapp_settings, model_name, promote, register, train

TOKEN = "test-admin-token"


@pytest.fixture(scope="module")
def client(tmp_path_factory, mlflow_uri, linear_v1):
    """One app for the tests that do not change the registry: one model load."""
    app = create_app(mlapp_settings(tmp_path_factory.mktemp("mlapp"), mlflow_uri, linear_v1.name))
    yield app.test_client()
    app.extensions[STORE_KEY].stop()


def test_predict_one_record_returns_the_models_own_price(client, linear_v1, records):
    response = client.post("/predict", json=records[0], headers={"X-Request-ID": "req-one-1"})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["request_id"] == "req-one-1"
    assert response.headers["X-Request-ID"] == "req-one-1"
    assert body["price"] == pytest.approx(linear_v1.expected(records[:1])[0], abs=0.006)
    assert body["model"] == {
        "name": linear_v1.name,
        "version": linear_v1.version,
        "model_folder": "linear_regression",
        "dataset_version": "v1",
        "run_id": linear_v1.run_id,
    }


def test_predict_batch_returns_prices_in_request_order(client, linear_v1, records):
    response = client.post("/predict", json=records)
    assert response.status_code == 200, response.json
    body = response.json
    assert len(body["prices"]) == len(records)
    assert body["prices"] == pytest.approx(linear_v1.expected(records), abs=0.006)
    assert body["model"]["version"] == linear_v1.version
    assert body["request_id"]


def test_date_is_accepted_and_ignored(client, linear_v1, records):
    response = client.post("/predict", json={**records[1], "date": "2014-05-02"})
    assert response.status_code == 200
    assert response.json["price"] == pytest.approx(linear_v1.expected(records[1:2])[0], abs=0.006)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bedrooms": {"$gt": 1}}, "bedrooms"),
        ({"waterfront": True}, "waterfront"),
        ({"sqft_living": "1340"}, "sqft_living"),
        ({"statezip": "98133"}, "statezip"),
        ({"yr_built": 1700}, "yr_built"),
        ({"bathrooms": None}, "bathrooms"),
        ({"colour": "red"}, "colour"),
        ({"sqft_lot": 10**400}, "sqft_lot"),
        ({"city": ["Seattle"]}, "city"),
    ],
    ids=[
        "operator-injection",
        "bool",
        "text-for-number",
        "pattern",
        "range",
        "null",
        "unknown",
        "huge-int",
        "list-for-text",
    ],
)
def test_bad_field_gets_422_naming_it(client, records, change, field):
    response = client.post("/predict", json={**records[0], **change})
    assert response.status_code == 422
    body = response.json
    assert body["error"] == "validation failed"
    assert list(body["fields"]) == [field]
    assert field in body["message"]


def test_missing_fields_are_each_named(client, records):
    record = {k: v for k, v in records[0].items() if k not in ("city", "floors")}
    response = client.post("/predict", json=record)
    assert response.status_code == 422
    assert response.json["fields"] == {"floors": "is required", "city": "is required"}


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe", b"42", b'"a house"', b"null", b"[]", b"[" * 100_000],
    ids=["broken", "empty", "not-utf8", "number", "string", "null", "empty-list", "deep"],
)
def test_body_that_is_not_records_gets_422(client, body):
    response = client.post("/predict", data=body, content_type="application/json")
    assert response.status_code == 422
    assert list(response.json["fields"]) == ["body"]


def test_batch_errors_name_the_record_index_and_field(client, records):
    batch = [records[0], {**records[1], "bedrooms": -1}, records[2], "house", {}]
    response = client.post("/predict", json=batch)
    assert response.status_code == 422
    fields = response.json["fields"]
    assert fields["[1].bedrooms"].startswith("must be a number")
    assert fields["[3]"] == "must be a JSON object of house features"
    assert {f"[4].{name}" for name in FEATURE_NAMES} <= set(fields)
    assert not any(key.startswith(("[0]", "[2]")) for key in fields)


def test_batch_over_the_limit_gets_413(client, records):
    response = client.post("/predict", json=[records[0]] * (MAX_BATCH + 1))
    assert response.status_code == 413
    assert str(MAX_BATCH) in response.json["fields"]["body"]


def test_body_over_the_size_limit_gets_413(client):
    response = client.post("/predict", data=b"[" + b" " * (3 * 1024 * 1024) + b"]")
    assert response.status_code == 413
    assert response.json["fields"]["body"].startswith("must be at most")


def test_model_ready_health(client, linear_v1):
    assert client.get("/health").json == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json["ready"] is True
    assert ready.json["model"]["version"] == linear_v1.version
    model = client.get("/model")
    assert model.status_code == 200
    assert model.json["model"]["name"] == linear_v1.name
    assert model.json["model"]["predictor"] == "lean"
    assert model.json["registry"]["champion_version"] == linear_v1.version
    assert model.json["registry"]["last_error"] is None


def test_metrics_count_predictions_by_status_and_model_folder(client, records):
    def count(text: str, status: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "prediction_requests_total" and sample.labels == {
                    "status": status,
                    "experiment": "linear_regression",
                }:
                    return sample.value
        return 0.0

    before = client.get("/metrics").get_data(as_text=True)
    client.post("/predict", json=records[0])
    client.post("/predict", json={"bedrooms": 1})
    after = client.get("/metrics").get_data(as_text=True)
    assert count(after, "200") == count(before, "200") + 1
    assert count(after, "422") == count(before, "422") + 1
    for name in (
        "prediction_latency_seconds",
        "prediction_errors_total",
        "active_prediction_requests",
        "model_load_time_seconds",
        "last_prediction_timestamp",
        "predicted_price_dollars",
    ):
        assert name in after


def test_every_route_is_documented_in_openapi(client):
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    routes = {
        (rule.rule, method.lower())
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes
    for path, method in routes:
        assert method in paths.get(path, {}), f"{method.upper()} {path} is not documented"
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    assert documented == routes
    record = document["components"]["schemas"]["HouseFeatures"]
    assert record["required"] == list(FEATURE_NAMES)


def test_no_champion_gives_503_everywhere_but_health(tmp_path, mlflow_uri, app_for, records):
    client = app_for(mlapp_settings(tmp_path, mlflow_uri, model_name())).test_client()
    predict = client.post("/predict", json=records[0])  # waits for the first check
    assert predict.status_code == 503
    assert predict.json["error"] == "no model"
    assert "champion" in predict.json["message"]
    assert "price" not in predict.json
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json["ready"] is False
    assert "champion" in ready.json["reason"]
    assert client.get("/model").status_code == 503
    assert client.get("/health").status_code == 200
    # Bad input is still reported as bad input.
    assert client.post("/predict", json={"bedrooms": 2}).status_code == 422


def test_admin_reload_needs_the_token_and_checks_the_alias_now(
    tmp_path, mlflow_uri, sample, app_for, records
):
    name = model_name()
    v1 = register(mlflow_uri, name, train(sample), sample)
    # Polling every hour: only the reload can make this app see the new champion.
    settings = mlapp_settings(tmp_path, mlflow_uri, name, MODEL_POLL_SECONDS="3600")
    client = app_for(settings).test_client()
    assert client.post("/predict", json=records[0]).json["model"]["version"] == v1.version

    v2 = register(mlflow_uri, name, train(sample, scale=3.0), sample, champion=False)
    promote(mlflow_uri, v2)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        denied = client.post("/admin/reload", headers=headers)
        assert denied.status_code == 401
        assert denied.headers["WWW-Authenticate"] == "Bearer"
    assert client.post("/predict", json=records[0]).json["model"]["version"] == v1.version

    reload = client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reload.status_code == 200
    assert reload.json["changed"] is True
    assert reload.json["model"]["version"] == v2.version
    body = client.post("/predict", json=records[0]).json
    assert body["model"]["version"] == v2.version
    assert body["price"] == pytest.approx(v2.expected(records[:1])[0], abs=0.006)
    again = client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert again.json["changed"] is False
