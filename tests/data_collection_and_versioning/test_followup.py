"""Moves in BUCKET_1, marks in Mongo, and the whole follow-up of a commit."""

from __future__ import annotations

import json
from pathlib import Path

from data_collection_and_versioning import followup
from data_collection_and_versioning.sources import sha256_hex
from data_collection_and_versioning.versioning import Sources, encode_id
from houseprice.storage import LocalBucket
from tests.data_collection_and_versioning.helpers import collection, correction


def test_archive_moves_the_file_it_read(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path)
    bucket.write_bytes("in/a.csv", b"x,y\n")
    assert followup.archive_raw(bucket, "in/a.csv", sha256_hex(b"x,y\n")) == "archive/in/a.csv"
    assert bucket.list() == ["archive/in/a.csv"]
    assert followup.archive_raw(bucket, "in/a.csv", sha256_hex(b"x,y\n")) is None  # gone


def test_archive_leaves_a_file_replaced_since_it_was_read(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path)
    bucket.write_bytes("a.csv", b"new content")
    assert followup.archive_raw(bucket, "a.csv", sha256_hex(b"old content")) is None
    assert bucket.list() == ["a.csv"]


def test_archive_keeps_an_older_file_of_the_same_name(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path)
    bucket.write_bytes("archive/a.csv", b"january")
    bucket.write_bytes("a.csv", b"february")
    digest = sha256_hex(b"february")
    assert followup.archive_raw(bucket, "a.csv", digest) == f"archive/a.csv.{digest[:12]}"
    assert bucket.read_bytes("archive/a.csv") == b"january"


def test_quarantine_writes_a_sidecar_and_moves_the_file(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path)
    generation = bucket.write_bytes("x/bad.csv", b"\x00\x01")
    target = followup.quarantine_raw(bucket, "x/bad.csv", generation, b"\x00\x01", "empty file")
    digest = sha256_hex(b"\x00\x01")
    assert target == f"quarantine/x/bad.csv.{digest[:16]}"
    assert bucket.list() == [target, f"{target}.reason.json"]
    sidecar = json.loads(bucket.read_text(f"{target}.reason.json"))
    assert sidecar["reason"] == "empty file" and sidecar["key"] == "x/bad.csv"
    assert sidecar["sha256"] == digest
    assert sidecar["detected_at"].endswith("Z")


def test_quarantine_never_overwrites_and_keeps_a_reupload(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path)
    first = bucket.write_bytes("bad.csv", b"first bad upload")
    one = followup.quarantine_raw(bucket, "bad.csv", first, b"first bad upload", "reason 1")
    second = bucket.write_bytes("bad.csv", b"second bad upload")
    two = followup.quarantine_raw(bucket, "bad.csv", second, b"second bad upload", "reason 2")
    assert one != two
    assert bucket.read_bytes(one) == b"first bad upload"
    assert bucket.read_bytes(two) == b"second bad upload"
    # A re-upload that lands after the read is not the generation judged: it stays.
    judged = bucket.write_bytes("bad.csv", b"")
    bucket.write_bytes("bad.csv", b"the rows its writer added")
    followup.quarantine_raw(bucket, "bad.csv", judged, b"", "empty file")
    assert bucket.read_bytes("bad.csv") == b"the rows its writer added"


def test_archive_leaves_a_reupload_of_other_content(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path)
    bucket.write_bytes("a.csv", b"second upload")
    assert followup.archive_raw(bucket, "a.csv", sha256_hex(b"first upload")) is None
    assert bucket.list() == ["a.csv"]


def test_mark_changes_exactly_the_given_ids(make_settings, monkeypatch) -> None:
    monkeypatch.setattr(followup, "ID_BATCH", 2)  # several update commands
    docs = collection(make_settings())
    docs.insert_many([correction(i) for i in range(7)])
    ids = [
        d["_id"] for d in docs.find({"request_id": {"$in": ["c-0", "c-2", "c-3", "c-5", "c-6"]}})
    ]
    assert followup.mark_corrections(docs, ids, "v4") == 5
    marks = {d["request_id"]: d["consumed_in"] for d in docs.find({})}
    assert marks == {
        "c-0": "v4",
        "c-1": "",
        "c-2": "v4",
        "c-3": "v4",
        "c-4": "",
        "c-5": "v4",
        "c-6": "v4",
    }
    assert docs.count_documents({"consumed": False}) == 2


def test_finish_commit_is_idempotent(make_settings, tmp_path: Path) -> None:
    settings = make_settings()
    docs = collection(settings)
    docs.insert_many([correction(1), correction(2)])
    good, bad = docs.find_one({"request_id": "c-1"}), docs.find_one({"request_id": "c-2"})
    raw, data = LocalBucket(tmp_path / "raw"), LocalBucket(tmp_path / "data")
    raw.write_bytes("a.csv", b"a")
    raw.write_bytes("a-copy.csv", b"a")
    data.write_text("instream/c1.json", "{}")
    data.write_text("instream/c1.csv", "")
    record = {
        "version": "v3",
        **Sources(
            raw_files=[{"key": "a.csv", "sha256": sha256_hex(b"a")}],
            already_consumed=[
                {"key": "a-copy.csv", "sha256": sha256_hex(b"a"), "same_as": "a.csv"}
            ],
            corrections=[{"id": encode_id(good["_id"]), "request_id": "c-1"}],
            rejected_corrections=[
                {"id": encode_id(bad["_id"]), "request_id": "c-2", "reason": "x: bad"}
            ],
            instream_chunks=["c1"],
        ).to_record(),
    }
    steps = followup.finish_commit("v3", record, raw, set(raw.list()), data, docs)
    assert steps == {
        "corrections_marked": 1,
        "rejected_marked": 1,
        "archived": 2,
        "chunks_deleted": 1,
    }
    assert sorted(raw.list()) == ["archive/a-copy.csv", "archive/a.csv"]
    assert data.list() == []
    marks = {d["request_id"]: d["consumed_in"] for d in docs.find({})}
    assert marks == {"c-1": "v3", "c-2": "rejected:x: bad"}

    again = followup.finish_commit("v3", record, raw, set(raw.list()), data, docs)
    assert again["corrections_marked"] == again["rejected_marked"] == again["archived"] == 0
    assert sorted(raw.list()) == ["archive/a-copy.csv", "archive/a.csv"]
