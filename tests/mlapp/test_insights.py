"""mlapp's read-only insights: comparables from real dataset versions, history from real MLflow."""

from __future__ import annotations

import time

import numpy as np
import pytest
from mlflow import MlflowClient

from houseprice.storage import open_bucket
from promotion import rows as evaluation_rows
from promotion.config import PromotionConfig
from promotion.promotion import promote
from tests.mlapp.conftest import mlapp_settings, model_name, register, train
from tests.support.datasets import sample_rows, write_version

BELLEVUE = {"statezip": "WA 98004", "sqft_living": "2400", "bedrooms": "4", "yr_built": "1980"}


@pytest.fixture
def bucket_2(tmp_path):
    """BUCKET_2 with two committed versions of the sample sales (v1 older half, v2 the rest)."""
    url = str(tmp_path / "bucket_2")
    rows = sample_rows()
    half = len(rows) // 2
    write_version(url, 1, rows.iloc[:half])
    write_version(url, 2, rows.iloc[half:])
    return url


@pytest.fixture
def client_for(tmp_path, mlflow_uri, app_for):
    def build(bucket: str, name: str | None = None, **overrides: str):
        settings = mlapp_settings(
            tmp_path, mlflow_uri, name or model_name(), BUCKET_2=bucket, **overrides
        )
        return app_for(settings).test_client()

    return build


def test_comparables_are_same_zip_sales_nearest_in_size_age_and_rooms(bucket_2, client_for):
    answer = client_for(bucket_2).get("/comparables", query_string=BELLEVUE)
    assert answer.status_code == 200
    body = answer.get_json()
    rows = sample_rows()
    assert body["dataset_version"] == "v2"
    assert body["sales"] == len(rows)  # cumulative: v1 and v2
    found = body["comparables"]
    assert len(found) == 5
    assert all(c["same_zip"] and c["statezip"] == "WA 98004" for c in found)
    assert all(c["date"].startswith("2014-") and c["price"] > 0 for c in found)
    # Each is at least as near as any Bellevue sale that was left out.
    zip_rows = rows[rows.statezip == "WA 98004"]
    distance = (
        np.abs(np.log(zip_rows.sqft_living / 2400)) / np.log(1.25)
        + np.abs(zip_rows.yr_built - 1980) / 15
        + np.abs(zip_rows.bedrooms - 4)
    )
    worst_shown = max(
        distance[(zip_rows.street == c["street"]) & (zip_rows.price == c["price"])].min()
        for c in found
    )
    assert worst_shown <= np.sort(distance.to_numpy())[4] + 1e-9
    assert len(body["zip_points"]) == len(zip_rows)
    assert body["familiarity"]["zip_sales"] == len(zip_rows)
    assert body["familiarity"]["few_similar"] is False


def test_a_small_zip_is_completed_with_the_nearest_sales_elsewhere(bucket_2, client_for):
    rows = sample_rows()
    small = rows.statezip.value_counts()
    statezip = small[small == 1].index[0]
    answer = client_for(bucket_2).get(
        "/comparables", query_string={"statezip": statezip, "sqft_living": "1500", "limit": "4"}
    )
    found = answer.get_json()["comparables"]
    assert [c["same_zip"] for c in found] == [True, False, False, False]
    assert answer.get_json()["familiarity"]["few_similar"] is True


def test_a_house_beyond_every_sale_gets_the_few_similar_sales_flag(bucket_2, client_for):
    biggest = int(sample_rows().sqft_living.max())
    query = {**BELLEVUE, "sqft_living": str(biggest + 5000)}
    familiarity = (
        client_for(bucket_2).get("/comparables", query_string=query).get_json()["familiarity"]
    )
    assert familiarity["few_similar"] is True
    assert familiarity["outside"] == [
        {
            "field": "sqft_living",
            "value": biggest + 5000,
            "low": float(sample_rows().sqft_living.min()),
            "high": float(biggest),
        }
    ]


def test_bad_query_parameters_get_a_422_naming_each(bucket_2, client_for):
    answer = client_for(bucket_2).get(
        "/comparables",
        query_string={"statezip": "98004", "sqft_living": "big", "limit": "99", "colour": "red"},
    )
    assert answer.status_code == 422
    assert set(answer.get_json()["fields"]) == {"statezip", "sqft_living", "limit", "colour"}
    missing = client_for(bucket_2).get("/comparables")
    assert set(missing.get_json()["fields"]) == {"statezip", "sqft_living"}


