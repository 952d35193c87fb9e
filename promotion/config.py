"""Promotion settings, read from the environment with documented defaults.

| variable | default | meaning |
| --- | --- | --- |
| PROMOTION_CONFIDENCE | 0.95 | confidence of the paired bootstrap interval |
| PROMOTION_MIN_MARGIN | 0.002 | MdAPE improvement required beyond noise (0.002 = 0.2 points) |
| PROMOTION_BOOTSTRAP_SAMPLES | 1000 | bootstrap resamples per comparison |
| PROMOTION_RECENT_MIN_ROWS | 200 | smallest out-of-time set (older versions' rows fill it up) |
| PROMOTION_LEASE_SECONDS | 900 | a promoter's lease in BUCKET_2 (a crashed one's expires) |
| INTERVAL_LEVEL | 0.8 | coverage of the price range stored with each promoted version |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass


class PromotionConfigError(ValueError):
    """A promotion setting holds a value the rule cannot use."""


@dataclass(frozen=True)
class PromotionConfig:
    confidence: float = 0.95
    min_margin: float = 0.002
    bootstrap_samples: int = 1000
    recent_min_rows: int = 200
    lease_seconds: float = 900.0
    interval_level: float = 0.8
    seed: int = 0  # fixed: the same inputs always give the same decision

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PromotionConfig:
        env = os.environ if environ is None else environ
        default = cls()
        errors: list[str] = []

        def read(name: str, kind: type, current: float, low: float, high: float | None):
            raw = env.get(name, "").strip()
            if not raw:
                return current
            try:
                value = kind(raw)
            except ValueError:
                errors.append(f"{name}={raw!r}: must be a {kind.__name__}")
                return current
            if value < low or (high is not None and value >= high):
                bound = f"in [{low}, {high})" if high is not None else f"at least {low}"
                errors.append(f"{name}={raw!r}: must be {bound}")
            return value

        config = cls(
            confidence=read("PROMOTION_CONFIDENCE", float, default.confidence, 0.5, 1.0),
            min_margin=read("PROMOTION_MIN_MARGIN", float, default.min_margin, 0.0, 1.0),
            bootstrap_samples=read(
                "PROMOTION_BOOTSTRAP_SAMPLES", int, default.bootstrap_samples, 100, None
            ),
            recent_min_rows=read(
                "PROMOTION_RECENT_MIN_ROWS", int, default.recent_min_rows, 1, None
            ),
            lease_seconds=read("PROMOTION_LEASE_SECONDS", float, default.lease_seconds, 10, None),
            interval_level=read("INTERVAL_LEVEL", float, default.interval_level, 0.5, 1.0),
        )
        if errors:
            raise PromotionConfigError("invalid configuration:\n  " + "\n  ".join(errors))
        return config

    def record(self) -> dict[str, float | int]:
        return asdict(self)
