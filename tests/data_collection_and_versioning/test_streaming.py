"""Large raw files: streamed in segments, each committed exactly once, even across crashes."""

from __future__ import annotations

import io
import json
import time
import uuid

import pandas as pd
import pytest

from data_collection_and_versioning import faults, sources
from houseprice.storage import open_bucket
from tests.data_collection_and_versioning.helpers import (
    assert_exactly_once,
    cli,
    committed_rows,
    csv_bytes,
    put_raw,
    run,
    sample,
    valid_sources,
)


def messy_file() -> bytes:
    """The sample with malformed rows, bad cells and blank lines sprinkled through it."""
    frame = sample()
    frame["sqft_lot"] = frame["sqft_lot"].astype(object)
    frame.loc[[10, 700, 2500], "sqft_lot"] = "big"
    lines = csv_bytes(frame).split(b"\n")
    lines.insert(400, b"1,2,3")  # too few fields
    lines.insert(1200, b"")  # a blank line is not counted
    lines.insert(3000, b"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u")
    return b"\n".join(lines)


@pytest.mark.parametrize("size", [97, 1000, 10_000])
def test_segments_hold_exactly_what_the_whole_file_holds(size: int) -> None:
    data = messy_file()
    whole = sources.parse_raw("m.csv", data)
    header = sources.check_header(data)
    segments = list(sources.iter_segments(io.BytesIO(data), header, size))

    assert [s.number for s in segments] == list(range(len(segments)))
    assert [s.last for s in segments] == [False] * (len(segments) - 1) + [True]
    assert all(s.rows_read >= size for s in segments[:-1])  # + malformed rows within
    assert sum(s.rows_read for s in segments) == whole.rows_read
    lines = [int(n) for s in segments for n in s.lines]
    assert lines == [int(n) for n in whole.lines]
    rejected = pd.concat([s.rejected for s in segments], ignore_index=True)
    assert rejected["line"].tolist() == whole.rejected["line"].tolist()
    assert rejected["reason"].tolist() == whole.rejected["reason"].tolist()
    valid = pd.concat([s.valid for s in segments], ignore_index=True)
    pd.testing.assert_frame_equal(valid, whole.valid)


@pytest.mark.parametrize("backend", ["local", "gcs"])
def test_a_large_file_is_committed_segment_by_segment(request, make_settings, backend) -> None:
    buckets = {}
    if backend == "gcs":
        request.getfixturevalue("gcs_emulator")
        from houseprice.storage.gcs import make_client

        raw, data = f"raw-{uuid.uuid4().hex[:10]}", f"data-{uuid.uuid4().hex[:10]}"
        make_client().create_bucket(raw)
        make_client().create_bucket(data)
        buckets = {"BUCKET_1": f"gs://{raw}/in", "BUCKET_2": f"gs://{data}/ds"}
    settings = make_settings(SEGMENT_ROWS="1000", BATCH_SIZE="1500", **buckets)
    frame = sample()
    put_raw(settings, "big.csv", frame)

    summary, lines = run(settings)

    assert [s["segment"] for s in summary["segments"]] == [0, 1, 2, 3]
    assert summary["segments"][-1]["last"] is True
    assert any(line.startswith("streaming big.csv") for line in lines)
    data = open_bucket(settings.BUCKET_2)
    assert_exactly_once(committed_rows(data), valid_sources("big.csv", frame))
    assert open_bucket(settings.BUCKET_1).list() == ["archive/big.csv"]
    assert run(settings)[0]["result"] == "nothing new"


@pytest.mark.parametrize("step", ["after_chunk_commit", "after_manifest", "after_rejected_written"])
def test_a_crash_between_segments_then_a_rerun_counts_every_row_once(make_settings, step) -> None:
    settings = make_settings(SEGMENT_ROWS="800", BATCH_SIZE="1200", LEASE_SECONDS="1")
    frame = sample()
    put_raw(settings, "big.csv", frame)

    crashed = cli(settings, "--json", fault=step)
    assert crashed.returncode == faults.EXIT_CODE
    time.sleep(settings.LEASE_SECONDS)  # the dead run's lease expires
    done = cli(settings, "--json")

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["took_over"]
    if step != "after_rejected_written":  # segment 0 was committed before the crash
        assert "segment 0 of big.csv already committed: skipped" in done.stdout
    data = open_bucket(settings.BUCKET_2)
    assert_exactly_once(committed_rows(data), valid_sources("big.csv", frame))
    assert open_bucket(settings.BUCKET_1).list() == ["archive/big.csv"]
    rejected = [k for k in data.list("quarantine/")]
    lines = []
    for key in rejected:
        lines += pd.read_csv(io.BytesIO(data.read_bytes(key)))["line"].tolist()
    assert len(lines) == len(set(lines)) == 210  # each rejected row reported once
