"""Scoring a fitted model on house sales: the metrics every run and promotion use."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from houseprice.schema import FEATURE_NAMES, PRICE


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The 16 raw feature columns, in the order models are served with."""
    return frame.loc[:, list(FEATURE_NAMES)]


def target(frame: pd.DataFrame) -> np.ndarray:
    return frame[PRICE.name].to_numpy(dtype=np.float64)


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MdAPE (median absolute percentage error, a fraction: 0.11 = 11%), MAE, RMSE, R2."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if len(y_true) == 0:
        raise ValueError("cannot score a model on an empty evaluation set")
    return {
        "mdape": float(np.median(np.abs(y_pred - y_true) / y_true)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "r2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
    }


def evaluate(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    """Score `model` on the rows of `frame` (raw columns plus price)."""
    return score(target(frame), model.predict(features(frame)))


def ranking_key(metrics: dict[str, float]) -> tuple[float, float]:
    """Lower is better: MdAPE first, MAE breaks ties."""
    return (metrics["mdape"], metrics["mae"])
