"""BUCKET_2 on the writer side: the ledger of what is committed, and the two kinds of commit.

Layout (readers: houseprice.datasets):
  versioned/vN/train.csv, valid.csv   the rows new since vN-1, split by content hash
  versioned/vN/manifest.json          written last: the version exists once it does
  instream/<chunk>.csv                rows waiting for BATCH_SIZE
  instream/<chunk>.json               written last: the chunk exists once it does
  quarantine/<run id>/*.rejected.csv  rows refused by validation, with a reason

A manifest or chunk record lists every source it consumed (raw files with their
sha256, correction ids, folded chunks, run ids). Together they are the ledger of
truth: what they list is consumed, whatever BUCKET_1 or Mongo still say.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from bson import json_util

from data_collection_and_versioning import faults
from data_collection_and_versioning.sources import sha256_hex
from houseprice.datasets import INSTREAM_PREFIX, MANIFEST, SOURCE_COLUMN, VERSION_PREFIX
from houseprice.schema import ARROW_TYPES, FEATURES, PRICE, RAW_COLUMNS
from houseprice.storage import Bucket, GenerationMismatch

QUARANTINE_PREFIX = "quarantine/"
RECORD_FORMAT = 1
WRITE_BATCH_ROWS = 65_536
SLICE_ROWS = 262_144  # rows per parallel CSV encoding task

_ARROW: dict[str, pa.DataType] = {f.name: ARROW_TYPES[f.kind] for f in (PRICE, *FEATURES)}
_ARROW["date"] = pa.string()
_ARROW[SOURCE_COLUMN] = pa.string()
RECORD_SCHEMA = pa.schema([(name, _ARROW[name]) for name in RAW_COLUMNS])
DATASET_SCHEMA = RECORD_SCHEMA.append(pa.field(SOURCE_COLUMN, pa.string()))

_VERSION_DIR = re.compile(r"versioned/v(\d+)/(.+)")
_CHUNK_FILE = re.compile(r"instream/([^/]+)\.(csv|json)")
_SEGMENT_REJECTED = re.compile(r"\.s\d+\.rejected\.csv$")


def new_run_id() -> str:
    """Sortable by time, unique across concurrent starts: 20240102T030405Z-1a2b3c."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def encode_id(value: Any) -> Any:
    """A Mongo _id as JSON (ObjectId -> {"$oid": ...}); decode_id reverses it."""
    return json.loads(json_util.dumps(value))


def decode_id(value: Any) -> Any:
    return json_util.loads(json.dumps(value))


def id_key(encoded: Any) -> str:
    """A hashable, type-aware key for an encoded id."""
    return json.dumps(encoded, sort_keys=True)


def sources_of(record: dict[str, Any]) -> dict[str, Any]:
    """A commit record's sources; {} for a manifest some other writer made without them."""
    found = record.get("sources")
    return found if isinstance(found, dict) else {}


