"""Reading versioned datasets from BUCKET_2.

Layout: `versioned/vN/{train.csv,valid.csv,manifest.json}` and `instream/`.
A version exists only once its manifest is written (the manifest is the commit
marker, written last), so every reader here ignores a folder without one.
Each version holds the rows that arrived since its parent; training uses the
cumulative union v1..vN.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from houseprice.schema import FEATURES, PANDAS_DTYPES, RAW_COLUMNS
from houseprice.storage import Bucket

VERSION_PREFIX = "versioned/"
INSTREAM_PREFIX = "instream/"
MANIFEST = "manifest.json"
_MANIFEST_KEY = re.compile(r"versioned/v(\d+)/manifest\.json")
# Extra column in versioned CSVs: where each row came from (file and line, or correction id).
SOURCE_COLUMN = "source"
DATASET_COLUMNS: tuple[str, ...] = (*RAW_COLUMNS, SOURCE_COLUMN)

_DTYPES: dict[str, Any] = {f.name: PANDAS_DTYPES[f.kind] for f in FEATURES}
_DTYPES.update({"price": "float64", "date": "string", SOURCE_COLUMN: "string"})


@dataclass(frozen=True)
class Dataset:
    """The cumulative train and validation rows of versions v1..`version`."""

    version: str
    train: pd.DataFrame
    valid: pd.DataFrame


class NoDatasetVersion(LookupError):
    """BUCKET_2 holds no committed dataset version yet."""


def version_number(version: str) -> int:
    match = re.fullmatch(r"v(\d+)", version)
    if not match:
        raise ValueError(f"not a dataset version: {version!r} (expected v1, v2, ...)")
    return int(match.group(1))


def committed_versions(bucket: Bucket) -> list[str]:
    """Committed versions, oldest first (v2 before v10)."""
    numbers = [
        int(m.group(1))
        for key in bucket.list(VERSION_PREFIX)
        if (m := _MANIFEST_KEY.fullmatch(key))
    ]
    return [f"v{n}" for n in sorted(numbers)]


def latest_version(bucket: Bucket) -> str | None:
    versions = committed_versions(bucket)
    return versions[-1] if versions else None


def read_manifest(bucket: Bucket, version: str) -> dict[str, Any]:
    version_number(version)
    return json.loads(bucket.read_text(f"{VERSION_PREFIX}{version}/{MANIFEST}"))


def read_split(bucket: Bucket, version: str, split: str) -> pd.DataFrame:
    """One split ("train" or "valid") of one version, with the platform's dtypes."""
    if split not in ("train", "valid"):
        raise ValueError("split must be 'train' or 'valid'")
    data = bucket.read_bytes(f"{VERSION_PREFIX}{version}/{split}.csv")
    # The pyarrow parser is several times faster on million-row splits; same result.
    frame = pd.read_csv(
        io.BytesIO(data), dtype=_DTYPES, keep_default_na=False, na_values=[""], engine="pyarrow"
    )
    frame["date"] = frame["date"].fillna("")
    return frame


def load_cumulative(bucket: Bucket, up_to: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, valid) of every committed version up to and including `up_to` (default: newest)."""
    versions = committed_versions(bucket)
    if not versions:
        raise NoDatasetVersion(f"no dataset version in {bucket.url} yet: run the data job first")
    if up_to is not None:
        limit = version_number(up_to)
        versions = [v for v in versions if version_number(v) <= limit]
        if not versions or versions[-1] != up_to:
            raise NoDatasetVersion(f"dataset version {up_to} is not committed in {bucket.url}")
    train = pd.concat([read_split(bucket, v, "train") for v in versions], ignore_index=True)
    valid = pd.concat([read_split(bucket, v, "valid") for v in versions], ignore_index=True)
    return train, valid
