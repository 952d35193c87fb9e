"""Start-of-run reconcile, on a BUCKET_2 left as a crash would leave it."""

from __future__ import annotations

import json
from pathlib import Path

from data_collection_and_versioning.recovery import reconcile
from data_collection_and_versioning.sources import sha256_hex
from data_collection_and_versioning.versioning import Sources, encode_id, load_ledger
from houseprice.storage import LocalBucket
from tests.data_collection_and_versioning.helpers import collection, correction


def test_reconcile_finishes_the_newest_commits_and_cleans_the_rest(
    make_settings, tmp_path: Path
) -> None:
    docs = collection(make_settings())
    docs.insert_many([correction(i) for i in range(4)])
    ids = {d["request_id"]: d["_id"] for d in docs.find({})}
    raw, data = LocalBucket(tmp_path / "raw"), LocalBucket(tmp_path / "data")
    for key in ("old.csv", "new.csv", "waiting.csv"):
        raw.write_bytes(key, key.encode())

    def put(key: str, record: dict) -> None:
        data.write_text(key, json.dumps(record))

    def entry(key: str) -> dict:
        return {"key": key, "sha256": sha256_hex(key.encode())}

    def marked(*request_ids: str) -> list[dict]:
        return [{"id": encode_id(ids[r]), "request_id": r} for r in request_ids]

    # v1 is old and was followed up by the run after it; nothing here repeats it.
    put(
        "versioned/v1/manifest.json",
        {
            "version": "v1",
            **Sources(
                raw_files=[entry("old.csv")], corrections=marked("c-0"), run_ids=["r1"]
            ).to_record(),
        },
    )
    # v2 was committed, folding chunk c5, then the process died.
    put(
        "versioned/v2/manifest.json",
        {
            "version": "v2",
            **Sources(
                raw_files=[entry("new.csv")],
                corrections=marked("c-1"),
                instream_chunks=["c5"],
                run_ids=["r2"],
            ).to_record(),
        },
    )
    put("instream/c5.json", {"rows": {"total": 1}, **Sources(run_ids=["r5"]).to_record()})
    data.write_text("instream/c5.csv", "folded")
    # A live chunk committed after v2, follow-up never done.
    put(
        "instream/c6.json",
        {
            "rows": {"total": 1},
            **Sources(
                raw_files=[entry("waiting.csv")], corrections=marked("c-2"), run_ids=["r6"]
            ).to_record(),
        },
    )
    data.write_text("instream/c6.csv", "rows")
    # Leftovers of a run that committed nothing.
    data.write_text("versioned/v3/train.csv", "partial")
    data.write_text("instream/c7.csv", "partial")
    data.write_text("quarantine/r7/x.csv.rejected.csv", "orphan")
    data.write_text("quarantine/r2/new.csv.rejected.csv", "kept")

    done = reconcile(load_ledger(data), raw, data, docs)

    assert done == {
        "folded_chunks_deleted": 1,
        "uncommitted_deleted": 2,
        "orphan_rejected_deleted": 1,
        "corrections_marked": 2,
        "archived": 2,
    }
    assert sorted(data.list()) == [
        "instream/c6.csv",
        "instream/c6.json",
        "quarantine/r2/new.csv.rejected.csv",
        "versioned/v1/manifest.json",
        "versioned/v2/manifest.json",
    ]
    assert sorted(raw.list()) == ["archive/new.csv", "archive/waiting.csv", "old.csv"]
    marks = {d["request_id"]: d["consumed_in"] for d in docs.find({})}
    assert marks == {"c-0": "", "c-1": "v2", "c-2": "instream/c6", "c-3": ""}
    assert reconcile(load_ledger(data), raw, data, docs) == {}
