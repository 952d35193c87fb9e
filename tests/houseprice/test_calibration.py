"""Range calibration: split-conformal quantiles of log-price residuals, kept in tags."""

from __future__ import annotations

import math

import numpy as np
import pytest

from houseprice.calibration import Calibration


def test_quantiles_by_hand():
    # Residuals log(price / prediction) of 0.0, 0.1, ..., 0.9 (ten rows); level 0.8:
    # k = ceil(11 * 0.9) = 10 -> the largest, and the lower rank 11 - 10 = 1 -> the smallest.
    residuals = np.arange(10) / 10
    prediction = np.full(10, 100_000.0)
    calibration = Calibration.fit(prediction * np.exp(residuals), prediction, level=0.8)
    assert calibration.log_low == pytest.approx(0.0)
    assert calibration.log_high == pytest.approx(0.9)
    assert calibration.rows == 10
    interval = calibration.interval(200_000.0)
    assert interval == {
        "low": pytest.approx(200_000.0),
        "high": pytest.approx(200_000.0 * math.exp(0.9)),
        "level": 0.8,
    }


def test_coverage_holds_on_new_data_from_the_same_errors():
    rng = np.random.default_rng(0)
    prediction = rng.uniform(2e5, 9e5, 4000)
    truth = prediction * np.exp(rng.normal(0.02, 0.2, 4000))
    calibration = Calibration.fit(truth[:2000], prediction[:2000], level=0.8)
    assert calibration.coverage(truth[2000:], prediction[2000:]) == pytest.approx(0.8, abs=0.03)


def test_tags_round_trip_and_missing_tags_say_why():
    calibration = Calibration(level=0.8, log_low=-0.21, log_high=0.19, rows=812)
    assert Calibration.from_tags({**calibration.tags(), "other": "x"}) == calibration
    assert Calibration.from_tags({}) is None
    assert "missing tags: interval_level" in Calibration.missing_reason({})
    broken = {**calibration.tags(), "interval_log_low": "wide"}
    assert Calibration.from_tags(broken) is None
    assert "not numbers" in Calibration.missing_reason(broken)
    assert Calibration.missing_reason(calibration.tags()) is None


def test_a_negative_prediction_widens_the_range_instead_of_failing():
    calibration = Calibration.fit(np.array([100.0, 100.0, 100.0]), np.array([100.0, 90.0, -5.0]))
    assert calibration.log_high == pytest.approx(math.log(100.0))  # counted as $1


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="positive prices"):
        Calibration.fit(np.array([1.0, -2.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="finite"):
        Calibration.fit(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="level"):
        Calibration.fit(np.array([1.0]), np.array([1.0]), level=1.0)
