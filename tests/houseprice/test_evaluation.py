"""Metrics used for runs and for promotion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from houseprice.evaluation import (
    NonFinitePredictions,
    evaluate,
    predict,
    ranking_key,
    rows_key,
    score,
)
from tests.support.datasets import sample_rows


def test_score_by_hand():
    truth = np.array([100.0, 200.0, 400.0])
    guess = np.array([110.0, 150.0, 400.0])
    metrics = score(truth, guess)
    assert metrics["mdape"] == pytest.approx(0.10)  # errors 10%, 25%, 0%
    assert metrics["mae"] == pytest.approx(20.0)
    assert metrics["rmse"] == pytest.approx(math.sqrt((100 + 2500) / 3))
    assert metrics["r2"] == pytest.approx(1 - 2600 / np.sum((truth - truth.mean()) ** 2))


def test_single_row_has_no_r2_and_empty_is_refused():
    assert math.isnan(score(np.array([100.0]), np.array([90.0]))["r2"])
    with pytest.raises(ValueError, match="empty"):
        score(np.array([]), np.array([]))


def test_ranking_prefers_mdape_then_mae():
    better = {"mdape": 0.10, "mae": 900.0}
    tie_worse_mae = {"mdape": 0.10, "mae": 1000.0}
    worse = {"mdape": 0.11, "mae": 10.0}
    assert sorted([worse, tie_worse_mae, better], key=ranking_key) == [better, tie_worse_mae, worse]


def test_evaluate_passes_the_raw_feature_columns_in_order():
    rows = sample_rows().iloc[:50]
    seen: list[pd.DataFrame] = []

    class Echo:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            seen.append(frame)
            return frame["sqft_living"].to_numpy() * 250.0

    metrics = evaluate(Echo(), rows)
    assert list(seen[0].columns)[:3] == ["bedrooms", "bathrooms", "sqft_living"]
    assert "price" not in seen[0].columns and "source" not in seen[0].columns
    expected = np.median(np.abs(rows["sqft_living"] * 250.0 - rows["price"]) / rows["price"])
    assert metrics["mdape"] == pytest.approx(expected)


def test_non_finite_predictions_and_nan_metrics_are_refused():
    truth = np.array([100.0, 200.0])
    with pytest.raises(NonFinitePredictions, match="1 of 2 predictions are not finite"):
        score(truth, np.array([100.0, np.inf]))
    with pytest.raises(NonFinitePredictions):
        score(truth, np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="NaN"):  # a NaN price is refused too
        score(np.array([np.nan, 100.0]), np.array([1.0, 2.0]))


def test_predict_checks_even_when_the_process_assumes_finite_input():
    import sklearn

    class Overflowing:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return np.full(len(frame), np.inf)

    rows = sample_rows().iloc[:20]
    model = Overflowing()
    with sklearn.config_context(assume_finite=True):
        with pytest.raises(NonFinitePredictions):
            predict(model, rows)
        assert sklearn.get_config()["assume_finite"]  # the caller's setting is left alone


def test_rows_key_follows_rows_and_prices():
    rows = sample_rows().iloc[:30]
    assert rows_key(rows) == rows_key(rows.copy())
    assert rows_key(rows) != rows_key(rows.iloc[:29])
    changed = rows.copy()
    changed.iloc[0, changed.columns.get_loc("price")] += 1
    assert rows_key(rows) != rows_key(changed)
