"""Reading BUCKET_2: only committed versions count, in numeric order, cumulatively."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from houseprice import datasets
from houseprice.schema import validate_frame
from houseprice.storage import LocalBucket
from tests.conftest import SAMPLE_CSV


@pytest.fixture
def bucket(tmp_path: Path) -> LocalBucket:
    return LocalBucket(tmp_path)


def rows(start: int, stop: int) -> pd.DataFrame:
    valid, _ = validate_frame(pd.read_csv(SAMPLE_CSV))  # the sales that pass every rule
    valid = valid.iloc[start:stop].reset_index(drop=True)
    valid["source"] = [f"raw:s.csv:{i}" for i in range(start + 2, start + 2 + len(valid))]
    return valid


def commit(bucket: LocalBucket, version: str, train: pd.DataFrame, valid: pd.DataFrame) -> None:
    bucket.write_bytes(f"versioned/{version}/train.csv", train.to_csv(index=False).encode())
    bucket.write_bytes(f"versioned/{version}/valid.csv", valid.to_csv(index=False).encode())
    manifest = {"version": version, "rows": {"train": len(train), "valid": len(valid)}}
    bucket.write_text(f"versioned/{version}/manifest.json", json.dumps(manifest))


def test_empty_bucket_has_no_version(bucket: LocalBucket) -> None:
    assert datasets.committed_versions(bucket) == []
    assert datasets.latest_version(bucket) is None
    with pytest.raises(datasets.NoDatasetVersion, match="run the data job first"):
        datasets.load_cumulative(bucket)


def test_a_folder_without_manifest_is_not_a_version(bucket: LocalBucket) -> None:
    commit(bucket, "v1", rows(0, 10), rows(10, 12))
    bucket.write_bytes("versioned/v2/train.csv", rows(12, 20).to_csv(index=False).encode())
    bucket.write_bytes("versioned/v2/valid.csv", b"date,price\n")
    assert datasets.committed_versions(bucket) == ["v1"]
    assert datasets.latest_version(bucket) == "v1"
    train, _ = datasets.load_cumulative(bucket)
    assert len(train) == 10
    with pytest.raises(datasets.NoDatasetVersion, match="v2 is not committed"):
        datasets.load_cumulative(bucket, up_to="v2")


def test_versions_sort_by_number(bucket: LocalBucket) -> None:
    for number in (10, 2, 1, 11):
        commit(bucket, f"v{number}", rows(number, number + 2), rows(0, 0))
    bucket.write_text("versioned/notes/manifest.json", "{}")  # not a version name
    assert datasets.committed_versions(bucket) == ["v1", "v2", "v10", "v11"]
    assert datasets.latest_version(bucket) == "v11"


def test_cumulative_union_up_to_a_version(bucket: LocalBucket) -> None:
    commit(bucket, "v1", rows(0, 80), rows(80, 100))
    commit(bucket, "v2", rows(100, 140), rows(140, 150))
    commit(bucket, "v3", rows(150, 160), rows(160, 170))

    train, valid = datasets.load_cumulative(bucket)
    assert (len(train), len(valid)) == (130, 40)
    assert train["source"].is_unique and valid["source"].is_unique
    assert list(train["source"][:2]) == ["raw:s.csv:2", "raw:s.csv:3"]

    train, valid = datasets.load_cumulative(bucket, up_to="v2")
    assert (len(train), len(valid)) == (120, 30)
    with pytest.raises(ValueError, match="not a dataset version"):
        datasets.load_cumulative(bucket, up_to="latest")


def test_split_dtypes_and_text_kept_as_written(bucket: LocalBucket) -> None:
    train = rows(0, 3)
    train.loc[0, "date"] = ""
    train.loc[1, "city"] = "NA"  # a real word, not a missing value
    commit(bucket, "v1", train, rows(3, 4))
    read = datasets.read_split(bucket, "v1", "train")
    assert list(read.columns) == list(datasets.DATASET_COLUMNS)
    assert read["sqft_living"].dtype == "int64" and read["price"].dtype == "float64"
    assert read.loc[0, "date"] == "" and read.loc[1, "city"] == "NA"
    assert read.loc[2, "street"] == train.loc[2, "street"]
    with pytest.raises(ValueError, match="split must be"):
        datasets.read_split(bucket, "v1", "test")
    assert datasets.read_manifest(bucket, "v1")["rows"] == {"train": 3, "valid": 1}