def test_the_sales_are_read_once_per_version_and_a_new_version_is_picked_up(
    bucket_2, client_for, app_for
):
    client = client_for(bucket_2, MODEL_POLL_SECONDS="0.3")
    for _ in range(3):
        assert client.get("/comparables", query_string=BELLEVUE).status_code == 200
    cache = client.application.extensions["mlapp.insights"].sales
    assert cache.loads == 1
    write_version(bucket_2, 3, sample_rows().head(10))
    time.sleep(0.4)
    body = client.get("/comparables", query_string=BELLEVUE).get_json()
    assert body["dataset_version"] == "v3"
    assert body["sales"] == len(sample_rows()) + 10
    assert cache.loads == 2


def test_no_committed_version_is_a_404_that_says_so(tmp_path, client_for):
    answer = client_for(str(tmp_path / "empty")).get("/comparables", query_string=BELLEVUE)
    assert answer.status_code == 404
    assert "no dataset version" in answer.get_json()["message"]


@pytest.fixture
def promoted(bucket_2, mlflow_uri):
    """Two versions on v2, promoted for real: the better one is champion."""
    rows = sample_rows()
    name = model_name()
    good = register(mlflow_uri, name, train(rows), rows, "linear_regression", "v2", False)
    worse = register(mlflow_uri, name, train(rows, scale=1.4), rows, "scaled", "v2", False)
    config = PromotionConfig()
    evaluation = evaluation_rows.load(open_bucket(bucket_2), "v2", config.recent_min_rows)
    client = MlflowClient(tracking_uri=mlflow_uri)
    decision = promote(client, name, evaluation, config)
    assert decision is not None and decision.champion.version == good.version
    return name, good, worse


def test_history_names_the_champion_why_it_won_and_every_score(promoted, bucket_2, client_for):
    name, good, worse = promoted
    body = client_for(bucket_2, name).get("/model/history").get_json()
    champion = body["champion"]
    assert champion["version"] == good.version
    assert champion["model_folder"] == "linear_regression"
    assert champion["dataset_version"] == "v2"
    assert champion["evaluation"]["metrics"]["mdape"] > 0
    assert champion["promoted"]["summary"].startswith(f"version {good.version}")
    [decision] = body["promotions"]
    assert decision["changed"] is True
    assert decision["dataset_version"] == "v2"
    scores = {s["version"]: s for s in decision["scores"]}
    assert set(scores) == {good.version, worse.version}
    assert scores[good.version]["mdape"] < scores[worse.version]["mdape"]
    assert scores[worse.version]["model_folder"] == "scaled"


def test_lineage_leads_from_a_model_version_to_its_dataset_manifest(promoted, bucket_2, client_for):
    name, good, _ = promoted
    client = client_for(bucket_2, name)
    body = client.get("/lineage", query_string={"model_version": good.version}).get_json()
    assert body["model"]["version"] == good.version
    assert body["model"]["run_id"] == good.run_id
    manifest = body["dataset"]["manifest"]
    assert manifest["version"] == "v2"
    assert manifest["parent"] == "v1"
    assert sum(manifest["rows"].values()) == len(sample_rows()) - len(sample_rows()) // 2
    assert body["dataset"]["drift_report"] is False
    assert client.get("/lineage", query_string={"model_version": "999"}).status_code == 404
    bad = client.get("/lineage", query_string={"model_version": "latest"})
    assert bad.status_code == 422 and "model_version" in bad.get_json()["fields"]


def test_a_drift_report_is_served_sandboxed_when_present(bucket_2, client_for):
    client = client_for(bucket_2)
    absent = client.get("/drift_report", query_string={"dataset_version": "v2"})
    assert absent.status_code == 404
    assert "no drift report" in absent.get_json()["message"]
    open_bucket(bucket_2).write_text("versioned/v2/drift.html", "<h1>Drift of v2</h1>")
    present = client.get("/drift_report", query_string={"dataset_version": "v2"})
    assert present.status_code == 200
    assert present.data == b"<h1>Drift of v2</h1>"
    assert present.headers["Content-Security-Policy"].startswith("sandbox")
    for bad in ("../secrets", "latest", ""):
        refused = client.get("/drift_report", query_string={"dataset_version": bad})
        assert refused.status_code == 422
        assert set(refused.get_json()["fields"]) == {"dataset_version"}