@dataclass
class Sources:
    """What one commit consumed. A version that folds chunks carries their sources too."""

    raw_files: list[dict[str, Any]] = field(default_factory=list)
    already_consumed: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)
    rejected_corrections: list[dict[str, Any]] = field(default_factory=list)
    instream_chunks: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    rejected_files: list[str] = field(default_factory=list)
    rejected: int = 0
    duplicates_dropped: int = 0

    def consumes_anything(self) -> bool:
        return bool(
            self.raw_files
            or self.already_consumed
            or self.corrections
            or self.rejected_corrections
            or self.instream_chunks
        )

    def add(self, other: Sources) -> None:
        self.raw_files += other.raw_files
        self.already_consumed += other.already_consumed
        self.corrections += other.corrections
        self.rejected_corrections += other.rejected_corrections
        self.instream_chunks += other.instream_chunks
        self.run_ids += [r for r in other.run_ids if r not in self.run_ids]
        self.rejected_files += other.rejected_files
        self.rejected += other.rejected
        self.duplicates_dropped += other.duplicates_dropped

    def to_record(self) -> dict[str, Any]:
        return {
            "sources": {
                "raw_files": self.raw_files,
                "already_consumed": self.already_consumed,
                "corrections": self.corrections,
                "rejected_corrections": self.rejected_corrections,
                "instream_chunks": self.instream_chunks,
                "run_ids": self.run_ids,
            },
            "rejected": self.rejected,
            "rejected_files": self.rejected_files,
            "duplicates_dropped": self.duplicates_dropped,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Sources:
        src = sources_of(record)
        return cls(
            raw_files=list(src.get("raw_files", [])),
            already_consumed=list(src.get("already_consumed", [])),
            corrections=list(src.get("corrections", [])),
            rejected_corrections=list(src.get("rejected_corrections", [])),
            instream_chunks=list(src.get("instream_chunks", [])),
            run_ids=list(src.get("run_ids", [])),
            rejected_files=list(record.get("rejected_files", [])),
            rejected=int(record.get("rejected", 0)),
            duplicates_dropped=int(record.get("duplicates_dropped", 0)),
        )


def whole_file(entry: dict[str, Any]) -> bool:
    """Whether a raw_files entry completes its file (not a streamed file's inner segment)."""
    return "segment" not in entry or bool(entry.get("last"))


@dataclass
class Ledger:
    """Everything committed in BUCKET_2, and what is left over from interrupted runs."""

    versions: dict[str, dict[str, Any]]  # committed version -> manifest, oldest first
    chunks: dict[str, dict[str, Any]]  # live committed chunk id -> record, oldest first
    folded: list[str]  # keys of chunks already folded into a version (json before csv)
    uncommitted: list[str]  # keys no commit covers: partial versions, chunk data without json
    orphan_rejected: list[str]  # rejected-row files of runs that committed nothing

    @property
    def latest(self) -> str | None:
        return next(reversed(self.versions), None)

    def next_version(self) -> str:
        numbers = [int(v[1:]) for v in self.versions]
        return f"v{max(numbers, default=0) + 1}"

    def commits(self) -> list[tuple[str, dict[str, Any]]]:
        """(consumed_in name, record) for every committed version and live chunk."""
        out = list(self.versions.items())
        out += [(f"{INSTREAM_PREFIX}{cid}", rec) for cid, rec in self.chunks.items()]
        return out

    def consumed_files(self) -> dict[str, tuple[str, str]]:
        """sha256 -> (key it was read from, where it is committed), for whole files only
        (a streamed file counts once its last segment is committed)."""
        found: dict[str, tuple[str, str]] = {}
        for name, record in self.commits():
            for entry in sources_of(record).get("raw_files", []):
                if whole_file(entry):
                    found.setdefault(entry["sha256"], (entry["key"], name))
        return found

    def segments_committed(self, sha256: str) -> set[int]:
        """Segment numbers of a streamed file (by content) already committed."""
        return {
            int(entry["segment"])
            for _, record in self.commits()
            for entry in sources_of(record).get("raw_files", [])
            if entry.get("sha256") == sha256 and "segment" in entry
        }

    def consumed_corrections(self) -> dict[str, str]:
        """id_key(correction id) -> where it is committed (rejected ones too)."""
        found: dict[str, str] = {}
        for name, record in self.commits():
            src = sources_of(record)
            for entry in src.get("corrections", []):
                found.setdefault(id_key(entry["id"]), name)
            for entry in src.get("rejected_corrections", []):
                found.setdefault(id_key(entry["id"]), f"rejected:{entry['reason']}")
        return found

    def pending_rows(self) -> int:
        return sum(int(rec.get("rows", {}).get("total", 0)) for rec in self.chunks.values())


def load_ledger(bucket: Bucket) -> Ledger:
    version_keys = bucket.list(VERSION_PREFIX)
    chunk_keys = bucket.list(INSTREAM_PREFIX)
    rejected_keys = bucket.list(QUARANTINE_PREFIX)

    folders: dict[int, list[str]] = {}
    for key in version_keys:
        if match := _VERSION_DIR.fullmatch(key):
            folders.setdefault(int(match.group(1)), []).append(key)
    committed = sorted(n for n, keys in folders.items() if f"v{n}/{MANIFEST}" in _tails(keys))
    manifests = _read_json_many(bucket, [f"{VERSION_PREFIX}v{n}/{MANIFEST}" for n in committed])
    versions = {f"v{n}": manifest for n, manifest in zip(committed, manifests, strict=True)}
    uncommitted = [k for n, keys in sorted(folders.items()) if n not in committed for k in keys]

    folded_ids = {
        cid for m in versions.values() for cid in sources_of(m).get("instream_chunks", [])
    }
    by_chunk: dict[str, set[str]] = {}
    for key in chunk_keys:
        if match := _CHUNK_FILE.fullmatch(key):
            by_chunk.setdefault(match.group(1), set()).add(match.group(2))
    folded: list[str] = []
    live_ids: list[str] = []
    for cid, kinds in sorted(by_chunk.items()):
        keys = [f"{INSTREAM_PREFIX}{cid}.{kind}" for kind in ("json", "csv") if kind in kinds]
        if cid in folded_ids:
            folded += keys
        elif "json" in kinds:
            live_ids.append(cid)
        else:
            uncommitted += keys
    records = _read_json_many(bucket, [f"{INSTREAM_PREFIX}{cid}.json" for cid in live_ids])
    chunks = dict(zip(live_ids, records, strict=True))

    # A commit lists the rejected-row files written for it; any other one was left by a
    # run (or a streamed segment) that crashed before its commit.
    listed = {key for rec in [*versions.values(), *chunks.values()] for key in _rejected(rec)}
    known_runs = {run for rec in [*versions.values(), *chunks.values()] for run in _runs(rec)}
    orphan_rejected = [
        key
        for key in rejected_keys
        if key.count("/") >= 2 and key not in listed and key.split("/")[1] not in known_runs
    ]
    # Within a known run, a streamed segment's rejected file counts only if listed.
    orphan_rejected += [
        key
        for key in rejected_keys
        if key.count("/") >= 2
        and key not in listed
        and key.split("/")[1] in known_runs
        and _SEGMENT_REJECTED.search(key)
    ]
    return Ledger(versions, chunks, folded, uncommitted, orphan_rejected)


def _tails(keys: list[str]) -> set[str]:
    return {key.removeprefix(VERSION_PREFIX) for key in keys}


def _rejected(record: dict[str, Any]) -> list[str]:
    found = record.get("rejected_files", [])
    return list(found) if isinstance(found, list) else []


def _runs(record: dict[str, Any]) -> list[str]:
    return list(sources_of(record).get("run_ids", []))


def _read_json_many(bucket: Bucket, keys: list[str]) -> list[dict[str, Any]]:
    if len(keys) <= 1:
        return [json.loads(bucket.read_bytes(key)) for key in keys]
    with ThreadPoolExecutor(max_workers=8) as pool:  # object stores answer in parallel
        return list(pool.map(lambda key: json.loads(bucket.read_bytes(key)), keys))


# -- writing -------------------------------------------------------------------------------


def encode_csv(table: pa.Table, keep: np.ndarray | None = None, header: bool = True) -> bytes:
    """The rows of `table` where `keep` is true (all if None) as CSV, batch by batch.

    Filtering each batch while writing avoids a filtered copy of the whole table.
    """
    sink = pa.BufferOutputStream()
    options = pacsv.WriteOptions(include_header=header)
    with pacsv.CSVWriter(sink, table.schema, write_options=options) as writer:
        offset = 0
        for batch in table.to_batches(max_chunksize=WRITE_BATCH_ROWS):
            rows = batch.num_rows
            if keep is not None:
                batch = batch.filter(pa.array(keep[offset : offset + rows]))
            offset += rows
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def submit_csv(pool: ThreadPoolExecutor, table: pa.Table, keep: np.ndarray) -> list[Future]:
    """encode_csv of consecutive slices on `pool` (Arrow releases the GIL); join in order."""
    return [
        pool.submit(
            encode_csv, table.slice(start, SLICE_ROWS), keep[start : start + SLICE_ROWS], start == 0
        )
        for start in range(0, max(table.num_rows, 1), SLICE_ROWS)
    ]


def read_chunk(bucket: Bucket, chunk_id: str) -> pa.Table:
    data = bucket.read_bytes(f"{INSTREAM_PREFIX}{chunk_id}.csv")
    return pacsv.read_csv(
        pa.py_buffer(data),
        convert_options=pacsv.ConvertOptions(
            column_types=dict(zip(DATASET_SCHEMA.names, DATASET_SCHEMA.types, strict=True)),
            include_columns=DATASET_SCHEMA.names,
            strings_can_be_null=False,
        ),
    ).cast(DATASET_SCHEMA)


def _file_entry(data: bytes, rows: int) -> dict[str, Any]:
    return {"sha256": sha256_hex(data), "rows": rows, "bytes": len(data)}


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, sort_keys=False) + "\n"


