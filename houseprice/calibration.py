"""Calibrated price ranges: split-conformal quantiles of held-out log-price residuals.

At promotion the platform measures the residuals r = log(price) - log(prediction) of
the promoted version on evaluation rows it never trained on. For a level (say 0.8) the
low and high quantiles of r, with the finite-sample correction of split conformal
prediction, give a range [prediction * exp(low), prediction * exp(high)] that holds
about that share of later prices when those resemble the evaluation rows. The range is
multiplicative, so it widens with the price, as house-price errors do.

Stored with the model version as tags (TAG_* below); mlapp reads them with
`Calibration.from_tags` for every prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TAG_LEVEL = "interval_level"
TAG_LOG_LOW = "interval_log_low"
TAG_LOG_HIGH = "interval_log_high"
TAG_ROWS = "interval_rows"
TAGS = (TAG_LEVEL, TAG_LOG_LOW, TAG_LOG_HIGH, TAG_ROWS)

DEFAULT_LEVEL = 0.8


@dataclass(frozen=True)
class Calibration:
    level: float
    log_low: float  # quantile of log(price / prediction): usually negative
    log_high: float
    rows: int  # residuals it was computed from

    @classmethod
    def fit(
        cls, y_true: np.ndarray, y_pred: np.ndarray, level: float = DEFAULT_LEVEL
    ) -> Calibration:
        """From held-out prices (positive) and finite predictions.

        A prediction under one dollar (a linear model can predict a negative price) is
        counted as one dollar: its large residual widens the range, as it should.
        """
        if not 0.0 < level < 1.0:
            raise ValueError("level must be strictly between 0 and 1")
        y_true = np.asarray(y_true, dtype=np.float64)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        if len(y_true) == 0 or y_true.shape != y_pred.shape:
            raise ValueError("calibration needs one prediction per held-out price")
        if not (np.all(y_true > 0) and np.all(np.isfinite(y_pred))):
            raise ValueError("calibration needs positive prices and finite predictions")
        residuals = np.sort(np.log(y_true) - np.log(np.maximum(y_pred, 1.0)))
        n = len(residuals)
        tail = (1.0 - level) / 2.0
        # Split conformal: the k-th smallest with k = ceil((n + 1)(1 - tail)), clipped to n.
        upper_rank = min(n, math.ceil((n + 1) * (1.0 - tail)))
        lower_rank = max(1, n + 1 - upper_rank)
        return cls(
            level=level,
            log_low=float(residuals[lower_rank - 1]),
            log_high=float(residuals[upper_rank - 1]),
            rows=n,
        )

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Calibration | None:
        """The calibration stored with a model version, or None (see `missing_reason`)."""
        if cls.missing_reason(tags) is not None:
            return None
        return cls(
            level=float(tags[TAG_LEVEL]),
            log_low=float(tags[TAG_LOG_LOW]),
            log_high=float(tags[TAG_LOG_HIGH]),
            rows=int(tags[TAG_ROWS]),
        )

    @staticmethod
    def missing_reason(tags: dict[str, str]) -> str | None:
        """Why `from_tags` gives None for these tags, or None when it gives a calibration."""
        missing = [t for t in TAGS if t not in tags]
        if missing:
            return (
                f"the model version has no range calibration (missing tags: {', '.join(missing)})"
            )
        try:
            level, low, high = (float(tags[t]) for t in (TAG_LEVEL, TAG_LOG_LOW, TAG_LOG_HIGH))
            rows = int(tags[TAG_ROWS])
        except ValueError:
            return "the model version's range calibration tags are not numbers"
        if not (0.0 < level < 1.0 and math.isfinite(low) and math.isfinite(high) and low <= high):
            return "the model version's range calibration tags are out of range"
        if rows < 1:
            return "the model version's range calibration was computed from no rows"
        return None

    def tags(self) -> dict[str, str]:
        return {
            TAG_LEVEL: f"{self.level:g}",
            TAG_LOG_LOW: repr(self.log_low),
            TAG_LOG_HIGH: repr(self.log_high),
            TAG_ROWS: str(self.rows),
        }

    def interval(self, price: float) -> dict[str, float]:
        """The calibrated range around a predicted price."""
        return {
            "low": float(price * math.exp(self.log_low)),
            "high": float(price * math.exp(self.log_high)),
            "level": self.level,
        }

    def coverage(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Share of `y_true` inside the range of its prediction (for measuring)."""
        y_pred = np.maximum(np.asarray(y_pred, np.float64), 1.0)
        ratio = np.log(np.asarray(y_true, np.float64)) - np.log(y_pred)
        return float(np.mean((ratio >= self.log_low) & (ratio <= self.log_high)))
