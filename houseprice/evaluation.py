"""Scoring a fitted model on house sales: the metrics every run and promotion use.

Scoring never trusts process-wide scikit-learn settings: mlapp's predictor sets
`assume_finite=True` for speed, and a process that imported it (a test session, a
notebook) would otherwise skip the finiteness checks here. Predictions are made under
a local `sklearn.config_context` and checked explicitly.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from houseprice.schema import FEATURE_NAMES, PRICE


class NonFinitePredictions(ValueError):
    """A model predicted NaN or infinity: it cannot be scored, trained on or served."""


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The 16 raw feature columns, in the order models are served with."""
    return frame.loc[:, list(FEATURE_NAMES)]


def target(frame: pd.DataFrame) -> np.ndarray:
    return frame[PRICE.name].to_numpy(dtype=np.float64)


def rows_key(frame: pd.DataFrame) -> str:
    """A short fingerprint of which rows (and prices) an evaluation used, in order."""
    columns = [c for c in ("source", PRICE.name, "date") if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame.loc[:, columns], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def checked_settings() -> Any:
    """scikit-learn settings for fitting and scoring, whatever the process set globally."""
    return sklearn.config_context(assume_finite=False, skip_parameter_validation=False)


def predict(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """Predictions for the rows of `frame`; NonFinitePredictions if any is NaN or infinite."""
    with checked_settings():
        y_pred = np.asarray(model.predict(features(frame)), dtype=np.float64)
    check_finite(y_pred)
    return y_pred


def check_finite(y_pred: np.ndarray) -> None:
    bad = int(np.count_nonzero(~np.isfinite(y_pred)))
    if bad:
        raise NonFinitePredictions(
            f"Input contains infinity or NaN: {bad} of {len(y_pred)} predictions are not finite"
        )


def abs_pct_errors(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-row absolute percentage errors (fractions): what MdAPE is the median of."""
    return np.abs(np.asarray(y_pred, np.float64) - y_true) / y_true


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MdAPE (median absolute percentage error, a fraction: 0.11 = 11%), MAE, RMSE, R2.

    Refuses non-finite predictions and any NaN metric (R2 of a single row excepted:
    it is undefined, and reported as NaN).
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if len(y_true) == 0:
        raise ValueError("cannot score a model on an empty evaluation set")
    check_finite(y_pred)
    metrics = {
        "mdape": float(np.median(abs_pct_errors(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "r2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
    }
    undefined = [
        k for k, v in metrics.items() if math.isnan(v) and not (k == "r2" and len(y_true) == 1)
    ]
    if undefined:
        raise ValueError(f"scoring gave NaN for {', '.join(undefined)}: refusing the metrics")
    return metrics


def evaluate(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    """Score `model` on the rows of `frame` (raw columns plus price)."""
    return score(target(frame), predict(model, frame))


def ranking_key(metrics: dict[str, float]) -> tuple[float, float]:
    """Lower is better: MdAPE first, MAE breaks ties."""
    return (metrics["mdape"], metrics["mae"])
