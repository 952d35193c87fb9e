"""The steps that follow a commit, and the BUCKET_1 moves.

Every function here is idempotent: the job runs them right after a commit, and
the next run's reconcile runs them again for the newest commits in case the
process died halfway. Sources are only ever moved or marked, never deleted.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from pymongo.collection import Collection

from data_collection_and_versioning import faults
from data_collection_and_versioning.sources import (
    ARCHIVE_PREFIX,
    QUARANTINE_PREFIX,
    REASON_SUFFIX,
    sha256_hex,
)
from data_collection_and_versioning.versioning import (
    decode_id,
    sources_of,
    utc_now,
    whole_file,
)
from houseprice.datasets import INSTREAM_PREFIX
from houseprice.storage import Bucket, GenerationMismatch, ObjectNotFound

ID_BATCH = 5_000  # ids per update: keeps each command far below Mongo's 16 MB limit

Emit = Callable[[str], None]


def mark_corrections(collection: Collection, ids: list[Any], consumed_in: str) -> int:
    """Mark exactly these correction ids consumed; returns how many changed."""
    changed = 0
    for start in range(0, len(ids), ID_BATCH):
        result = collection.update_many(
            {"_id": {"$in": ids[start : start + ID_BATCH]}},
            {"$set": {"consumed": True, "consumed_in": consumed_in}},
        )
        changed += result.modified_count
    return changed


def quarantine_name(key: str, sha256: str) -> str:
    """quarantine/<key>.<sha256 prefix>: unique per content, so nothing is ever overwritten."""
    return f"{QUARANTINE_PREFIX}{key}.{sha256[:16]}"


def quarantine_raw(bucket: Bucket, key: str, generation: str, data: bytes, reason: str) -> str:
    """Move an unusable raw file (exactly the generation read) to its quarantine name,
    with a sidecar saying why. A re-upload that landed since stays for the next run."""
    digest = sha256_hex(data)
    target = quarantine_name(key, digest)
    sidecar = {"key": key, "reason": reason, "detected_at": utc_now(), "sha256": digest}
    _create_once(bucket, target + REASON_SUFFIX, (json.dumps(sidecar, indent=2) + "\n").encode())
    faults.point("after_quarantine_reason")
    _create_once(bucket, target, data)
    faults.point("after_quarantine_copy")
    with contextlib.suppress(GenerationMismatch):
        bucket.delete(key, if_generation=generation)
    return target


def _create_once(bucket: Bucket, key: str, data: bytes) -> None:
    """Write `key` unless it exists (then it holds the same content: its name says so)."""
    with contextlib.suppress(GenerationMismatch):
        bucket.create(key, data)


def archive_raw(bucket: Bucket, key: str, sha256: str, first: bool = False) -> str | None:
    """Move a consumed raw file to archive/<key>; None if it is gone or now holds other data.

    Only the generation whose content has the committed sha256 is archived and
    deleted: a file replaced at the same key (even between the check and the delete)
    is new data and stays for the next run. An archived file of the same name but
    other content is kept too (the new one gets its hash in the name).
    """
    try:
        generation = bucket.stat(key).generation
        if bucket.sha256(key, generation) != sha256:  # read in pieces: files may be huge
            return None
    except (ObjectNotFound, GenerationMismatch):
        return None
    target = ARCHIVE_PREFIX + key
    try:
        older = bucket.stat(target)
        if bucket.sha256(target, older.generation) != sha256:
            target = f"{ARCHIVE_PREFIX}{key}.{sha256[:12]}"
    except (ObjectNotFound, GenerationMismatch):
        pass
    try:
        bucket.copy(key, target, generation)
    except (ObjectNotFound, GenerationMismatch):
        return None  # replaced since the check: the new upload waits for the next run
    if first:
        faults.point("after_archive_copy")
    try:
        bucket.delete(key, if_generation=generation)
    except GenerationMismatch:
        return None  # re-uploaded after the check: the new upload waits for the next run
    if first:
        faults.point("after_archive_first_raw")
    return target


def finish_commit(
    name: str,
    record: dict[str, Any],
    raw_bucket: Bucket,
    raw_listing: set[str],
    data_bucket: Bucket,
    collection: Collection,
    crash_points: bool = True,
) -> dict[str, int]:
    """Everything a commit implies: mark its corrections, archive its raw files, and
    (for a version) delete the instream chunks it folded. Safe to repeat.

    `crash_points` is off when reconcile repeats the steps of an earlier commit, so
    an injected fault always hits the run's own commit.
    """

    def point(step: str) -> None:
        if crash_points:
            faults.point(step)

    sources = sources_of(record)
    done = {"corrections_marked": 0, "rejected_marked": 0, "archived": 0, "chunks_deleted": 0}

    ids = [decode_id(entry["id"]) for entry in sources.get("corrections", [])]
    done["corrections_marked"] = mark_corrections(collection, ids, name)
    point("after_mark_corrections")
    by_reason: dict[str, list[Any]] = defaultdict(list)
    for entry in sources.get("rejected_corrections", []):
        by_reason[entry["reason"]].append(decode_id(entry["id"]))
    for reason, rejected_ids in by_reason.items():
        done["rejected_marked"] += mark_corrections(collection, rejected_ids, f"rejected:{reason}")
    point("after_mark_rejected")

    # A streamed file's inner segments leave the file in place for its next segments.
    files = [e for e in sources.get("raw_files", []) if whole_file(e)]
    files += sources.get("already_consumed", [])
    for entry in files:
        if entry["key"] in raw_listing:
            first = done["archived"] == 0
            if archive_raw(raw_bucket, entry["key"], entry["sha256"], first and crash_points):
                done["archived"] += 1
    point("after_archive")

    folded = sources.get("instream_chunks", []) if "version" in record else []
    for position, chunk_id in enumerate(folded):
        data_bucket.delete(f"{INSTREAM_PREFIX}{chunk_id}.json")  # the commit marker first
        data_bucket.delete(f"{INSTREAM_PREFIX}{chunk_id}.csv")
        done["chunks_deleted"] += 1
        if position == 0:
            point("after_instream_cleanup_first")
    point("after_instream_cleanup")
    return done
