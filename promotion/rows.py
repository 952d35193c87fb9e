"""The rows promotion judges on: recent data first, the cumulative set as a guard.

- **recent** (out of time, the primary comparison): the validation rows of the newest
  dataset version; when it holds fewer than PROMOTION_RECENT_MIN_ROWS, the validation
  rows of the versions before it are added, newest first, until it does (the most
  recent window of sales the platform has seen).
- **guard**: the cumulative validation rows of v1..newest, so a challenger that wins on
  the newest sales cannot slip through while losing ground on the rest.

Only trusted rows count: corrections (rows the data job took from users, `source`
"correction:<request id>") never make up more of either set than they do of the
training data. The excess is left out deterministically (by a hash of the source), and
the decision records how many corrections each set kept and left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from houseprice.datasets import SOURCE_COLUMN, committed_versions, read_split, version_number
from houseprice.evaluation import rows_key
from houseprice.storage import Bucket

# The data job writes a correction's source as "correction:<request id>".
CORRECTION_PREFIX = "correction:"


@dataclass(frozen=True)
class EvaluationSet:
    dataset_version: str
    valid: pd.DataFrame  # cumulative validation rows v1..newest, in the order training saw
    rows_key: str  # houseprice.evaluation.rows_key(valid): ties recorded predictions to rows
    recent: np.ndarray  # bool mask over `valid`
    guard: np.ndarray  # bool mask over `valid`
    recent_versions: tuple[str, ...]
    train_rows: int
    train_corrections: int
    corrections: dict[str, dict[str, int]]  # per set: kept, left_out

    @property
    def train_correction_share(self) -> float:
        return self.train_corrections / self.train_rows if self.train_rows else 0.0

    def describe(self) -> dict[str, object]:
        return {
            "dataset_version": self.dataset_version,
            "recent_versions": list(self.recent_versions),
            "recent_rows": int(self.recent.sum()),
            "guard_rows": int(self.guard.sum()),
            "train_rows": self.train_rows,
            "train_corrections": self.train_corrections,
            "corrections": self.corrections,
        }


def is_correction(frame: pd.DataFrame) -> np.ndarray:
    if SOURCE_COLUMN not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame[SOURCE_COLUMN].fillna("").str.startswith(CORRECTION_PREFIX).to_numpy(bool)


def load(bucket: Bucket, newest: str, recent_min_rows: int) -> EvaluationSet:
    """Read v1..`newest` from BUCKET_2 and build both evaluation sets."""
    limit = version_number(newest)
    versions = [v for v in committed_versions(bucket) if version_number(v) <= limit]
    if not versions or versions[-1] != newest:
        raise LookupError(f"dataset version {newest} is not committed in {bucket.url}")
    valid_parts = [read_split(bucket, v, "valid") for v in versions]
    train_corrections = train_rows = 0
    for v in versions:
        train = read_split(bucket, v, "train")
        train_rows += len(train)
        train_corrections += int(is_correction(train).sum())
    return build(versions, valid_parts, train_rows, train_corrections, recent_min_rows)


def build(
    versions: list[str],
    valid_parts: list[pd.DataFrame],
    train_rows: int,
    train_corrections: int,
    recent_min_rows: int,
) -> EvaluationSet:
    valid = pd.concat(valid_parts, ignore_index=True)
    owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(valid_parts)])
    recent_versions: list[str] = []
    recent = np.zeros(len(valid), dtype=bool)
    for i in range(len(versions) - 1, -1, -1):
        recent |= owner == i
        recent_versions.insert(0, versions[i])
        if recent.sum() >= recent_min_rows:
            break
    share = train_corrections / train_rows if train_rows else 0.0
    corrections = is_correction(valid)
    order = _stable_order(valid)
    trusted_recent, recent_counts = _cap_corrections(recent, corrections, share, order)
    trusted_guard, guard_counts = _cap_corrections(
        np.ones(len(valid), dtype=bool), corrections, share, order
    )
    return EvaluationSet(
        dataset_version=versions[-1],
        valid=valid,
        rows_key=rows_key(valid),
        recent=trusted_recent,
        guard=trusted_guard,
        recent_versions=tuple(recent_versions),
        train_rows=train_rows,
        train_corrections=train_corrections,
        corrections={"recent": recent_counts, "guard": guard_counts},
    )


def _stable_order(valid: pd.DataFrame) -> np.ndarray:
    """Rank of each row by a hash of its source: which corrections to keep, reproducibly."""
    if SOURCE_COLUMN not in valid.columns:
        return np.arange(len(valid))
    hashed = pd.util.hash_pandas_object(valid[SOURCE_COLUMN].fillna(""), index=False)
    return np.argsort(np.argsort(hashed.to_numpy(), kind="stable"), kind="stable")


def _cap_corrections(
    mask: np.ndarray, corrections: np.ndarray, share: float, order: np.ndarray
) -> tuple[np.ndarray, dict[str, int]]:
    """`mask` without the corrections beyond `share` of the kept rows."""
    candidates = np.flatnonzero(mask & corrections)
    plain = int((mask & ~corrections).sum())
    allowed = len(candidates) if share >= 1.0 else math.floor(share * plain / (1.0 - share) + 1e-9)
    kept = mask.copy()
    if len(candidates) > allowed:
        dropped = candidates[np.argsort(order[candidates], kind="stable")][allowed:]
        kept[dropped] = False
    left_out = len(candidates) - min(len(candidates), allowed)
    return kept, {"kept": len(candidates) - left_out, "left_out": left_out}
