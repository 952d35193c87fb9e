"""Drift per dataset version: the comparison itself, then through the real data job with a
real MLflow registry (the champion's data as reference) and a real Pushgateway."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from data_collection_and_versioning.drift import NUMERIC, TEXT, compare
from data_collection_and_versioning.job import run
from houseprice.schema import validate_frame
from houseprice.storage import open_bucket
from tests.conftest import SAMPLE_CSV
from tests.observability.conftest import one, pushed
from tests.support.datasets import sample_rows
from tests.support.servers import free_port

FEATURES = (*NUMERIC, *TEXT)


def test_two_halves_of_one_shuffled_sample_do_not_drift() -> None:
    rows = sample_rows().sample(frac=1.0, random_state=1)
    found = compare(rows.iloc[:2000], rows.iloc[2000:])
    assert [f.feature for f in found] == list(FEATURES)
    assert [f.feature for f in found if f.drifted] == []
    methods = {f.feature: f.method for f in found}
    assert methods["sqft_living"] == "Wasserstein (normed)"  # 2000 reference rows: distances
    assert methods["city"] == "Jensen-Shannon distance"
    assert methods["condition"] == "Jensen-Shannon distance"  # few whole numbers: categories


def test_a_shifted_feature_drifts_and_the_others_do_not() -> None:
    rows = sample_rows().sample(frac=1.0, random_state=2)
    current = rows.iloc[2000:].copy()
    current["sqft_living"] = (current["sqft_living"] * 1.5).astype("int64")
    current["city"] = "Seattle"
    drifted = {f.feature for f in compare(rows.iloc[:2000], current) if f.drifted}
    # sqft_above and statezip move with them (a bigger house, a city's zip codes).
    assert {"sqft_living", "city"} <= drifted <= {"sqft_living", "city", "statezip"}


def test_small_samples_are_judged_by_tests_not_distances() -> None:
    rows = sample_rows().sample(frac=1.0, random_state=3)
    reference, current = rows.iloc[:400], rows.iloc[400:700].copy()
    same = {f.feature: f for f in compare(reference, current)}
    assert same["sqft_living"].method == "K-S p-value"
    assert same["view"].method == "chi-squared p-value"
    assert not same["sqft_living"].drifted
    current["sqft_living"] = current["sqft_living"] + 900
    moved = {f.feature: f for f in compare(reference, current)}
    assert moved["sqft_living"].drifted and moved["sqft_living"].statistic < 0.05


# -- through the data job


def raw_csv(bucket_1: Path, name: str, rows: pd.DataFrame) -> None:
    bucket_1.mkdir(parents=True, exist_ok=True)
    rows.to_csv(bucket_1 / name, index=False)


def champion_on(mlflow_uri: str, name: str, dataset_version: str) -> str:
    """A registered version holding the alias, tagged with the data it was trained on."""
    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(name), tags={"dataset_version": "v1"})
    mv = client.create_model_version(
        name,
        f"runs:/{run.info.run_id}/model",
        run_id=run.info.run_id,
        tags={"dataset_version": dataset_version},
    )
    client.set_registered_model_alias(name, "champion", mv.version)
    return str(mv.version)


@pytest.fixture
def raw_sales() -> pd.DataFrame:
    valid, _ = validate_frame(pd.read_csv(SAMPLE_CSV))  # only rows the job accepts
    return valid.reset_index(drop=True)


def test_each_new_version_is_compared_with_the_champions_data(
    make_settings, mlflow_uri: str, pushgateway_url: str, raw_sales: pd.DataFrame
) -> None:
    registered = f"drift-{uuid.uuid4().hex[:8]}"
    settings = make_settings(
        MLFLOW_TRACKING_URI=mlflow_uri,
        REGISTERED_MODEL_NAME=registered,
        PUSHGATEWAY_URL=pushgateway_url,
    )
    bucket_1, bucket_2 = Path(settings.BUCKET_1), open_bucket(settings.BUCKET_2)
    lines: list[str] = []

    raw_csv(bucket_1, "a.csv", raw_sales.iloc[:1200])
    first = run(settings, emit=lines.append)
    assert first["version"] == "v1" and first["drift"] is None  # nothing to compare with
    assert not bucket_2.exists("versioned/v1/drift.json")

    shifted = raw_sales.iloc[1200:2400].copy()
    shifted["sqft_living"] = (shifted["sqft_living"] * 1.6).astype("int64")
    shifted["sqft_above"] = shifted["sqft_living"] - shifted["sqft_basement"]
    raw_csv(bucket_1, "b.csv", shifted)
    second = run(settings, emit=lines.append)
    assert second["version"] == "v2"
    assert second["drift"]["reference"] == "previous versions"  # no champion yet
    assert "sqft_living" in second["drift"]["drifted"]
    samples = pushed(pushgateway_url)
    job = {"job": "data-job"}
    assert one(samples, "houseprice_feature_drift", feature="sqft_living", **job) == 1
    assert one(samples, "houseprice_drift_dataset_version", **job) == 2
    assert one(samples, "houseprice_drift_share", **job) == pytest.approx(
        second["drift"]["share"], abs=1e-4
    )

    # The champion was trained on v1: v3 (like v1) is compared with v1 only, not with v2.
    model_version = champion_on(mlflow_uri, registered, "v1")
    raw_csv(bucket_1, "c.csv", raw_sales.iloc[2400:3600])
    third = run(settings, emit=lines.append)
    assert third["version"] == "v3"
    assert third["drift"]["reference"] == f"champion's data v1 (model version {model_version})"
    assert "sqft_living" not in third["drift"]["drifted"]
    report = json.loads(bucket_2.read_text("versioned/v3/drift.json"))
    assert report["reference_versions"] == ["v1"]
    assert report["current_rows"] == 1200 and 0 < report["reference_rows"] < 1200
    assert set(report["features"]) == set(FEATURES)
    assert report["drift_share"] == pytest.approx(
        np.mean([f["drifted"] for f in report["features"].values()])
    )
    html = bucket_2.read_text("versioned/v3/drift.html")
    assert "<table>" in html and "sqft_living" in html and "champion&#39;s data v1" in html
    assert one(pushed(pushgateway_url), "houseprice_feature_drift", feature="sqft_living") == 0
    assert any(line.startswith("drift of v3 vs champion's data v1") for line in lines)


def test_a_failing_drift_check_never_fails_the_data_job(
    make_settings, raw_sales: pd.DataFrame, caplog
) -> None:
    # MLflow unreachable: the previous versions are the reference; then v1's data unreadable.
    settings = make_settings(MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}")
    bucket_1, bucket_2 = Path(settings.BUCKET_1), open_bucket(settings.BUCKET_2)
    raw_csv(bucket_1, "a.csv", raw_sales.iloc[:1200])
    assert run(settings, emit=lambda line: None)["version"] == "v1"
    raw_csv(bucket_1, "b.csv", raw_sales.iloc[1200:2400])
    second = run(settings, emit=lambda line: None)
    assert second["drift"]["reference"] == "previous versions"
    assert "champion unknown" in caplog.text

    bucket_2.write_bytes("versioned/v1/train.csv", b"\x00not,a,csv\n")
    raw_csv(bucket_1, "c.csv", raw_sales.iloc[2400:3600])
    third = run(settings, emit=lambda line: None)
    assert third["ok"] and third["version"] == "v3"
    assert "error" in third["drift"]
    assert bucket_2.exists("versioned/v3/manifest.json")
    assert not bucket_2.exists("versioned/v3/drift.json")
