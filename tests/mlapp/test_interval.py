"""The calibrated price range in every answer, read from the served version's tags."""

from __future__ import annotations

import math

import numpy as np
import pytest

from houseprice.calibration import Calibration
from houseprice.schema import FEATURE_NAMES
from tests.mlapp.conftest import mlapp_settings, model_name, promote, register, train


def _calibrated(mlflow_uri, sample, calibration: Calibration | None, tags: dict | None = None):
    from mlflow import MlflowClient

    name = model_name()
    registered = register(mlflow_uri, name, train(sample), sample, champion=False)
    client = MlflowClient(tracking_uri=mlflow_uri)
    for key, value in {**(calibration.tags() if calibration else {}), **(tags or {})}.items():
        client.set_model_version_tag(name, registered.version, key, value)
    promote(mlflow_uri, registered)
    return registered


@pytest.fixture(scope="module")
def calibration(sample) -> Calibration:
    model = train(sample)
    prices = sample["price"].to_numpy(float)
    predicted = model.predict(sample.loc[:, list(FEATURE_NAMES)])
    return Calibration.fit(prices, np.maximum(predicted, 1.0))


def test_every_answer_carries_the_versions_range(
    tmp_path, mlflow_uri, sample, records, app_for, calibration
):
    registered = _calibrated(mlflow_uri, sample, calibration)
    client = app_for(mlapp_settings(tmp_path, mlflow_uri, registered.name)).test_client()

    one = client.post("/predict", json=records[0]).json
    price = registered.expected(records[:1])[0]
    assert one["price"] == pytest.approx(price, abs=0.006)
    assert one["interval"] == {
        "low": pytest.approx(price * math.exp(calibration.log_low), abs=0.006),
        "high": pytest.approx(price * math.exp(calibration.log_high), abs=0.006),
        "level": calibration.level,
    }
    assert one["interval"]["low"] < one["price"] < one["interval"]["high"]

    many = client.post("/predict", json=records[:10]).json
    assert len(many["intervals"]) == len(many["prices"]) == 10
    for got, expected in zip(many["intervals"], registered.expected(records[:10]), strict=True):
        want = calibration.interval(expected)
        assert got == {
            "low": pytest.approx(want["low"], abs=0.006),
            "high": pytest.approx(want["high"], abs=0.006),
            "level": want["level"],
        }

    status = client.get("/model").json["interval"]
    assert status == {
        "served": True,
        "level": calibration.level,
        "log_low": calibration.log_low,
        "log_high": calibration.log_high,
        "rows": calibration.rows,
    }


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({}, "missing tags"),
        (
            {"interval_level": "0.8", "interval_log_low": "wide", "interval_log_high": "0.2"},
            "not numbers",
        ),
    ],
    ids=["no-calibration", "bad-tags"],
)
def test_without_a_calibration_the_price_is_served_and_model_says_why(
    tmp_path, mlflow_uri, sample, records, app_for, tags, reason
):
    if tags:
        tags = {**tags, "interval_rows": "100"}
    registered = _calibrated(mlflow_uri, sample, None, tags)
    client = app_for(mlapp_settings(tmp_path, mlflow_uri, registered.name)).test_client()
    one = client.post("/predict", json=records[0])
    assert one.status_code == 200
    assert "interval" not in one.json
    assert one.json["price"] == pytest.approx(registered.expected(records[:1])[0], abs=0.006)
    assert "intervals" not in client.post("/predict", json=records[:3]).json
    status = client.get("/model").json["interval"]
    assert status["served"] is False and reason in status["reason"]