class CommitConflict(RuntimeError):
    """Another writer created a file this commit was about to create."""


def _create(bucket: Bucket, key: str, data: bytes) -> None:
    # Commits only ever create: two writers that both believe they hold the lease
    # cannot both commit the same version, and neither overwrites the other.
    try:
        bucket.create(key, data)
    except GenerationMismatch:
        raise CommitConflict(f"{key} was written by another run meanwhile") from None


def _no_check() -> None:
    return None


def commit_chunk(
    bucket: Bucket,
    chunk_id: str,
    table: pa.Table,
    keep: np.ndarray,
    record: dict[str, Any],
    before_commit: Callable[[], None] = _no_check,
) -> None:
    """instream/<id>.csv (the rows where `keep`), then instream/<id>.json (the commit).

    `before_commit` runs right before the commit marker is written (the lease check).
    """
    data = encode_csv(table, keep)
    record["files"] = {f"{chunk_id}.csv": _file_entry(data, int(keep.sum()))}
    _create(bucket, f"{INSTREAM_PREFIX}{chunk_id}.csv", data)
    del data
    faults.point("after_chunk_data")
    before_commit()
    _create(bucket, f"{INSTREAM_PREFIX}{chunk_id}.json", _dumps(record).encode("utf-8"))
    faults.point("after_chunk_commit")


def commit_version(
    bucket: Bucket,
    version: str,
    table: pa.Table,
    in_train: np.ndarray,
    in_valid: np.ndarray,
    record: dict[str, Any],
    before_commit: Callable[[], None] = _no_check,
) -> None:
    """train.csv and valid.csv (rows of `table` picked by the masks), then manifest.json."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        train_parts = submit_csv(pool, table, in_train)
        valid_parts = submit_csv(pool, table, in_valid)
        train_data = b"".join(part.result() for part in train_parts)
        del train_parts
        valid_data = b"".join(part.result() for part in valid_parts)
        del valid_parts
    record["files"] = {
        "train.csv": _file_entry(train_data, int(in_train.sum())),
        "valid.csv": _file_entry(valid_data, int(in_valid.sum())),
    }
    folder = f"{VERSION_PREFIX}{version}/"
    _create(bucket, folder + "train.csv", train_data)
    del train_data
    faults.point("after_version_train")
    _create(bucket, folder + "valid.csv", valid_data)
    del valid_data
    faults.point("after_version_data")
    before_commit()
    _create(bucket, folder + MANIFEST, _dumps(record).encode("utf-8"))
    faults.point("after_manifest")
