"""The CLI as a real process: output, exit codes, one-line errors, a concurrent writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from data_collection_and_versioning.job import LEASE_KEY
from houseprice import datasets
from houseprice.storage import open_bucket
from tests.conftest import ROOT
from tests.data_collection_and_versioning.helpers import (
    assert_exactly_once,
    cli,
    collection,
    committed_rows,
    correction,
    put_raw,
    run,
    sample,
    valid_sources,
)
from tests.support.servers import VENV_BIN, free_port
from tests.support.services import settings_env


def test_progress_lines_then_json_summary_last(make_settings) -> None:
    settings = make_settings()
    put_raw(settings, "sales.csv", sample())
    collection(settings).insert_many([correction(i) for i in range(3)])

    done = cli(settings, "--json")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["ok"] is True and summary["version"] == "v1"
    assert summary["rows_written"] == 3737 + 3
    assert summary["corrections"]["valid"] == 3
    assert summary["top_reasons"] == [
        ["yr_renovated: must not be before yr_built (0 means never renovated)", 168],
        ["price: must be a number from 1000 to 1000000000", 44],
    ]
    text = "\n".join(lines[:-1])
    assert "read sales.csv: 3947 rows, 3737 valid, 210 rejected" in text
    assert "read 3 pending corrections: 3 valid, 0 rejected" in text
    assert "rejected 210 rows; top reasons: yr_renovated: must not be before" in text
    assert "deduplicated: dropped 0 exact duplicate rows" in text
    assert "wrote v1: 3740 rows" in text
    assert "Traceback" not in done.stderr

    again = cli(settings)
    assert again.returncode == 0
    assert "nothing new" in again.stdout


def test_console_script_is_installed() -> None:
    done = subprocess.run(
        [str(VENV_BIN / "houseprice-data-job"), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0
    assert "--json" in done.stdout


def test_invalid_settings_are_one_clear_line(make_settings) -> None:
    done = cli(make_settings(), "--json", env={"BATCH_SIZE": "abc", "TRAIN_TEST_SPLIT": "1.5"})

    assert done.returncode == 2
    error = done.stderr.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("error: invalid configuration:")
    assert "BATCH_SIZE='abc'" in error and "TRAIN_TEST_SPLIT='1.5'" in error
    assert json.loads(done.stdout.strip().splitlines()[-1])["ok"] is False


def test_unreachable_mongo_fails_before_touching_anything(make_settings) -> None:
    settings = make_settings(MONGO_URI=f"mongodb://127.0.0.1:{free_port()}")
    put_raw(settings, "sales.csv", sample())

    done = cli(settings)

    assert done.returncode == 1
    error = done.stderr.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert error.startswith(f"error: cannot reach MongoDB at {settings.MONGO_URI}")
    assert open_bucket(settings.BUCKET_1).list() == ["sales.csv"]
    assert open_bucket(settings.BUCKET_2).list() == []


def test_unusable_dataset_bucket_is_reported(make_settings, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = make_settings(BUCKET_2=str(blocker / "bucket_2"))
    put_raw(settings, "sales.csv", sample())

    done = cli(settings)

    assert done.returncode == 1
    error = done.stderr.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert error.startswith("error: cannot open bucket:")
    assert open_bucket(settings.BUCKET_1).list() == ["sales.csv"]


def test_missing_gcs_bucket_is_reported(make_settings, gcs_emulator) -> None:
    settings = make_settings(BUCKET_2=f"gs://missing-{uuid.uuid4().hex[:8]}/datasets")
    put_raw(settings, "sales.csv", sample())

    done = cli(settings)

    assert done.returncode == 1
    error = done.stderr.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert error.startswith("error: storage error: 404")
    assert open_bucket(settings.BUCKET_1).list() == ["sales.csv"]


def test_corrections_written_during_a_run_wait_for_the_next(make_settings) -> None:
    """A writer inserts corrections while the job runs as its own process."""
    settings = make_settings()
    put_raw(settings, "sales.csv", sample())
    corrections = collection(settings)
    corrections.insert_many([correction(i, tag="before") for i in range(20)])
    inserted: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            doc = correction(i, tag="during", corrected_price=600_000.0 + i)
            corrections.insert_one(doc)
            inserted.append(doc["request_id"])
            i += 1
            time.sleep(0.005)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        done = cli(settings, "--json")
    finally:
        stop.set()
        thread.join()
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(inserted) > 20  # the writer really ran alongside the job
    taken = first["corrections"]["read"]
    assert 20 <= taken < 20 + len(inserted)  # a snapshot: later inserts stay pending
    assert corrections.count_documents({"consumed": False}) == 20 + len(inserted) - taken

    second, _ = run(settings)

    assert corrections.count_documents({"consumed": False}) == 0
    assert second["corrections"]["read"] == 20 + len(inserted) - taken
    bucket = open_bucket(settings.BUCKET_2)
    expected = valid_sources("sales.csv", sample())
    expected |= {f"correction:before-{i}" for i in range(20)}
    expected |= {f"correction:{rid}" for rid in inserted}
    rows = committed_rows(bucket)
    assert_exactly_once(rows, expected)
    where = dict(zip(rows["source"], rows["where"], strict=True))
    for doc in corrections.find({}):
        home = where[f"correction:{doc['request_id']}"]
        assert home.split("/")[0] == doc["consumed_in"].split("/")[0]
        if doc["consumed_in"].startswith("instream/"):
            assert home == doc["consumed_in"]
    assert datasets.committed_versions(bucket)[0] == "v1"


def test_a_run_whose_lease_is_taken_over_stops_before_writing(make_settings) -> None:
    """Another holder replaces the lease while the run waits for a file to settle."""
    settings = make_settings(SETTLE_SECONDS="3")
    put_raw(settings, "fresh.csv", sample().iloc[:50])
    data = open_bucket(settings.BUCKET_2)
    env = {**os.environ, **settings_env(settings)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "data_collection_and_versioning"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if data.exists(LEASE_KEY):
            break
        time.sleep(0.05)
    stolen = {"run_id": "usurper", "host": "elsewhere", "pid": 1, "expires_at": "2999-01-01Z"}
    data.write_text(LEASE_KEY, json.dumps(stolen))
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, out
    assert err.strip().startswith("error: lease lost, stopping before the next write")
    assert "waiting " in out  # it was waiting for fresh.csv to settle
    assert data.list() == [LEASE_KEY]  # nothing written, the usurper's lease left alone
    assert json.loads(data.read_text(LEASE_KEY))["run_id"] == "usurper"
    assert open_bucket(settings.BUCKET_1).list() == ["fresh.csv"]
