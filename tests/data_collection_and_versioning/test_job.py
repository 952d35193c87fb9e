"""The whole job in process, against real buckets (a directory and fake-gcs-server) and nx-27017."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from data_collection_and_versioning import job
from houseprice import datasets
from houseprice.schema import validate_frame
from houseprice.settings import Settings
from houseprice.storage import Lease, LeaseLost, open_bucket
from tests.data_collection_and_versioning.helpers import (
    assert_exactly_once,
    clean_sample,
    collection,
    committed_rows,
    correction,
    csv_bytes,
    manifest,
    put_raw,
    run,
    sample,
    valid_sources,
)

SAMPLE_KEY = "2014/house_sales.csv"


@pytest.fixture(params=["local", "gcs"])
def settings(request: pytest.FixtureRequest, make_settings) -> Settings:
    if request.param == "local":
        return make_settings()
    request.getfixturevalue("gcs_emulator")
    from houseprice.storage.gcs import make_client

    client = make_client()
    raw, data = f"raw-{uuid.uuid4().hex[:10]}", f"data-{uuid.uuid4().hex[:10]}"
    client.create_bucket(raw)
    client.create_bucket(data)
    return make_settings(BUCKET_1=f"gs://{raw}/sales", BUCKET_2=f"gs://{data}/datasets")


def test_sample_and_corrections_become_v1_once(settings: Settings) -> None:
    frame = sample()
    put_raw(settings, SAMPLE_KEY, frame)
    corrections = collection(settings)
    good = [correction(i) for i in range(5)]
    bad = [correction(90), correction(91, corrected_price="a lot")]
    bad[0]["features"]["bedrooms"] = True  # bool is an int to Python, not a bedroom count
    corrections.insert_many(good + bad)

    summary, lines = run(settings)

    assert summary["result"] == "version" and summary["version"] == "v1"
    assert summary["rows_written"] == 3737 + 5
    assert summary["rejected"] == 210 + 2
    assert any(
        line.startswith(f"read {SAMPLE_KEY}: 3947 rows, 3737 valid, 210 rejected") for line in lines
    )
    assert any("wrote v1: 3742 rows" in line for line in lines)

    raw_bucket, data_bucket = open_bucket(settings.BUCKET_1), open_bucket(settings.BUCKET_2)
    rows = committed_rows(data_bucket)
    expected = valid_sources(SAMPLE_KEY, frame) | {f"correction:c-{i}" for i in range(5)}
    assert_exactly_once(rows, expected)
    assert set(rows["where"]) == {"v1/train", "v1/valid"}
    fixed = rows[rows["source"] == "correction:c-3"].iloc[0]
    assert fixed["price"] == 250_003.0 and fixed["date"] == "2025-03-01"
    first = rows[rows["source"] == f"raw:{SAMPLE_KEY}:2"].iloc[0]
    assert (first["price"], first["street"], first["date"]) == (
        313000.0,
        "18810 Densmore Ave N",
        "2014-05-02",
    )

    meta = manifest(data_bucket, "v1")
    assert meta["version"] == "v1" and meta["parent"] is None
    assert meta["rows"]["total"] == meta["rows"]["train"] + meta["rows"]["valid"] == 3742
    for name in ("train.csv", "valid.csv"):
        data = data_bucket.read_bytes(f"versioned/v1/{name}")
        assert meta["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert meta["files"][name]["rows"] == len(pd.read_csv(io.BytesIO(data)))
    (raw_entry,) = meta["sources"]["raw_files"]
    assert raw_entry["key"] == SAMPLE_KEY
    assert raw_entry["sha256"] == hashlib.sha256(csv_bytes(frame)).hexdigest()
    assert (raw_entry["rows_read"], raw_entry["rows_valid"], raw_entry["rows_rejected"]) == (
        3947,
        3737,
        210,
    )
    assert sorted(c["request_id"] for c in meta["sources"]["corrections"]) == [
        f"c-{i}" for i in range(5)
    ]
    assert sorted(c["request_id"] for c in meta["sources"]["rejected_corrections"]) == [
        "c-90",
        "c-91",
    ]
    assert meta["rejected"] == 212 and meta["duplicates_dropped"] == 0
    assert meta["settings"] == json.loads(json.dumps(settings.public()))
    assert "ADMIN_TOKEN" not in meta["settings"]
    datetime.fromisoformat(meta["created_at"].replace("Z", "+00:00"))

    # Raw file archived whole, rejected rows kept with their reason.
    assert raw_bucket.read_bytes(f"archive/{SAMPLE_KEY}") == csv_bytes(frame)
    assert not raw_bucket.exists(SAMPLE_KEY)
    (rejected_key,) = [
        k for k in meta["rejected_files"] if k.endswith(f"{SAMPLE_KEY}.rejected.csv")
    ]
    rejected = pd.read_csv(io.BytesIO(data_bucket.read_bytes(rejected_key)))
    assert len(rejected) == 210
    valid, bad = validate_frame(frame, keep_index=True)
    assert set(rejected["reason"]) == set(bad["reason"])
    assert set(rejected["line"]) == {i + 2 for i in bad.index}
    assert {i + 2 for i in frame.index[frame["price"] == 0]} <= set(rejected["line"])

    # Corrections: marked, never deleted.
    docs = {d["request_id"]: d for d in corrections.find({})}
    assert len(docs) == 7
    assert all(docs[f"c-{i}"]["consumed_in"] == "v1" for i in range(5))
    assert docs["c-90"]["consumed_in"].startswith("rejected:bedrooms:")
    assert docs["c-91"]["consumed_in"].startswith("rejected:price:")
    assert corrections.count_documents({"consumed": False}) == 0
    assert corrections.count_documents({"consumed": True}) == 7

    train, valid = datasets.load_cumulative(data_bucket)
    assert len(train) + len(valid) == 3742

    again, lines = run(settings)
    assert again["result"] == "nothing new"
    assert datasets.committed_versions(data_bucket) == ["v1"]
    assert any(line.startswith("nothing new") for line in lines)
    assert_exactly_once(committed_rows(data_bucket), expected)


def test_split_is_decided_by_content(make_settings, tmp_path) -> None:
    frame = sample()
    shares = {}
    sources = []
    for name, split in (("a", "0.2"), ("b", "0.2"), ("c", "0.5")):
        settings = make_settings(
            BUCKET_1=str(tmp_path / name / "raw"),
            BUCKET_2=str(tmp_path / name / "data"),
            TRAIN_TEST_SPLIT=split,
            MONGO_DB=f"split_{name}_{uuid.uuid4().hex[:6]}",
        )
        # Same records, different file order: the split must not depend on position.
        shuffled = frame.sample(frac=1, random_state=len(sources)) if name == "b" else frame
        put_raw(settings, "sales.csv", shuffled)
        run(settings)
        bucket = open_bucket(settings.BUCKET_2)
        train = datasets.read_split(bucket, "v1", "train")
        valid = datasets.read_split(bucket, "v1", "valid")
        shares[name] = len(valid) / (len(train) + len(valid))
        sources.append(set(valid["street"] + "|" + valid["price"].astype(str)))
    assert sources[0] == sources[1]
    assert 0.17 < shares["a"] < 0.23
    assert 0.46 < shares["c"] < 0.54


def test_rows_wait_in_instream_until_batch_size(make_settings) -> None:
    settings = make_settings(BATCH_SIZE="2500")
    frame = sample()
    parts = {"a.csv": frame.iloc[:1000], "b.csv": frame.iloc[1000:2000], "c.csv": frame.iloc[2000:]}
    data_bucket = open_bucket(settings.BUCKET_2)
    corrections = collection(settings)

    put_raw(settings, "a.csv", parts["a.csv"])
    corrections.insert_many([correction(i) for i in range(3)])
    first, _ = run(settings)
    assert first["result"] == "instream" and first["version"] is None
    chunk = first["chunk"]
    assert data_bucket.exists(f"instream/{chunk}.json") and data_bucket.exists(
        f"instream/{chunk}.csv"
    )
    assert datasets.committed_versions(data_bucket) == []
    assert {d["consumed_in"] for d in corrections.find({})} == {f"instream/{chunk}"}
    assert (
        first["instream_rows"]
        == first["rows_written"]
        == len(valid_sources("a.csv", parts["a.csv"])) + 3
    )

    put_raw(settings, "b.csv", parts["b.csv"])
    second, _ = run(settings)
    assert second["result"] == "instream"
    assert second["instream_rows"] == first["rows_written"] + second["rows_written"]

    put_raw(settings, "c.csv", parts["c.csv"])
    corrections.insert_many([correction(i) for i in range(3, 6)])
    third, lines = run(settings)
    assert third["result"] == "version" and third["version"] == "v1"
    assert sorted(third["folded_chunks"]) == sorted([chunk, second["chunk"]])
    assert any("folded 2 instream chunks" in line for line in lines)
    assert data_bucket.list("instream/") == []

    expected = {f"correction:c-{i}" for i in range(6)}
    for key, part in parts.items():
        expected |= valid_sources(key, part)
    assert_exactly_once(committed_rows(data_bucket), expected)
    meta = manifest(data_bucket, "v1")
    assert sorted(meta["sources"]["instream_chunks"]) == sorted([chunk, second["chunk"]])
    assert sorted(f["key"] for f in meta["sources"]["raw_files"]) == ["a.csv", "b.csv", "c.csv"]
    assert meta["rejected"] == 210
    assert {d["consumed_in"] for d in corrections.find({})} == {"v1"}
    assert open_bucket(settings.BUCKET_1).list() == [f"archive/{key}" for key in sorted(parts)]


def test_exact_duplicates_are_dropped_and_counted(make_settings) -> None:
    settings = make_settings(BATCH_SIZE="100")
    frame = clean_sample().iloc[:100]
    first = pd.concat([frame, frame.iloc[:10]], ignore_index=True)  # 10 repeats inside a file
    overlap = clean_sample().iloc[50:150]  # 50 rows repeat the first file's
    put_raw(settings, "one.csv", first)
    put_raw(settings, "same_bytes.csv", first)  # the same file again under another name
    put_raw(settings, "overlap.csv", overlap)
    corrections = collection(settings)
    corrections.insert_many([correction(7), correction(8)])
    corrections.insert_one({**correction(7), "request_id": "c-7-again"})  # same record as c-7

    summary, lines = run(settings)

    assert summary["duplicates_dropped"] == 10 + 50 + 1
    assert any("dropped 61 exact duplicate rows" in line for line in lines)
    assert [f["key"] for f in summary["files_already_consumed"]] == ["same_bytes.csv"]
    rows = committed_rows(open_bucket(settings.BUCKET_2))
    records = rows.drop(columns=["source", "where"])
    assert not records.duplicated().any()
    distinct_valid = pd.concat([frame, overlap]).query("price > 0").drop_duplicates()
    assert len(rows) == len(distinct_valid) + 2
    meta = manifest(open_bucket(settings.BUCKET_2), "v1")
    entries = {f["key"]: f for f in meta["sources"]["raw_files"]}
    assert entries["one.csv"]["rows_duplicate"] == 10
    assert entries["overlap.csv"]["rows_duplicate"] == 50
    assert [f["key"] for f in meta["sources"]["already_consumed"]] == ["same_bytes.csv"]
    flagged = {c["request_id"]: c["duplicate"] for c in meta["sources"]["corrections"]}
    assert flagged == {"c-7": False, "c-8": False, "c-7-again": True}
    assert {d["consumed_in"] for d in corrections.find({})} == {"v1"}
    assert sorted(open_bucket(settings.BUCKET_1).list()) == [
        "archive/one.csv",
        "archive/overlap.csv",
        "archive/same_bytes.csv",
    ]


def test_a_file_already_committed_is_not_read_twice(make_settings) -> None:
    settings = make_settings()
    put_raw(settings, "sales.csv", sample())
    run(settings)
    put_raw(settings, "again/copy.csv", sample())

    summary, lines = run(settings)

    assert summary["result"] == "nothing new"
    assert summary["files_already_consumed"] == [
        {"key": "again/copy.csv", "same_as": "sales.csv", "in": "v1"}
    ]
    assert any(line.startswith("already consumed again/copy.csv") for line in lines)
    assert open_bucket(settings.BUCKET_1).exists("archive/again/copy.csv")
    assert datasets.committed_versions(open_bucket(settings.BUCKET_2)) == ["v1"]


def test_unusable_files_are_quarantined_whole(make_settings) -> None:
    settings = make_settings()
    latin = sample().iloc[:20].copy()
    latin.loc[3, "street"] = "Rue de l'Église"
    bad = {
        "empty.csv": b"",
        "latin1.csv": latin.to_csv(index=False).encode("latin-1"),
        "no_price.csv": csv_bytes(sample().iloc[:5].drop(columns=["price", "city"])),
        "image.csv": bytes(range(256)) * 8,
    }
    for key, data in bad.items():
        put_raw(settings, f"in/{key}", data)
    put_raw(settings, "in/good.csv", sample().iloc[:1500])
    put_raw(settings, "in/header_only.csv", csv_bytes(sample().iloc[:0]))

    summary, lines = run(settings)

    raw_bucket = open_bucket(settings.BUCKET_1)
    reasons = {}
    for key, data in bad.items():
        target = f"quarantine/in/{key}.{hashlib.sha256(data).hexdigest()[:16]}"
        assert raw_bucket.read_bytes(target) == data
        assert not raw_bucket.exists(f"in/{key}")
        sidecar = json.loads(raw_bucket.read_text(f"{target}.reason.json"))
        assert sidecar["sha256"] == hashlib.sha256(data).hexdigest()
        datetime.fromisoformat(sidecar["detected_at"].replace("Z", "+00:00"))
        reasons[key] = sidecar["reason"]
    assert reasons["empty.csv"] == "empty file"
    assert "UTF-8" in reasons["latin1.csv"]
    assert reasons["no_price.csv"] == "missing required columns: price, city"
    assert reasons["image.csv"]
    assert sorted(q["key"] for q in summary["files_quarantined"]) == sorted(f"in/{k}" for k in bad)
    assert sum(line.startswith("quarantined in/") for line in lines) == 4
    assert summary["version"] == "v1"
    assert raw_bucket.exists("archive/in/good.csv") and raw_bucket.exists(
        "archive/in/header_only.csv"
    )
    entries = {
        f["key"]: f for f in manifest(open_bucket(settings.BUCKET_2), "v1")["sources"]["raw_files"]
    }
    assert entries["in/header_only.csv"]["rows_read"] == 0


def test_bad_rows_are_rejected_with_line_and_reason(make_settings) -> None:
    settings = make_settings(BATCH_SIZE="1")
    header = ",".join(sample().columns)
    good = sample().iloc[:4].to_csv(index=False, header=False).strip().splitlines()
    extra = "2014-05-02 00:00:00,1,2,3"  # too few fields
    bad_price = good[1].replace("2384000.0", "lots", 1)
    bad_zip = good[2].replace("WA 98042", "98042", 1)
    text = "\n".join([header, good[0], extra, bad_price, bad_zip, good[3]]) + "\n"
    put_raw(settings, "mixed.csv", text.encode())

    summary, _ = run(settings)

    assert summary["rejected"] == 3
    bucket = open_bucket(settings.BUCKET_2)
    rows = committed_rows(bucket)
    assert sorted(rows["source"]) == ["raw:mixed.csv:2", "raw:mixed.csv:6"]
    (key,) = manifest(bucket, "v1")["rejected_files"]
    rejected = pd.read_csv(io.BytesIO(bucket.read_bytes(key)))
    by_line = dict(zip(rejected["line"], rejected["reason"], strict=True))
    assert by_line[3].startswith("malformed row: 4 fields, expected 18")
    assert by_line[4] == "price: not a number"
    assert by_line[5] == 'statezip: must look like state and zip, e.g. "WA 98103"'


def test_bad_corrections_are_marked_rejected_never_deleted(make_settings) -> None:
    settings = make_settings()
    put_raw(settings, "sales.csv", sample())
    corrections = collection(settings)
    injected = correction(1)
    injected["features"]["city"] = {"$ne": ""}
    unknown = correction(2)
    unknown["features"]["pool"] = 1
    missing = correction(3)
    del missing["features"]
    no_date = correction(4)
    del no_date["created_at"]
    docs = [injected, unknown, missing, no_date, correction(5)]
    corrections.insert_many(docs)

    summary, _ = run(settings)

    assert summary["corrections"] == {"read": 5, "valid": 1, "rejected": 4, "already_committed": 0}
    marks = {d["request_id"]: d["consumed_in"] for d in corrections.find({})}
    assert marks["c-1"] == "rejected:city: must be text"
    assert marks["c-2"] == "rejected:pool: is not a known field"
    assert marks["c-3"] == "rejected:features: must be an object of the 16 house features"
    assert marks["c-4"] == "rejected:created_at: must be a date"
    assert marks["c-5"] == "v1"
    bucket = open_bucket(settings.BUCKET_2)
    (key,) = [
        k
        for k in manifest(bucket, "v1")["rejected_files"]
        if k.endswith("corrections.rejected.csv")
    ]
    rejected = pd.read_csv(io.BytesIO(bucket.read_bytes(key)))
    assert sorted(rejected["request_id"]) == ["c-1", "c-2", "c-3", "c-4"]
    assert corrections.count_documents({}) == 5


def test_reconcile_removes_what_no_commit_covers(make_settings) -> None:
    settings = make_settings()
    put_raw(settings, "sales.csv", sample().iloc[:2000])
    run(settings)
    bucket = open_bucket(settings.BUCKET_2)
    bucket.write_bytes("versioned/v2/train.csv", b"partial")
    bucket.write_bytes("instream/20990101T000000Z-abcdef.csv", b"partial")
    bucket.write_bytes("quarantine/20990101T000000Z-abcdef/x.csv.rejected.csv", b"line,reason\n")
    kept = set(bucket.list("versioned/v1/"))

    put_raw(settings, "more.csv", sample().iloc[2000:])
    summary, lines = run(settings)

    assert summary["recovered"] == {"uncommitted_deleted": 2, "orphan_rejected_deleted": 1}
    assert any(line.startswith("recovered: ") for line in lines)
    assert summary["version"] == "v2"
    assert manifest(bucket, "v2")["parent"] == "v1"
    assert set(bucket.list("versioned/v1/")) == kept
    assert bucket.list("instream/") == []
    assert not any("20990101" in key for key in bucket.list())
    expected = valid_sources("sales.csv", sample().iloc[:2000])
    expected |= valid_sources("more.csv", sample().iloc[2000:].reset_index(drop=True))
    assert_exactly_once(committed_rows(bucket), expected)


@pytest.mark.parametrize(
    ("raw", "data"), [("same", "same"), ("all", "all/datasets"), ("all/raw", "all")]
)
def test_buckets_must_not_overlap(make_settings, tmp_path, raw: str, data: str) -> None:
    settings = make_settings(BUCKET_1=str(tmp_path / raw), BUCKET_2=str(tmp_path / data))
    with pytest.raises(job.JobError, match="BUCKET_1 and BUCKET_2 must not overlap"):
        run(settings)


def test_a_large_backlog_is_drained_over_several_runs(make_settings, monkeypatch) -> None:
    monkeypatch.setattr(job, "MAX_ROWS_PER_RUN", 1500)
    settings = make_settings()
    frame = sample()
    parts = {f"day{n}.csv": frame.iloc[n * 1000 : (n + 1) * 1000] for n in range(3)}
    for key, part in parts.items():
        put_raw(settings, key, part)

    first, lines = run(settings)
    assert [f["key"] for f in first["files"]] == ["day0.csv", "day1.csv"]
    assert first["files_waiting"] == 1
    assert any("1 more files wait for the next run" in line for line in lines)
    assert open_bucket(settings.BUCKET_1).exists("day2.csv")

    second, _ = run(settings)
    assert [f["key"] for f in second["files"]] == ["day2.csv"]
    assert second["files_waiting"] == 0
    expected = set().union(*(valid_sources(key, part) for key, part in parts.items()))
    assert_exactly_once(committed_rows(open_bucket(settings.BUCKET_2)), expected)


def test_versions_written_by_another_tool_are_built_upon(make_settings) -> None:
    settings = make_settings()
    bucket = open_bucket(settings.BUCKET_2)
    header = ",".join(datasets.DATASET_COLUMNS) + "\n"
    bucket.write_text("versioned/v1/train.csv", header)
    bucket.write_text("versioned/v1/valid.csv", header)
    bucket.write_text("versioned/v1/manifest.json", json.dumps({"version": "v1", "sources": ["x"]}))
    put_raw(settings, "sales.csv", sample())

    summary, _ = run(settings)

    assert summary["version"] == "v2"
    assert manifest(bucket, "v2")["parent"] == "v1"


def test_a_run_that_finds_the_lease_held_changes_nothing(settings: Settings) -> None:
    put_raw(settings, SAMPLE_KEY, sample())
    collection(settings).insert_many([correction(i) for i in range(3)])
    raw_bucket, data_bucket = open_bucket(settings.BUCKET_1), open_bucket(settings.BUCKET_2)
    before = raw_bucket.list_info()

    with Lease(data_bucket, job.LEASE_KEY, ttl=60, run_id="the-other-run") as other:
        held, lines = run(settings)
        assert held["ok"] is True and held["result"] == "lease held"
        assert held["held_by"]["run_id"] == "the-other-run"
        assert "another run holds the lease, nothing done" in lines[-1]
        assert "run the-other-run" in lines[-1] and "since " in lines[-1]
        assert raw_bucket.list_info() == before
        assert data_bucket.list() == [job.LEASE_KEY]
        assert collection(settings).count_documents({"consumed": False}) == 3
        other.verify()  # still the other run's lease

    done, _ = run(settings)
    assert done["result"] == "version" and "took_over" not in done
    assert not data_bucket.exists(job.LEASE_KEY)


def test_an_expired_lease_is_taken_over_then_its_debris_cleaned(settings: Settings) -> None:
    put_raw(settings, SAMPLE_KEY, sample())
    data_bucket = open_bucket(settings.BUCKET_2)
    dead = Lease(data_bucket, job.LEASE_KEY, ttl=0.5, run_id="died-mid-run").acquire()
    data_bucket.write_bytes("versioned/v1/train.csv", b"half of a version")  # its debris
    time.sleep(0.7)

    summary, lines = run(settings)

    assert summary["took_over"]["run_id"] == "died-mid-run"
    assert any(line.startswith("took over an expired lease: run died-mid-run") for line in lines)
    assert summary["recovered"]["uncommitted_deleted"] == 1
    assert summary["version"] == "v1"
    assert manifest(data_bucket, "v1")["rows"]["total"] == 3737
    with pytest.raises(LeaseLost):
        dead.verify()


def test_local_files_are_read_only_once_settled(make_settings) -> None:
    settings = make_settings(SETTLE_SECONDS="1")
    frame = sample()
    root = Path(open_bucket(settings.BUCKET_1).root)
    put_raw(settings, "old.csv", frame.iloc[:500])
    past = time.time() - 60
    os.utime(root / "old.csv", (past, past))
    (root / "growing.csv").write_bytes(csv_bytes(frame.iloc[500:520]))
    (root / "empty.csv").write_bytes(b"")  # created by its writer; the rows come later
    lines = csv_bytes(frame.iloc[520:1200]).splitlines(keepends=True)[1:]

    def writer() -> None:
        time.sleep(0.3)
        (root / "empty.csv").write_bytes(csv_bytes(frame.iloc[1200:1500]))
        with open(root / "growing.csv", "ab") as handle:
            for start in range(0, len(lines), 100):
                handle.write(b"".join(lines[start : start + 100]))
                handle.flush()
                time.sleep(0.2)

    thread = threading.Thread(target=writer)
    thread.start()
    first, first_lines = run(settings)
    thread.join()

    assert [f["key"] for f in first["files"]] == ["old.csv"]
    assert sorted(first["files_in_flight"]) == ["empty.csv", "growing.csv"]
    assert first["files_quarantined"] == []
    assert any(line.startswith("waiting ") and "to settle" in line for line in first_lines)
    assert "left growing.csv for the next run: still being written" in first_lines

    second, _ = run(settings)  # waits for the settle period itself, then reads both

    assert sorted(f["key"] for f in second["files"]) == ["empty.csv", "growing.csv"]
    expected = valid_sources("old.csv", frame.iloc[:500])
    expected |= valid_sources("growing.csv", frame.iloc[500:1200])
    expected |= valid_sources("empty.csv", frame.iloc[1200:1500])
    assert_exactly_once(committed_rows(open_bucket(settings.BUCKET_2)), expected)


def test_an_empty_file_is_judged_empty_only_after_the_settle_period(make_settings) -> None:
    settings = make_settings(SETTLE_SECONDS="0.5")
    put_raw(settings, "nothing.csv", b"")
    started = time.monotonic()
    summary, _ = run(settings)
    assert time.monotonic() - started >= 0.5
    assert [q["key"] for q in summary["files_quarantined"]] == ["nothing.csv"]
    assert summary["files_quarantined"][0]["reason"] == "empty file"
