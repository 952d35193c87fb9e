"""Kill the job at every named step, re-run it, and count every record exactly once.

Three stages of input go through the job: two that stay below BATCH_SIZE (instream
chunks) and one that folds everything into v1. In each case one stage's first run
is a real process killed with os._exit(137) at the step; every other run is a
normal one. The end state must be the same as if nothing had crashed.
"""

from __future__ import annotations

import io
import time
from collections import Counter

import pandas as pd
import pytest

from data_collection_and_versioning import faults, followup
from data_collection_and_versioning.sources import sha256_hex
from houseprice import datasets
from houseprice.schema import validate_frame
from houseprice.storage import open_bucket
from tests.data_collection_and_versioning.helpers import (
    assert_exactly_once,
    cli,
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

CHUNK_STAGES = (0, 1)
VERSION_STAGE = 2


def stages() -> list[dict]:
    frame = sample()
    latin = frame.iloc[:30].copy()
    latin.loc[5, "city"] = "Montréal"
    return [
        {
            "files": {"s1/a.csv": frame.iloc[:700], "s1/b.csv": frame.iloc[700:1400]},
            "bad": {"s1/broken.csv": csv_bytes(frame.iloc[:3].drop(columns=["price"]))},
            "corrections": [correction(i) for i in range(10)]
            + [correction(100, corrected_price=-1)],
        },
        {
            "files": {"s2/c.csv": frame.iloc[1400:2000]},
            "bad": {},
            "corrections": [correction(i) for i in range(10, 15)] + [correction(101, features={})],
        },
        {
            "files": {"s3/d.csv": frame.iloc[2000:2900], "s3/e.csv": frame.iloc[2900:]},
            "bad": {"s3/latin.csv": latin.to_csv(index=False).encode("latin-1")},
            "corrections": [correction(i) for i in range(15, 20)],
        },
    ]


STEP_STAGE = {
    "after_reconcile": 0,
    "after_quarantine_reason": 0,
    "after_quarantine_copy": 0,
    "after_read": 0,
    "after_rejected_written": 0,
    "after_chunk_data": 0,
    "after_chunk_commit": 0,
    "after_version_train": VERSION_STAGE,
    "after_version_data": VERSION_STAGE,
    "after_manifest": VERSION_STAGE,
    "after_mark_corrections": 0,
    "after_mark_rejected": 0,
    "after_archive_copy": 0,
    "after_archive_first_raw": 0,
    "after_archive": 0,
    "after_instream_cleanup_first": VERSION_STAGE,
    "after_instream_cleanup": VERSION_STAGE,
}
# The follow-up steps once more after the version commit, and a second chunk crash.
CASES = [(step, stage) for step, stage in STEP_STAGE.items()] + [
    ("after_read", VERSION_STAGE),
    ("after_quarantine_copy", VERSION_STAGE),
    ("after_rejected_written", VERSION_STAGE),
    ("after_mark_corrections", VERSION_STAGE),
    ("after_mark_rejected", 1),
    ("after_archive_first_raw", VERSION_STAGE),
    ("after_archive", VERSION_STAGE),
    ("after_chunk_data", 1),
]


def test_every_step_is_exercised() -> None:
    assert set(STEP_STAGE) == set(faults.STEPS)


def test_unknown_step_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown fault step"):
        faults.point("after_lunch")


@pytest.mark.parametrize(("step", "crash_stage"), CASES, ids=[f"{s}-stage{n}" for s, n in CASES])
def test_crash_then_rerun_counts_every_record_once(make_settings, step, crash_stage) -> None:
    settings = make_settings(BATCH_SIZE="3000", LEASE_SECONDS="1")
    corrections = collection(settings)
    plan = stages()
    for number, stage in enumerate(plan):
        for key, frame in stage["files"].items():
            put_raw(settings, key, frame)
        for key, data in stage["bad"].items():
            put_raw(settings, key, data)
        corrections.insert_many(stage["corrections"])
        if number == crash_stage:
            crashed = cli(settings, fault=step)
            assert crashed.returncode == faults.EXIT_CODE, crashed.stderr
            assert f"fault injected: exiting at {step}" in crashed.stdout
            held, _ = run(settings)  # the dead run's lease has not expired yet
            assert held["result"] == "lease held"
            time.sleep(settings.LEASE_SECONDS)
            rerun, _ = run(settings)
            assert rerun["took_over"]["run_id"] == held["held_by"]["run_id"]
            continue
        run(settings)  # the re-run after the crash, or the stage's normal run
    final, _ = run(settings)
    assert final["result"] == "nothing new"

    data_bucket = open_bucket(settings.BUCKET_2)
    raw_bucket = open_bucket(settings.BUCKET_1)

    # Every valid record exactly once, all in v1, nothing left waiting.
    expected: set[str] = set()
    valid_ids, rejected_ids = [], []
    for stage in plan:
        for key, frame in stage["files"].items():
            expected |= valid_sources(key, frame)
        for doc in stage["corrections"]:
            good = doc["corrected_price"] > 0 and doc["features"]
            (valid_ids if good else rejected_ids).append(doc["request_id"])
    expected |= {f"correction:{rid}" for rid in valid_ids}
    rows = committed_rows(data_bucket)
    assert_exactly_once(rows, expected)
    assert set(rows["where"]) == {"v1/train", "v1/valid"}
    assert datasets.committed_versions(data_bucket) == ["v1"]
    assert data_bucket.list("instream/") == []
    assert [k for k in data_bucket.list("versioned/") if not k.startswith("versioned/v1/")] == []

    # Corrections: none pending, each marked where its row is (or rejected), none deleted.
    marks = {d["request_id"]: d["consumed_in"] for d in corrections.find({})}
    assert len(marks) == len(valid_ids) + len(rejected_ids)
    assert corrections.count_documents({"consumed": False}) == 0
    assert {marks[rid] for rid in valid_ids} == {"v1"}
    assert all(marks[rid].startswith("rejected:") for rid in rejected_ids)

    # BUCKET_1: every raw file archived, every unusable one quarantined, nothing else.
    archived = [f"archive/{key}" for stage in plan for key in stage["files"]]
    quarantined = [
        f"{followup.quarantine_name(key, sha256_hex(data))}{suffix}"
        for stage in plan
        for key, data in stage["bad"].items()
        for suffix in ("", ".reason.json")
    ]
    assert sorted(raw_bucket.list()) == sorted(archived + quarantined)

    # The manifest accounts for everything, and rejected rows are kept exactly once.
    meta = manifest(data_bucket, "v1")
    assert meta["rows"]["total"] == len(expected)
    listed = sorted(f["key"] for f in meta["sources"]["raw_files"])
    assert listed == sorted(key for stage in plan for key in stage["files"])
    assert sorted(c["request_id"] for c in meta["sources"]["corrections"]) == sorted(valid_ids)
    assert sorted(c["request_id"] for c in meta["sources"]["rejected_corrections"]) == sorted(
        rejected_ids
    )
    assert sorted(data_bucket.list("quarantine/")) == sorted(meta["rejected_files"])
    lines: Counter[tuple[str, int]] = Counter()
    for key in meta["rejected_files"]:
        if key.endswith("corrections.rejected.csv"):
            continue
        frame = pd.read_csv(io.BytesIO(data_bucket.read_bytes(key)))
        source = key.split("/", 2)[2].removesuffix(".rejected.csv")
        lines.update((source, int(line)) for line in frame["line"])
    assert max(lines.values()) == 1
    bad_rows = sum(
        len(validate_frame(frame.reset_index(drop=True))[1])
        for stage in plan
        for frame in stage["files"].values()
    )
    assert sum(lines.values()) == bad_rows == meta["rejected"] - len(rejected_ids)
