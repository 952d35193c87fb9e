"""Shared pieces of the data job tests: inputs, runs, and an exact census of BUCKET_2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from pymongo import MongoClient

from data_collection_and_versioning import job
from houseprice import datasets, mongo
from houseprice.schema import FEATURES, validate_frame
from houseprice.settings import Settings
from houseprice.storage import Bucket, open_bucket
from tests.conftest import ROOT, SAMPLE_CSV
from tests.support.services import settings_env


def sample() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_CSV)


def clean_sample() -> pd.DataFrame:
    """The sample's rows that pass every record rule, renumbered."""
    frame = sample()
    valid, _ = validate_frame(frame, keep_index=True)
    return frame.loc[valid.index].reset_index(drop=True)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def put_raw(settings: Settings, key: str, frame_or_bytes: pd.DataFrame | bytes) -> None:
    data = frame_or_bytes if isinstance(frame_or_bytes, bytes) else csv_bytes(frame_or_bytes)
    open_bucket(settings.BUCKET_1).write_bytes(key, data)


def valid_sources(key: str, frame: pd.DataFrame) -> set[str]:
    """The `source` labels the valid rows of a CSV written from `frame` must get."""
    valid, _ = validate_frame(frame.reset_index(drop=True), keep_index=True)
    return {f"raw:{key}:{i + 2}" for i in valid.index}


def collection(settings: Settings):
    client = MongoClient(settings.MONGO_URI, tz_aware=True)
    return mongo.corrections(client, settings)


def correction(i: int, *, tag: str = "c", **changes: Any) -> dict[str, Any]:
    """A pending correction document as dbapp stores it, built from sample row i."""
    row = clean_sample().iloc[i % 3700]
    features = {}
    for spec in FEATURES:
        value = row[spec.name]
        features[spec.name] = (
            str(value) if spec.kind == "str" else int(value) if spec.kind == "int" else float(value)
        )
    doc = {
        "request_id": f"{tag}-{i}",
        "prediction_id": f"p-{tag}-{i}",
        "features": features,
        "corrected_price": 250_000.0 + i,
        "created_at": datetime(2025, 3, 1, 12, tzinfo=UTC) + timedelta(minutes=i),
        "consumed": False,
        "consumed_in": "",
    }
    doc.update(changes)
    return doc


def run(settings: Settings) -> tuple[dict[str, Any], list[str]]:
    lines: list[str] = []
    summary = job.run(settings, emit=lines.append)
    return summary, lines


def cli(
    settings: Settings | None,
    *args: str,
    fault: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess:
    """`python -m data_collection_and_versioning` as a real process."""
    full = {**os.environ, **(settings_env(settings) if settings else {}), **(env or {})}
    full.pop("HOUSEPRICE_FAULT_AT", None)
    if fault:
        full["HOUSEPRICE_FAULT_AT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "data_collection_and_versioning", *args],
        env=full,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def committed_rows(bucket: Bucket) -> pd.DataFrame:
    """Every committed row: all versions (via the public reader) plus live instream chunks."""
    frames = []
    for version in datasets.committed_versions(bucket):
        for split in ("train", "valid"):
            frame = datasets.read_split(bucket, version, split)
            frame["where"] = f"{version}/{split}"
            frames.append(frame)
    for key in bucket.list(datasets.INSTREAM_PREFIX):
        if key.endswith(".json"):
            data = bucket.read_bytes(key.removesuffix(".json") + ".csv")
            frame = pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""])
            frame["where"] = key.removesuffix(".json")
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*datasets.DATASET_COLUMNS, "where"])
    return pd.concat(frames, ignore_index=True)


def assert_exactly_once(rows: pd.DataFrame, expected_sources: set[str]) -> None:
    counts = Counter(rows["source"])
    repeated = {s: n for s, n in counts.items() if n > 1}
    assert not repeated, f"rows committed more than once: {list(repeated.items())[:5]}"
    missing = expected_sources - set(counts)
    extra = set(counts) - expected_sources
    assert not missing, f"{len(missing)} rows missing, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected rows, e.g. {sorted(extra)[:5]}"


def manifest(bucket: Bucket, version: str) -> dict[str, Any]:
    return json.loads(bucket.read_text(f"versioned/{version}/manifest.json"))
