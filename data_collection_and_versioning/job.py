"""One run of the data job.

lease -> reconcile -> read raw files and pending corrections -> validate -> drop exact
duplicates -> write rejected rows -> commit (a version, or an instream chunk while
fewer than BATCH_SIZE rows wait) -> mark corrections, archive raw files, delete
folded chunks. Sources are marked or moved only after the commit that holds
their rows; a crash anywhere leaves a state the next run's reconcile completes.
The whole run holds the lease in BUCKET_2: a run that finds it held changes nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import OperationFailure, PyMongoError

from data_collection_and_versioning import drift, faults, rows, screening, sources
from data_collection_and_versioning.followup import (
    archive_raw,
    finish_commit,
    mark_corrections,
    quarantine_raw,
)
from data_collection_and_versioning.recovery import reconcile
from data_collection_and_versioning.versioning import (
    DATASET_SCHEMA,
    QUARANTINE_PREFIX,
    RECORD_FORMAT,
    RECORD_SCHEMA,
    Ledger,
    Sources,
    commit_chunk,
    commit_version,
    encode_id,
    id_key,
    load_ledger,
    new_run_id,
    read_chunk,
    utc_now,
)
from houseprice import mongo, pushgateway
from houseprice.datasets import INSTREAM_PREFIX, SOURCE_COLUMN
from houseprice.settings import Settings
from houseprice.storage import (
    Bucket,
    GenerationMismatch,
    Lease,
    LeaseHeld,
    LeaseLost,
    ObjectInfo,
    ObjectNotFound,
    open_bucket,
)
from houseprice.storage.lease import describe as describe_holder

Emit = Callable[[str], None]
TOP_REASONS = 5
# Rows of small files read in one run before the rest are left for the next run: a
# backlog is drained over several runs instead of filling memory (~0.6 GB per million).
MAX_ROWS_PER_RUN = 1_000_000
# A raw file of more than about SEGMENT_ROWS rows is streamed in segments of SEGMENT_ROWS
# rows, each committed on its own (exactly once: a re-run skips the segments already
# committed), so memory holds one segment however large the file.
BYTES_PER_ROW = 128  # a sales CSV row is 110-150 bytes
# One data job at a time: the lease object in BUCKET_2 (houseprice.storage.lease).
LEASE_KEY = "locks/data-job.json"


class JobError(RuntimeError):
    """A failure the job can explain in one line (unreachable Mongo, unusable bucket...)."""


@dataclass
class Part:
    """The new rows of one source group (a raw file, or this run's corrections)."""

    table: pa.Table  # DATASET_SCHEMA
    hashes: np.ndarray  # rows.content_hash of each row


@dataclass
class Run:
    settings: Settings
    raw_bucket: Bucket
    data_bucket: Bucket
    collection: Collection
    emit: Emit
    run_id: str = field(default_factory=new_run_id)
    summary: dict[str, Any] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # written together
    lease: Lease | None = None

    def check_lease(self) -> None:
        """Right before each durable change: stop if another run has taken the lease over."""
        if self.lease is not None:
            try:
                self.lease.verify()
            except LeaseLost as exc:
                raise JobError(f"lease lost, stopping before the next write: {exc}") from exc


def run(settings: Settings, emit: Emit = print) -> dict[str, Any]:
    """Run the job once; returns the summary (also what `--json` prints)."""
    started = time.monotonic()
    raw_bucket, data_bucket = open_buckets(settings)
    client = mongo.connect(settings)
    try:
        ping(client, settings)
        collection = mongo.corrections(client, settings)
        job = Run(settings, raw_bucket, data_bucket, collection, emit)
        try:
            with Lease(data_bucket, LEASE_KEY, settings.LEASE_SECONDS, run_id=job.run_id) as lease:
                job.lease = lease
                faults.pause("after_lease")
                ensure_indexes(client, settings)
                summary = _run(job)
        except LeaseHeld as held:
            summary = lease_held(job, held)
        else:
            drift.after_version(settings, data_bucket, summary, emit)  # never raises
            pushgateway.push_data_job(settings, summary, started, data_bucket, collection)
    finally:
        client.close()
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary


def open_buckets(settings: Settings) -> tuple[Bucket, Bucket]:
    try:
        raw_bucket = open_bucket(settings.BUCKET_1)
        data_bucket = open_bucket(settings.BUCKET_2)
    except OSError as exc:
        raise JobError(f"cannot open bucket: {exc}") from exc
    raw, data = raw_bucket.url.rstrip("/") + "/", data_bucket.url.rstrip("/") + "/"
    if raw.startswith(data) or data.startswith(raw):
        # Versioned CSVs would be read back as raw sales on the next run.
        raise JobError(
            f"BUCKET_1 and BUCKET_2 must not overlap ({raw_bucket.url}, {data_bucket.url})"
        )
    return raw_bucket, data_bucket


def ping(client: MongoClient, settings: Settings) -> None:
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        uri = settings.public()["MONGO_URI"]
        raise JobError(f"cannot reach MongoDB at {uri}: {first_line(exc)}") from exc


def ensure_indexes(client: MongoClient, settings: Settings) -> None:
    with contextlib.suppress(OperationFailure):  # indexes only speed the query; dbapp owns them
        mongo.ensure_indexes(client, settings)


def lease_held(job: Run, held: LeaseHeld) -> dict[str, Any]:
    """Another run holds the lease: say who, change nothing, succeed."""
    job.emit(f"data job {job.run_id}: another run holds the lease, nothing done: {held}")
    job.summary.update(ok=True, run_id=job.run_id, result="lease held", held_by=held.holder)
    return job.summary


def first_line(exc: BaseException) -> str:
    text = str(exc).split(", Timeout:")[0]  # pymongo appends its whole topology
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _run(job: Run) -> dict[str, Any]:
    s = job.summary
    s.update(
        ok=True,
        run_id=job.run_id,
        result="nothing new",
        version=None,
        chunk=None,
        batch_size=job.settings.BATCH_SIZE,
    )
    job.emit(f"data job {job.run_id}: raw {job.raw_bucket.url} -> datasets {job.data_bucket.url}")
    if job.lease is not None and job.lease.taken_over is not None:
        s["took_over"] = job.lease.taken_over
        job.emit(f"took over an expired lease: {describe_holder(job.lease.taken_over)}")

    ledger = load_ledger(job.data_bucket)
    recovered = reconcile(ledger, job.raw_bucket, job.data_bucket, job.collection)
    s["recovered"] = recovered
    if recovered:
        job.emit(
            "recovered: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in recovered.items())
        )
    faults.point("after_reconcile")

    ready, in_flight = list_raw_files(job)
    large_bytes = job.settings.SEGMENT_ROWS * BYTES_PER_ROW
    large = [info for info in ready if info.size >= large_bytes]
    for info in large:  # streamed in segments, each committed on its own
        stream_raw_file(job, info)
    if large:
        ledger = load_ledger(job.data_bucket)

    batch = Sources(run_ids=[job.run_id])
    parts = read_raw_files(job, ledger, batch, [i for i in ready if i not in large], in_flight)
    parts += read_corrections(job, ledger, batch)
    faults.point("after_read")
    if large and not batch.consumes_anything():
        return s  # the segments were this run's commits
    return commit_batch(job, ledger, batch, parts)


def commit_batch(
    job: Run, ledger: Ledger, batch: Sources, parts: list[Part], chunk_id: str | None = None
) -> dict[str, Any]:
    """Deduplicate `parts` against the waiting instream rows, write the rejected rows, commit
    a chunk or (once BATCH_SIZE rows wait) a version, then mark and archive its sources."""
    s = job.summary
    pending_rows = ledger.pending_rows()
    if not batch.consumes_anything() and pending_rows < job.settings.BATCH_SIZE:
        s["instream_rows"] = pending_rows
        job.emit(f"nothing new (instream holds {pending_rows} of {job.settings.BATCH_SIZE} rows)")
        return s

    pool = [read_chunk(job.data_bucket, cid) for cid in ledger.chunks]
    pool_table = pa.concat_tables(pool) if pool else DATASET_SCHEMA.empty_table()
    pool_hashes = rows.content_hash(pool_table.to_pandas())
    new_table = pa.concat_tables([p.table for p in parts]) if parts else pool_table.slice(0, 0)
    new_hashes = np.concatenate([p.hashes for p in parts]) if parts else np.empty(0, np.uint64)
    del parts
    dup = find_duplicates(job, batch, pool_table, pool_hashes, new_table, new_hashes)
    new_rows = len(new_hashes) - int(dup.sum())
    job.check_lease()
    write_rejected(job, batch)
    job.rejected = []
    faults.point("after_rejected_written")

    if pending_rows + new_rows >= job.settings.BATCH_SIZE:
        table = pa.concat_tables([pool_table, new_table])
        hashes = np.concatenate([pool_hashes, new_hashes])
        keep = np.concatenate([np.ones(len(pool_hashes), dtype=bool), ~dup])
        del pool_table, new_table
        name, record = write_version(job, ledger, batch, table, hashes, keep)
        s["instream_rows"] = 0
        del table
    else:
        name, record = write_chunk(job, batch, new_table, ~dup, chunk_id or job.run_id)
        s["instream_rows"] = pending_rows + new_rows
        del pool_table, new_table

    job.check_lease()
    s["rows_committed_in_run"] = s.get("rows_committed_in_run", 0) + int(s["rows_written"])
    s["commits"] = [*s.get("commits", []), name]
    listing = set(job.raw_bucket.list())
    done = finish_commit(name, record, job.raw_bucket, listing, job.data_bucket, job.collection)
    s["followup"] = done
    job.emit(
        f"marked {done['corrections_marked']} corrections consumed in {name}, "
        f"{done['rejected_marked']} rejected; archived {done['archived']} raw files"
        + (
            f"; deleted {done['chunks_deleted']} folded instream chunks"
            if done["chunks_deleted"]
            else ""
        )
    )
    return s


def list_raw_files(job: Run) -> tuple[list[ObjectInfo], list[ObjectInfo]]:
    """(raw files ready to read, files still being written), after the settle wait."""
    job.summary.update(
        files=[],
        files_quarantined=[],
        files_already_consumed=[],
        files_waiting=0,
        files_in_flight=[],
        segments=[],
    )
    listed = job.raw_bucket.list_info()
    keys = set(sources.raw_keys([info.key for info in listed]))
    return sources.settle(
        job.raw_bucket,
        [info for info in listed if info.key in keys],
        job.settings.SETTLE_SECONDS,
        job.emit,
    )


def read_raw_files(
    job: Run,
    ledger: Ledger,
    batch: Sources,
    ready: list[ObjectInfo],
    in_flight: list[ObjectInfo],
) -> list[Part]:
    consumed = ledger.consumed_files()
    seen: dict[str, str] = {}
    parts: list[Part] = []
    s = job.summary
    taken = 0
    for position, info in enumerate(ready):
        key = info.key
        if taken >= MAX_ROWS_PER_RUN:  # bounded memory: the rest waits for the next run
            s["files_waiting"] = len(ready) - position
            job.emit(f"read {taken} rows: {len(ready) - position} more files wait for the next run")
            break
        try:
            data = job.raw_bucket.read_bytes(key, info.generation)
        except ObjectNotFound:
            continue  # removed since the listing
        except GenerationMismatch:
            in_flight.append(info)  # rewritten since the listing: read it next run, once
            continue
        digest = sources.sha256_hex(data)
        if digest in consumed:
            first_key, where = consumed[digest]
            archive_raw(job.raw_bucket, key, digest)
            s["files_already_consumed"].append({"key": key, "same_as": first_key, "in": where})
            job.emit(f"already consumed {key} (same content as {first_key} in {where}): archived")
            continue
        if digest in seen:
            batch.already_consumed.append({"key": key, "sha256": digest, "same_as": seen[digest]})
            s["files_already_consumed"].append({"key": key, "same_as": seen[digest], "in": None})
            job.emit(f"already consumed {key} (same content as {seen[digest]} in this run)")
            continue
        try:
            raw = sources.parse_raw(key, data)
        except sources.UnreadableFile as exc:
            target = quarantine_raw(job.raw_bucket, key, info.generation, data, str(exc))
            s["files_quarantined"].append({"key": key, "reason": str(exc), "moved_to": target})
            job.emit(f"quarantined {key}: {exc} (moved to {target})")
            continue
        del data
        seen[digest] = key
        entry = {
            "key": key,
            "sha256": digest,
            "generation": info.generation,
            "rows_read": raw.rows_read,
            "rows_valid": len(raw.valid),
            "rows_rejected": len(raw.rejected),
            "rows_duplicate": 0,
            "run_id": job.run_id,
        }
        batch.raw_files.append(entry)
        s["files"].append(entry)
        _rejected_file(job, batch, f"{key}.rejected.csv", raw.rejected)
        source = pc.binary_join_element_wise(
            f"raw:{key}:", pc.cast(pa.array(raw.lines), pa.string()), ""
        )
        parts.append(Part(_table(raw.valid, source), rows.content_hash(raw.valid)))
        taken += raw.rows_read
        job.emit(
            f"read {key}: {raw.rows_read} rows, {len(raw.valid)} valid, "
            f"{len(raw.rejected)} rejected"
        )
    for info in in_flight:
        s["files_in_flight"].append(info.key)
        job.emit(f"left {info.key} for the next run: still being written")
    return parts


def stream_raw_file(job: Run, info: ObjectInfo) -> None:
    """Commit a large raw file segment by segment; archive it once its last one is in.

    Each segment is its own batch (a chunk, or a version once BATCH_SIZE rows wait),
    so memory holds one segment plus the instream rows. A segment already committed
    (a crash between segments) is skipped, so every row counts once.
    """
    s = job.summary
    key = info.key
    ledger = load_ledger(job.data_bucket)
    try:
        with job.raw_bucket.open_read(key, info.generation) as handle:
            digest = _stream_sha256(handle)
            consumed = ledger.consumed_files()
            if digest in consumed:
                first_key, where = consumed[digest]
                archive_raw(job.raw_bucket, key, digest)
                s["files_already_consumed"].append({"key": key, "same_as": first_key, "in": where})
                job.emit(f"already consumed {key} (same content as {first_key} in {where})")
                return
            done = ledger.segments_committed(digest)
            handle.seek(0)
            try:
                header = sources.check_header(handle.read(1 << 16))
            except sources.UnreadableFile as exc:
                handle.seek(0)
                target = quarantine_raw(
                    job.raw_bucket, key, info.generation, handle.read(), str(exc)
                )
                s["files_quarantined"].append({"key": key, "reason": str(exc), "moved_to": target})
                job.emit(f"quarantined {key}: {exc} (moved to {target})")
                return
            handle.seek(0)
            size = job.settings.SEGMENT_ROWS
            job.emit(f"streaming {key} ({info.size} bytes) in segments of {size} rows")
            for segment in sources.iter_segments(handle, header, size):
                if segment.number in done:
                    job.emit(f"segment {segment.number} of {key} already committed: skipped")
                    continue
                batch, part, chunk_id = _segment_batch(job, key, digest, info.generation, segment)
                del segment  # only its Arrow copy stays in memory while it is committed
                commit_batch(job, load_ledger(job.data_bucket), batch, [part], chunk_id=chunk_id)
                del batch, part
                release_memory()
    except GenerationMismatch:
        s["files_in_flight"].append(key)
        job.emit(f"left {key} for the next run: it changed while being read")
    except sources.UnreadableFile as exc:
        job.emit(f"stopped reading {key}: {exc}; its committed segments stay, the rest waits")


def _segment_batch(
    job: Run, key: str, digest: str, generation: str, segment: sources.Segment
) -> tuple[Sources, Part, str]:
    """One segment of a streamed file as a batch of its own, ready for commit_batch."""
    chunk_id = f"{job.run_id}-s{segment.number}"
    batch = Sources(run_ids=[job.run_id])
    entry = {
        "key": key,
        "sha256": digest,
        "generation": generation,
        "segment": segment.number,
        "segment_rows": job.settings.SEGMENT_ROWS,
        "last": segment.last,
        "rows_read": segment.rows_read,
        "rows_valid": len(segment.valid),
        "rows_rejected": len(segment.rejected),
        "rows_duplicate": 0,
        "run_id": job.run_id,
    }
    batch.raw_files.append(entry)
    job.summary["segments"].append(entry)
    _rejected_file(job, batch, f"{key}.s{segment.number}.rejected.csv", segment.rejected)
    source = pc.binary_join_element_wise(
        f"raw:{key}:", pc.cast(pa.array(segment.lines), pa.string()), ""
    )
    part = Part(_table(segment.valid, source), rows.content_hash(segment.valid))
    job.emit(
        f"read segment {segment.number} of {key}: {segment.rows_read} rows, "
        f"{len(segment.valid)} valid, {len(segment.rejected)} rejected"
    )
    return batch, part, chunk_id


def release_memory() -> None:
    """Hand memory freed by a segment back to the OS, so a long stream does not creep up
    (Arrow's pool and glibc's per-thread arenas otherwise keep freed pages)."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _stream_sha256(handle) -> str:
    digest = hashlib.sha256()
    while block := handle.read(8 << 20):
        digest.update(block)
    return digest.hexdigest()


def read_corrections(job: Run, ledger: Ledger, batch: Sources) -> list[Part]:
    docs = sources.snapshot_corrections(job.collection)
    committed = ledger.consumed_corrections()
    late: dict[str, list[Any]] = {}
    fresh = []
    for doc in docs:
        where = committed.get(id_key(encode_id(doc.get("_id"))))
        if where is None:
            fresh.append(doc)
        else:
            late.setdefault(where, []).append(doc["_id"])
    for where, ids in late.items():  # committed earlier, marking lost: finish it now
        mark_corrections(job.collection, ids, where)
        job.emit(f"marked {len(ids)} corrections already committed in {where}")
    # Implausible corrections are held for review here and never reach a version.
    fresh = screening.screen_pending(
        fresh, job.collection, job.data_bucket, job.settings, job.summary, job.emit
    )

    corrections, valid = sources.read_corrections(fresh)
    accepted = [c for c in corrections if c.record is not None]
    refused = [c for c in corrections if c.record is None]
    batch.corrections += [
        {"id": encode_id(c.id), "request_id": c.request_id, "duplicate": False} for c in accepted
    ]
    batch.rejected_corrections += [
        {"id": encode_id(c.id), "request_id": c.request_id, "reason": c.reason} for c in refused
    ]
    job.summary["corrections"] = {
        "read": len(corrections),
        "valid": len(accepted),
        "rejected": len(refused),
        "already_committed": sum(len(ids) for ids in late.values()),
    }
    if refused:
        frame = sources.rejected_corrections_frame(corrections)
        _rejected_file(job, batch, "corrections.rejected.csv", frame)
    job.emit(
        f"read {len(corrections)} pending corrections: {len(accepted)} valid, "
        f"{len(refused)} rejected"
    )
    if not accepted:
        return []
    source = pa.array([f"correction:{c.request_id}" for c in accepted], pa.string())
    return [Part(_table(valid, source), rows.content_hash(valid))]


def _table(frame: pd.DataFrame, source: pa.Array) -> pa.Table:
    table = pa.Table.from_pandas(rows.canonical(frame), schema=RECORD_SCHEMA, preserve_index=False)
    return table.append_column(SOURCE_COLUMN, source)


def _rejected_file(job: Run, batch: Sources, name: str, frame: pd.DataFrame) -> None:
    """Remember rejected rows; they are written together once every source is read."""
    if frame.empty:
        return
    batch.rejected += len(frame)
    for reason in frame["reason"]:
        job.reasons.update(str(reason).split("; "))
    job.rejected.append((name, frame))


def write_rejected(job: Run, batch: Sources) -> None:
    for name, frame in job.rejected:
        key = f"{QUARANTINE_PREFIX}{job.run_id}/{name}"
        job.data_bucket.write_bytes(key, sources.frame_to_csv(frame))
        batch.rejected_files.append(key)
    job.summary["rejected"] = batch.rejected
    job.summary["rejected_in_run"] = job.summary.get("rejected_in_run", 0) + batch.rejected
    job.summary["top_reasons"] = job.reasons.most_common(TOP_REASONS)
    if batch.rejected:
        top = "; ".join(f"{reason} ({count})" for reason, count in job.summary["top_reasons"])
        job.emit(f"rejected {batch.rejected} rows; top reasons: {top}")
        job.emit(f"rejected rows written to {QUARANTINE_PREFIX}{job.run_id}/")


def find_duplicates(
    job: Run,
    batch: Sources,
    pool_table: pa.Table,
    pool_hashes: np.ndarray,
    new_table: pa.Table,
    new_hashes: np.ndarray,
) -> np.ndarray:
    """Mask of this run's rows that repeat an earlier row exactly (of this run or instream)."""
    combined = pa.concat_tables([pool_table, new_table])
    dup = rows.duplicate_mask(
        pool_hashes, new_hashes, lambda pos: combined.take(pa.array(pos)).to_pandas()
    )
    offset = 0
    for entry in batch.raw_files:  # parts are in the order of batch.raw_files, then corrections
        count = int(entry["rows_valid"])
        entry["rows_duplicate"] = int(dup[offset : offset + count].sum())
        offset += count
    flags = dup[offset:]
    for entry, flag in zip(batch.corrections, flags, strict=True):
        entry["duplicate"] = bool(flag)  # still consumed: its record is already there
    dropped = int(dup.sum())
    batch.duplicates_dropped += dropped
    job.summary["duplicates_dropped"] = dropped
    job.emit(f"deduplicated: dropped {dropped} exact duplicate rows")
    return dup


def write_version(
    job: Run,
    ledger: Ledger,
    batch: Sources,
    table: pa.Table,
    hashes: np.ndarray,
    keep: np.ndarray,
) -> tuple[str, dict[str, Any]]:
    """vN from the waiting instream rows plus this run's, split by content hash."""
    version = ledger.next_version()
    merged = Sources()
    for chunk_id, record in ledger.chunks.items():
        merged.add(Sources.from_record(record))
        merged.instream_chunks.append(chunk_id)
    merged.add(batch)
    in_valid = rows.in_validation(hashes, job.settings.TRAIN_TEST_SPLIT)
    in_train = keep & ~in_valid
    in_valid &= keep
    counts = {"train": int(in_train.sum()), "valid": int(in_valid.sum())}
    counts["total"] = counts["train"] + counts["valid"]
    record = {
        "format": RECORD_FORMAT,
        "version": version,
        "parent": ledger.latest,
        "created_at": utc_now(),
        "run_id": job.run_id,
        "rows": counts,
        **merged.to_record(),
        "settings": job.settings.public(),
    }
    commit_version(
        job.data_bucket, version, table, in_train, in_valid, record, before_commit=job.check_lease
    )
    folded = f", folded {len(ledger.chunks)} instream chunks" if ledger.chunks else ""
    job.emit(
        f"wrote {version}: {counts['total']} rows ({counts['train']} train, "
        f"{counts['valid']} valid){folded}"
    )
    job.summary.update(
        result="version",
        version=version,
        rows_written=counts["total"],
        train=counts["train"],
        valid=counts["valid"],
        folded_chunks=list(ledger.chunks),
    )
    return version, record


def write_chunk(
    job: Run, batch: Sources, table: pa.Table, keep: np.ndarray, chunk_id: str
) -> tuple[str, dict[str, Any]]:
    """An instream chunk with this run's rows: fewer than BATCH_SIZE rows are waiting."""
    count = int(keep.sum())
    record = {
        "format": RECORD_FORMAT,
        "chunk": chunk_id,
        "created_at": utc_now(),
        "run_id": job.run_id,
        "rows": {"total": count},
        **batch.to_record(),
        "settings": job.settings.public(),
    }
    commit_chunk(job.data_bucket, chunk_id, table, keep, record, before_commit=job.check_lease)
    job.emit(
        f"wrote instream chunk {chunk_id}: {count} rows "
        f"(below BATCH_SIZE {job.settings.BATCH_SIZE}, no new version yet)"
    )
    job.summary.update(result="instream", chunk=chunk_id, rows_written=count)
    return f"{INSTREAM_PREFIX}{chunk_id}", record
