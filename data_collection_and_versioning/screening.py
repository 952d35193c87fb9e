"""The plausibility screen: corrections that look absurd are held for review, not trained on.

A correction is compared with two references the platform already has:
- the price of the prediction it corrects (predictions collection, by `prediction_id`);
- the zip code's median sale price per square foot in the dataset versions so far, times
  the house's living area (all zips together when its zip has too few sales).

It is held when it is more than CORRECTION_MAX_RATIO times off (above or below) both:
two independent references agreeing, so an honest price the model got badly wrong, or an
unusual house for its zip, still goes through. Without both references (a correction
written without a stored prediction, or no dataset version yet) it is not judged and goes
through; the job's summary counts these as `unjudged`. A held correction stays in Mongo, marked by
houseprice.mongo.hold_update with the numbers that decided; an operator's review either
releases it (the screen then lets it through) or rejects it. Nothing is deleted.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pymongo.collection import Collection

from houseprice import datasets, mongo
from houseprice.settings import Settings
from houseprice.storage import Bucket

log = logging.getLogger("data_collection_and_versioning.screening")

Emit = Callable[[str], None]
ALL_ZIPS = "all"
# The reason a correction is held (consumed_in "held:<reason>").
FAR_FROM_BOTH = "far_from_prediction_and_zip"
_STAT_COLUMNS = ["price", "sqft_living", "statezip"]


@dataclass(frozen=True)
class Thresholds:
    max_ratio: float  # CORRECTION_MAX_RATIO
    min_zip_sales: int  # CORRECTION_MIN_ZIP_SALES

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(settings.CORRECTION_MAX_RATIO, settings.CORRECTION_MIN_ZIP_SALES)


@dataclass(frozen=True)
class ZipPrices:
    """Median sale price per square foot by zip (`statezip`), and over all zips."""

    version: str | None  # newest dataset version the figures come from
    per_sqft: dict[str, float]
    sales: dict[str, int]
    overall_per_sqft: float | None
    overall_sales: int

    @classmethod
    def from_sales(cls, sales: pd.DataFrame, version: str | None) -> ZipPrices:
        """From rows with `price`, `sqft_living` and `statezip` (e.g. a dataset's splits)."""
        usable = sales[(sales["sqft_living"] > 0) & (sales["price"] > 0)]
        rate = usable["price"].astype(float) / usable["sqft_living"].astype(float)
        grouped = rate.groupby(usable["statezip"].astype(str))
        overall = float(rate.median()) if len(rate) else None
        return cls(
            version=version,
            per_sqft={str(k): float(v) for k, v in grouped.median().items()},
            sales={str(k): int(v) for k, v in grouped.size().items()},
            overall_per_sqft=overall,
            overall_sales=len(rate),
        )

    @classmethod
    def empty(cls) -> ZipPrices:
        return cls(None, {}, {}, None, 0)

    def lookup(self, statezip: str, min_sales: int) -> tuple[float | None, int, str]:
        """(price per sqft, sales it rests on, scope: the zip or "all") for one zip."""
        count = self.sales.get(statezip, 0)
        if count >= min_sales:
            return self.per_sqft[statezip], count, statezip
        if self.overall_per_sqft is not None and self.overall_sales >= min_sales:
            return self.overall_per_sqft, self.overall_sales, ALL_ZIPS
        return None, 0, ALL_ZIPS


def zip_prices(bucket: Bucket) -> ZipPrices:
    """ZipPrices over every committed version in BUCKET_2 (only the three columns it needs)."""
    versions = datasets.committed_versions(bucket)
    frames = []
    for version in versions:
        for split in ("train", "valid"):
            data = bucket.read_bytes(f"{datasets.VERSION_PREFIX}{version}/{split}.csv")
            frames.append(
                pd.read_csv(
                    io.BytesIO(data),
                    usecols=_STAT_COLUMNS,
                    dtype={"price": "float64", "sqft_living": "float64", "statezip": "string"},
                    keep_default_na=False,
                    engine="pyarrow",
                )
            )
    if not frames:
        return ZipPrices.empty()
    return ZipPrices.from_sales(pd.concat(frames, ignore_index=True), versions[-1])


def screen_frame(frame: pd.DataFrame, zips: ZipPrices, thresholds: Thresholds) -> pd.DataFrame:
    """Judge corrections given as rows of `corrected_price`, `predicted_price` (NaN when the
    prediction is unknown), `sqft_living` and `statezip`.

    Returns one row per input row (same index): `held`, `reason`, `judged` (both references
    known) and the numbers that decided (`ratio_to_prediction`, `zip_price_per_sqft`,
    `zip_sales`, `zip_scope`, `expected_from_zip`, `ratio_to_zip`); a ratio is
    corrected / reference.
    """
    out = pd.DataFrame(index=frame.index)
    corrected = frame["corrected_price"].astype(float)
    predicted = frame["predicted_price"].astype(float)
    looked_up = [zips.lookup(str(z), thresholds.min_zip_sales) for z in frame["statezip"]]
    per_sqft = np.array([np.nan if p is None else p for p, _, _ in looked_up], dtype=float)
    out["predicted_price"] = predicted
    out["ratio_to_prediction"] = corrected / predicted.where(predicted > 0)
    out["zip_price_per_sqft"] = per_sqft
    out["zip_sales"] = [count for _, count, _ in looked_up]
    out["zip_scope"] = [scope for _, _, scope in looked_up]
    out["expected_from_zip"] = per_sqft * frame["sqft_living"].astype(float).to_numpy()
    out["ratio_to_zip"] = corrected / out["expected_from_zip"].where(out["expected_from_zip"] > 0)

    far_pred = _far(out["ratio_to_prediction"], thresholds.max_ratio)
    far_zip = _far(out["ratio_to_zip"], thresholds.max_ratio)
    out["judged"] = out["ratio_to_prediction"].notna() & out["ratio_to_zip"].notna()
    out["held"] = far_pred & far_zip  # False where a reference is missing
    out["reason"] = np.where(out["held"], FAR_FROM_BOTH, "")
    return out


def _far(ratio: pd.Series, max_ratio: float) -> pd.Series:
    """More than `max_ratio` times above or below the reference (False where unknown)."""
    return ratio.notna() & ((ratio > max_ratio) | (ratio < 1.0 / max_ratio))


def screen_pending(
    docs: list[dict[str, Any]],
    corrections: Collection,
    data_bucket: Bucket,
    settings: Settings,
    summary: dict[str, Any],
    emit: Emit,
) -> list[dict[str, Any]]:
    """The data job's hook: hold the implausible corrections among `docs`, return the rest.

    Held ones are marked in Mongo right away (only while still pending, so a concurrent
    change wins); the job never sees them. Corrections an operator accepted go through
    unjudged. Documents the screen cannot read are left to the job's own validation.
    """
    thresholds = Thresholds.from_settings(settings)
    released = mongo.released_by_review(corrections, [d["_id"] for d in docs])
    candidates = [d for d in docs if d["_id"] not in released and _readable(d)]
    stats: dict[str, Any] = {
        "screened": len(candidates),
        "held": 0,
        "unjudged": 0,
        "released_by_review": len(released),
        "reasons": {},
        "max_ratio": thresholds.max_ratio,
        "zip_prices_from": None,
    }
    summary["screening"] = stats
    if not candidates:
        if released:
            emit(f"screened 0 corrections; {len(released)} released by review go through")
        return docs
    zips = zip_prices(data_bucket)
    stats["zip_prices_from"] = zips.version
    frame = corrections_frame(candidates, _predicted_prices(corrections, settings, candidates))
    verdicts = screen_frame(frame, zips, thresholds)
    stats["unjudged"] = int((~verdicts["judged"]).sum())
    held_ids: set[Any] = set()
    reasons: Counter[str] = Counter()
    for doc, (_, verdict) in zip(candidates, verdicts.iterrows(), strict=True):
        if not verdict["held"]:
            continue
        record = _screen_record(verdict, thresholds, zips.version)
        marked = corrections.update_one(
            {"_id": doc["_id"], **mongo.PENDING},
            mongo.hold_update(verdict["reason"], record),
        )
        if marked.modified_count:
            held_ids.add(doc["_id"])
            reasons[verdict["reason"]] += 1
            log.info("held correction %s: %s %s", doc.get("request_id"), verdict["reason"], record)
    stats["held"] = len(held_ids)
    stats["reasons"] = dict(reasons)
    detail = ", ".join(f"{reason} {count}" for reason, count in reasons.most_common())
    emit(
        f"screened {len(candidates)} corrections (max ratio {thresholds.max_ratio:g}, zip prices "
        f"from {zips.version or 'no version yet'}): {len(held_ids)} held for review"
        + (f" ({detail})" if detail else "")
        + (f"; {stats['unjudged']} without both references not judged" if stats["unjudged"] else "")
        + (f"; {len(released)} released by review go through" if released else "")
    )
    return [d for d in docs if d["_id"] not in held_ids]


def corrections_frame(
    docs: list[Mapping[str, Any]], predicted: Mapping[str, float]
) -> pd.DataFrame:
    """The columns screen_frame reads, from correction documents and their predictions' prices."""
    return pd.DataFrame(
        {
            "corrected_price": [float(d["corrected_price"]) for d in docs],
            "predicted_price": [predicted.get(str(d.get("prediction_id")), np.nan) for d in docs],
            "sqft_living": [float(d["features"]["sqft_living"]) for d in docs],
            "statezip": [str(d["features"]["statezip"]) for d in docs],
        }
    )


def _readable(doc: Mapping[str, Any]) -> bool:
    """Whether the screen can judge it; anything else is the job's validation to reject."""
    features = doc.get("features")
    price = doc.get("corrected_price")
    if not isinstance(features, Mapping) or isinstance(price, bool):
        return False
    area, statezip = features.get("sqft_living"), features.get("statezip")
    return (
        isinstance(price, int | float)
        and np.isfinite(price)
        and price > 0
        and isinstance(area, int | float)
        and not isinstance(area, bool)
        and np.isfinite(area)
        and isinstance(statezip, str)
    )


def _predicted_prices(
    corrections: Collection, settings: Settings, docs: list[Mapping[str, Any]]
) -> dict[str, float]:
    """Price of each corrected prediction found, by its request_id."""
    ids = sorted({d["prediction_id"] for d in docs if isinstance(d.get("prediction_id"), str)})
    if not ids:
        return {}
    predictions = mongo.predictions(corrections.database.client, settings)
    found = predictions.find({"request_id": {"$in": ids}}, {"_id": 0, "request_id": 1, "price": 1})
    return {
        doc["request_id"]: float(doc["price"])
        for doc in found
        if isinstance(doc.get("price"), int | float) and not isinstance(doc.get("price"), bool)
    }


def _screen_record(verdict: pd.Series, thresholds: Thresholds, version: str | None) -> dict:
    """The numbers that decided, as plain JSON-able values (None where unknown)."""

    def number(name: str) -> float | None:
        value = verdict[name]
        return None if pd.isna(value) else round(float(value), 4)

    return {
        "max_ratio": thresholds.max_ratio,
        "predicted_price": number("predicted_price"),
        "ratio_to_prediction": number("ratio_to_prediction"),
        "zip_scope": str(verdict["zip_scope"]),
        "zip_sales": int(verdict["zip_sales"]),
        "zip_price_per_sqft": number("zip_price_per_sqft"),
        "expected_from_zip": number("expected_from_zip"),
        "ratio_to_zip": number("ratio_to_zip"),
        "dataset_version": version,
    }
