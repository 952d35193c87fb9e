"""Past sales from the committed dataset versions: comparables, a zip's points, familiarity.

The cumulative rows (train and valid of v1..vN) of the newest committed version are read
once per version and kept in memory; the bucket is asked at most every `refresh_seconds`
whether a newer version was committed. Only the columns the answers need are kept.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from houseprice.datasets import latest_version, load_cumulative
from houseprice.storage import open_bucket

log = logging.getLogger(__name__)

# The columns kept per sale, and those a house is compared on.
KEPT = (
    "date",
    "price",
    "sqft_living",
    "bedrooms",
    "bathrooms",
    "yr_built",
    "street",
    "city",
    "statezip",
)
# How far one unit of each feature counts: 25 % of living area weighs as much as 15 years
# of age, one bedroom or one bathroom.
SCALES = {"sqft_living": math.log(1.25), "yr_built": 15.0, "bedrooms": 1.0, "bathrooms": 1.0}
# Familiarity: sales in the same zip within this share of the living area are "similar".
SIMILAR_SHARE = 0.25
FEW_SIMILAR = 3
RANGE_CHECKED = ("sqft_living", "bedrooms", "bathrooms", "yr_built")
MAX_POINTS = 400  # points of a zip's chart: the newest sales


@dataclass(frozen=True)
class Sales:
    """The sales of one dataset version, indexed by zip code."""

    version: str
    frame: pd.DataFrame  # KEPT columns, newest sale first
    by_zip: dict[str, np.ndarray]  # statezip -> row positions in `frame`
    bounds: dict[str, tuple[float, float]]  # feature -> (lowest, highest) seen
    numbers: dict[str, np.ndarray]  # compared features and price as float arrays, made once

    @classmethod
    def from_frame(cls, version: str, frame: pd.DataFrame) -> Sales:
        frame = frame.loc[:, list(KEPT)].copy()
        frame["date"] = frame["date"].fillna("").astype(str).str.slice(0, 10)
        # Newest first; a stable sort keeps the file order among sales of one day.
        frame = frame.sort_values("date", ascending=False, kind="stable").reset_index(drop=True)
        groups = frame.groupby("statezip", sort=False).indices
        bounds = {
            name: (float(frame[name].min()), float(frame[name].max())) for name in RANGE_CHECKED
        }
        numbers = {name: frame[name].to_numpy(dtype=float) for name in (*SCALES, "price")}
        by_zip = {str(k): np.asarray(v) for k, v in groups.items()}
        return cls(version, frame, by_zip, bounds, numbers)

    @property
    def rows(self) -> int:
        return len(self.frame)

    def comparables(self, house: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """The `limit` most similar sales: same zip code first, then nearest overall."""
        same = self.by_zip.get(house["statezip"], np.empty(0, dtype=np.int64))
        chosen = list(same[self._order(same, house, limit)][:limit])
        if len(chosen) < limit:
            others = np.setdiff1d(np.arange(self.rows), same, assume_unique=True)
            rest = limit - len(chosen)
            chosen += list(others[self._order(others, house, rest)][:rest])
        part = self.frame.iloc[chosen]
        columns = {name: part[name].tolist() for name in KEPT}  # far faster than to_dict
        rows = [{name: columns[name][i] for name in KEPT} for i in range(len(part))]
        return [{**_plain(row), "same_zip": row["statezip"] == house["statezip"]} for row in rows]

    def _order(self, positions: np.ndarray, house: dict[str, Any], limit: int) -> np.ndarray:
        """Indexes into `positions` of the nearest sales, nearest first, newer first on a tie."""
        distance = np.zeros(len(positions))
        for name, scale in SCALES.items():
            if house.get(name) is None:
                continue
            values = self.numbers[name][positions]
            if name == "sqft_living":
                gap = np.abs(np.log(values) - math.log(house[name]))
            else:
                gap = np.abs(values - float(house[name]))
            distance += gap / scale
        # Only the `limit` nearest matter: keep those within the limit-th distance (ties
        # included), then a stable sort: positions are newest first, so newer wins a tie.
        if len(distance) > limit:
            kth = np.partition(distance, limit - 1)[limit - 1]
            near = np.flatnonzero(distance <= kth)
        else:
            near = np.arange(len(distance))
        return near[np.argsort(distance[near], kind="stable")]

    def zip_points(self, statezip: str) -> list[list[float]]:
        """[living area, price] of the zip's newest sales, for its chart."""
        positions = self.by_zip.get(statezip, np.empty(0, dtype=np.int64))[:MAX_POINTS]
        area, price = self.numbers["sqft_living"][positions], self.numbers["price"][positions]
        return np.column_stack([area, price]).tolist()

    def familiarity(self, house: dict[str, Any]) -> dict[str, Any]:
        """How well past sales cover this house: similar sales in its zip, values never seen."""
        same = self.by_zip.get(house["statezip"], np.empty(0, dtype=np.int64))
        living = self.numbers["sqft_living"][same]
        similar = int((np.abs(living / house["sqft_living"] - 1) <= SIMILAR_SHARE).sum())
        outside = []
        for name in RANGE_CHECKED:
            value = house.get(name)
            low, high = self.bounds[name]
            if value is not None and not low <= value <= high:
                outside.append({"field": name, "value": value, "low": low, "high": high})
        return {
            "zip_sales": len(same),
            "similar_sales": similar,
            "similar_share": SIMILAR_SHARE,
            "outside": outside,
            "few_similar": similar < FEW_SIMILAR or bool(outside),
        }


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A sale as JSON values: whole numbers as ints, text as str."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, int | np.integer):
            out[key] = int(value)
        elif isinstance(value, float | np.floating):
            out[key] = int(value) if float(value).is_integer() else float(value)
        else:
            out[key] = str(value)
    return out


class SalesCache:
    """The newest version's sales, loaded once per version and shared by the threads."""

    def __init__(self, bucket_url: str, refresh_seconds: float) -> None:
        self.bucket_url = bucket_url
        self.refresh_seconds = refresh_seconds
        self._sales: Sales | None = None
        self._checked_at = -math.inf
        self._lock = threading.Lock()
        self.loads = 0  # versions read from the bucket, for the tests and logs

    def get(self) -> Sales | None:
        """The newest committed version's sales, or None while BUCKET_2 holds none."""
        if time.monotonic() - self._checked_at < self.refresh_seconds:
            return self._sales
        with self._lock:
            if time.monotonic() - self._checked_at < self.refresh_seconds:
                return self._sales
            bucket = open_bucket(self.bucket_url)
            version = latest_version(bucket)
            if version is not None and (self._sales is None or self._sales.version != version):
                started = time.perf_counter()
                train, valid = load_cumulative(bucket, version)
                self._sales = Sales.from_frame(version, pd.concat([train, valid]))
                self.loads += 1
                log.info(
                    "sales of dataset %s loaded: %d rows in %.2fs",
                    version,
                    self._sales.rows,
                    time.perf_counter() - started,
                )
            self._checked_at = time.monotonic()
            return self._sales
