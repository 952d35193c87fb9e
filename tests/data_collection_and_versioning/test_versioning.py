"""The BUCKET_2 ledger and the two kinds of commit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from bson import ObjectId

from data_collection_and_versioning import versioning
from data_collection_and_versioning.versioning import DATASET_SCHEMA, Sources
from houseprice import datasets
from houseprice.schema import validate_frame
from houseprice.storage import LocalBucket
from tests.data_collection_and_versioning.helpers import sample


class RecordingBucket(LocalBucket):
    """A real local bucket that also remembers the order of writes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes: list[str] = []

    def write_bytes(self, key: str, data: bytes, if_generation: str | None = None) -> str:
        generation = super().write_bytes(key, data, if_generation)
        self.writes.append(key)
        return generation

    def create(self, key: str, data: bytes) -> str:
        generation = super().create(key, data)
        self.writes.append(key)
        return generation


def dataset_table(count: int) -> pa.Table:
    valid, _ = validate_frame(sample().iloc[:count])
    valid["source"] = [f"raw:s.csv:{i + 2}" for i in range(len(valid))]
    return pa.Table.from_pandas(valid, schema=DATASET_SCHEMA, preserve_index=False)


def record(**sources) -> dict:
    return {"rows": {"total": 0}, **Sources(**sources).to_record()}


def test_version_files_then_manifest_last(tmp_path: Path) -> None:
    bucket = RecordingBucket(tmp_path)
    table = dataset_table(50)
    in_valid = np.arange(50) % 5 == 0
    meta = {"version": "v1", **record(run_ids=["r1"])}
    versioning.commit_version(bucket, "v1", table, ~in_valid, in_valid, meta)
    assert bucket.writes == [
        "versioned/v1/train.csv",
        "versioned/v1/valid.csv",
        "versioned/v1/manifest.json",
    ]
    stored = json.loads(bucket.read_text("versioned/v1/manifest.json"))
    assert stored["files"]["train.csv"]["rows"] == 40
    assert stored["files"]["valid.csv"]["rows"] == 10
    valid = datasets.read_split(bucket, "v1", "valid")
    assert list(valid.columns) == list(datasets.DATASET_COLUMNS)
    assert list(valid["source"]) == [f"raw:s.csv:{i + 2}" for i in range(0, 50, 5)]


def test_chunk_data_then_record_last_and_round_trip(tmp_path: Path) -> None:
    bucket = RecordingBucket(tmp_path)
    table = dataset_table(30)
    prices = np.random.default_rng(3).uniform(1e3, 1e7, 30)
    table = table.set_column(1, "price", pa.array(prices))
    keep = np.ones(30, dtype=bool)
    keep[[0, 7]] = False
    versioning.commit_chunk(bucket, "c1", table, keep, record())
    assert bucket.writes == ["instream/c1.csv", "instream/c1.json"]
    back = versioning.read_chunk(bucket, "c1")
    assert back.num_rows == 28
    assert back.schema == DATASET_SCHEMA
    assert back.column("price").to_pylist() == list(prices[keep])  # floats exactly
    assert json.loads(bucket.read_text("instream/c1.json"))["files"]["c1.csv"]["rows"] == 28


def test_empty_chunk_still_has_a_header(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path)
    table = dataset_table(3)
    versioning.commit_chunk(bucket, "c0", table, np.zeros(3, dtype=bool), record())
    assert bucket.read_text("instream/c0.csv").startswith('"date","price"')
    assert versioning.read_chunk(bucket, "c0").num_rows == 0


def test_ledger_sorts_out_committed_folded_and_leftover_objects(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path)

    def put(key: str, value) -> None:
        bucket.write_text(key, value if isinstance(value, str) else json.dumps(value))

    raw = {"key": "a.csv", "sha256": "aa", "rows_read": 1, "rows_valid": 1, "rows_rejected": 0}
    oid = versioning.encode_id(ObjectId())
    put(
        "versioned/v2/manifest.json",
        record(
            raw_files=[raw],
            instream_chunks=["c1"],
            run_ids=["r1", "r0"],
            corrections=[{"id": oid, "request_id": "x"}],
        ),
    )
    put("versioned/v2/train.csv", "x")
    put("versioned/v10/manifest.json", record(run_ids=["r2"]))
    put("versioned/v11/train.csv", "partial")
    put("instream/c1.json", record(run_ids=["r0"]))
    put("instream/c1.csv", "folded")
    put(
        "instream/c2.json",
        {
            "rows": {"total": 7},
            **Sources(
                run_ids=["r3"],
                rejected_corrections=[{"id": "s", "request_id": "s", "reason": "price: bad"}],
            ).to_record(),
        },
    )
    put("instream/c2.csv", "live")
    put("instream/c3.csv", "no commit")
    put("quarantine/r1/a.csv.rejected.csv", "kept")
    put("quarantine/r3/b.csv.rejected.csv", "kept")
    put("quarantine/r9/c.csv.rejected.csv", "orphan")

    ledger = versioning.load_ledger(bucket)

    assert list(ledger.versions) == ["v2", "v10"]
    assert ledger.latest == "v10" and ledger.next_version() == "v11"
    assert list(ledger.chunks) == ["c2"] and ledger.pending_rows() == 7
    assert ledger.folded == ["instream/c1.json", "instream/c1.csv"]
    assert sorted(ledger.uncommitted) == ["instream/c3.csv", "versioned/v11/train.csv"]
    assert ledger.orphan_rejected == ["quarantine/r9/c.csv.rejected.csv"]
    assert ledger.consumed_files() == {"aa": ("a.csv", "v2")}
    consumed = ledger.consumed_corrections()
    assert consumed[versioning.id_key(oid)] == "v2"
    assert consumed[versioning.id_key("s")] == "rejected:price: bad"


def test_ids_of_any_type_survive_json() -> None:
    for value in (ObjectId(), "req-1", 17):
        encoded = versioning.encode_id(value)
        assert versioning.decode_id(json.loads(json.dumps(encoded))) == value


def test_sources_add_and_round_trip() -> None:
    first = Sources(raw_files=[{"key": "a"}], run_ids=["r1"], rejected=2, duplicates_dropped=1)
    second = Sources(corrections=[{"id": "x"}], run_ids=["r1", "r2"], rejected=3)
    first.add(second)
    assert first.run_ids == ["r1", "r2"] and first.rejected == 5
    again = Sources.from_record(first.to_record())
    assert again == first
    assert not Sources().consumes_anything() and first.consumes_anything()


def test_run_ids_sort_by_time() -> None:
    ids = [versioning.new_run_id() for _ in range(3)]
    assert all(len(i) == len("20240102T030405Z-1a2b3c") for i in ids)
    assert len(set(ids)) == 3
    assert pd.Timestamp(ids[0][:16]) is not None
