"""Overlapping runs, black box: several job processes at once, the lease holder killed at
a random point, a file still being written, a file empty when listed, same-name
re-uploads. Afterwards every distinct row is committed exactly once and the job still
runs. On a local directory and on GCS (fake-gcs-server).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pandas as pd
import pytest

from data_collection_and_versioning import rows
from data_collection_and_versioning.job import LEASE_KEY
from data_collection_and_versioning.sources import ARCHIVE_PREFIX, QUARANTINE_PREFIX, raw_keys
from data_collection_and_versioning.versioning import load_ledger
from houseprice.schema import validate_frame
from houseprice.settings import Settings
from houseprice.storage import ObjectNotFound, open_bucket
from tests.conftest import ROOT
from tests.data_collection_and_versioning.helpers import cli, committed_rows, csv_bytes, sample
from tests.support.services import settings_env

LEASE = 2.0  # seconds: a killed holder's lease expires quickly
SETTLE = 1.0


@pytest.fixture(params=["local", "gcs"])
def settings(request: pytest.FixtureRequest, make_settings) -> Settings:
    common = {"BATCH_SIZE": "1000", "LEASE_SECONDS": str(LEASE), "SETTLE_SECONDS": str(SETTLE)}
    if request.param == "local":
        return make_settings(**common)
    request.getfixturevalue("gcs_emulator")
    from houseprice.storage.gcs import make_client

    client = make_client()
    raw, data = f"raw-{uuid.uuid4().hex[:10]}", f"data-{uuid.uuid4().hex[:10]}"
    client.create_bucket(raw)
    client.create_bucket(data)
    return make_settings(BUCKET_1=f"gs://{raw}/in", BUCKET_2=f"gs://{data}/ds", **common)


def start_job(settings: Settings) -> subprocess.Popen:
    env = {**os.environ, **settings_env(settings)}
    env.pop("HOUSEPRICE_FAULT_AT", None)
    # The lease holder keeps it a while, so the runs started beside it surely find it held.
    env["HOUSEPRICE_PAUSE_AT"] = "after_lease:2"
    return subprocess.Popen(
        [sys.executable, "-m", "data_collection_and_versioning", "--json"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def distinct(frame: pd.DataFrame) -> Counter:
    """Content hash -> count of each record (features, price, date)."""
    return Counter(rows.content_hash(rows.canonical(frame)).tolist())


def test_overlapping_runs_commit_every_row_once(settings: Settings) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    print(f"seed {seed}")
    raw = open_bucket(settings.BUCKET_1)
    data = open_bucket(settings.BUCKET_2)
    local = raw.shows_partial_writes
    frame = sample()
    part = {
        "a.csv": frame.iloc[0:500],
        "b.csv": frame.iloc[500:1000],
        "c.csv": frame.iloc[1000:1500],
        "re-first": frame.iloc[1500:1800],
        "re-second": frame.iloc[1800:2200],
        "slow.csv": frame.iloc[2200:2900],
        "late.csv": frame.iloc[2900:3300],
        "retry.csv": frame.iloc[3300:3600],
    }
    for key in ("a.csv", "b.csv", "c.csv", "retry.csv"):
        raw.write_bytes(key, csv_bytes(part[key]))
    raw.write_bytes("re.csv", csv_bytes(part["re-first"]))
    raw.write_bytes("late.csv", b"")  # its writer has created it, rows come later

    def writers() -> None:
        """A slow writer, the late rows, a retried upload and a replacing re-upload."""
        slow_path = raw.root / "slow.csv" if local else None
        text = part["slow.csv"].to_csv(index=False)
        lines = text.splitlines(keepends=True)
        time.sleep(0.3)
        if slow_path is not None:  # appended in small pieces, never pausing a full SETTLE
            with open(slow_path, "w") as handle:
                for start in range(0, len(lines), 60):
                    handle.write("".join(lines[start : start + 60]))
                    handle.flush()
                    time.sleep(0.15)
        else:  # an object store shows an upload only once complete
            raw.write_bytes("slow.csv", text.encode())
        if local:
            with open(raw.root / "late.csv", "ab") as handle:
                handle.write(csv_bytes(part["late.csv"]))
        else:
            raw.write_bytes("late.csv", csv_bytes(part["late.csv"]))
        raw.write_bytes("retry.csv", csv_bytes(part["retry.csv"]))  # same bytes again
        time.sleep(rng.uniform(0.0, 1.0))
        raw.write_bytes("re.csv", csv_bytes(part["re-second"]))  # same name, new rows

    writer = threading.Thread(target=writers)
    writer.start()
    held = 0
    for wave in range(2):  # two waves of three processes; each wave's lease holder is killed
        if wave:
            time.sleep(LEASE)  # the first holder's lease expires: this wave takes it over
        jobs = [start_job(settings) for _ in range(3)]
        killed = kill_the_holder_at_random(data, jobs, rng)
        outputs = [job.communicate(timeout=180) for job in jobs]
        for job, (out, err) in zip(jobs, outputs, strict=True):
            if job.pid == killed and job.returncode == -signal.SIGKILL:
                continue
            assert job.returncode == 0, err
            summary = json.loads(out.strip().splitlines()[-1])
            if summary["result"] == "lease held":
                held += 1
                assert "another run holds the lease, nothing done" in out
                assert {"run_id", "host", "pid", "acquired_at"} <= set(summary["held_by"])
    writer.join()
    assert held >= 2  # at least one process of each wave found the lease held

    # Later runs (a CronJob keeps firing) until everything has settled and is consumed.
    results = []
    for _ in range(12):
        done = cli(settings, "--json")
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(summary["result"])
        if summary["result"] == "lease held":
            time.sleep(LEASE)  # the killed holder's lease has to expire first
            continue
        waiting = raw_keys(raw.list())
        if summary["result"] == "nothing new" and not waiting:
            break
    else:
        pytest.fail(f"inputs never drained: results {results}, waiting {raw_keys(raw.list())}")

    # Every distinct valid row exactly once.
    expected = Counter()
    for key, rows_of in part.items():
        if key == "re-first" and not consumed(data, part["re-first"]):
            continue  # replaced before any run read it: the uploader overwrote it
        valid, _ = validate_frame(rows_of.reset_index(drop=True))
        expected.update(distinct(valid))
    committed = distinct(committed_rows(data))
    twice = {h: n for h, n in committed.items() if n > 1}
    assert not twice, f"{len(twice)} rows committed more than once (seed {seed})"
    missing = set(expected) - set(committed)
    extra = set(committed) - set(expected)
    assert not missing, f"{len(missing)} rows lost (seed {seed})"
    assert not extra, f"{len(extra)} unexpected rows (seed {seed})"

    # Nothing half-done left behind, the lease released, inputs archived or quarantined.
    ledger = load_ledger(data)
    assert (ledger.uncommitted, ledger.folded, ledger.orphan_rejected) == ([], [], [])
    with pytest.raises(ObjectNotFound):
        data.stat(LEASE_KEY)
    assert all(k.startswith((ARCHIVE_PREFIX, QUARANTINE_PREFIX)) for k in raw.list())

    again = cli(settings, "--json")  # and the job still runs
    assert again.returncode == 0
    assert json.loads(again.stdout.strip().splitlines()[-1])["result"] == "nothing new"


def consumed(data, frame: pd.DataFrame) -> bool:
    """Whether the first upload of re.csv made it into a commit (by its sha256)."""
    digest = hashlib.sha256(csv_bytes(frame)).hexdigest()
    return digest in load_ledger(data).consumed_files()


def kill_the_holder_at_random(data, jobs: list[subprocess.Popen], rng: random.Random) -> int:
    """SIGKILL the job process that holds the lease, a random time after it took it."""
    pids = {job.pid: job for job in jobs}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            holder = json.loads(data.read_bytes(LEASE_KEY))
        except (ObjectNotFound, ValueError):
            if all(job.poll() is not None for job in jobs):
                return -1
            time.sleep(0.02)
            continue
        pid = int(holder["pid"])
        if pid in pids:
            time.sleep(rng.uniform(0.0, 1.0))  # a run takes about a second
            if pids[pid].poll() is None:
                os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.02)
    return -1
