"""The lease on both backends: a local directory and GCS (fake-gcs-server)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from houseprice.storage import Bucket, Lease, LeaseHeld, LeaseLost, open_bucket

KEY = "locks/test-job.json"


@pytest.fixture(params=["local", "gcs"])
def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bucket]:
    if request.param == "local":
        yield open_bucket(str(tmp_path / "bucket"))
    else:
        request.getfixturevalue("gcs_emulator")
        from houseprice.storage.gcs import make_client

        name = f"lease-{uuid.uuid4().hex[:12]}"
        make_client().create_bucket(name)
        yield open_bucket(f"gs://{name}/datasets")


def test_second_holder_is_told_who_holds_it(bucket: Bucket) -> None:
    with Lease(bucket, KEY, ttl=30, run_id="first-run") as first:
        record = json.loads(bucket.read_bytes(KEY))
        assert record["run_id"] == "first-run" and record["pid"] == os.getpid()
        with pytest.raises(LeaseHeld) as held:
            Lease(bucket, KEY, ttl=30, run_id="second-run").acquire()
        assert held.value.holder["run_id"] == "first-run"
        message = str(held.value)
        assert "run first-run" in message and f"pid {os.getpid()}" in message
        assert f"since {record['acquired_at']}" in message
        first.verify()
    assert not bucket.exists(KEY)  # released on exit
    with Lease(bucket, KEY, ttl=30, run_id="third-run") as third:
        assert third.taken_over is None


def test_renewal_keeps_the_lease_past_its_ttl(bucket: Bucket) -> None:
    with Lease(bucket, KEY, ttl=1.5, run_id="long-run", renew_every=0.2) as lease:
        first = json.loads(bucket.read_bytes(KEY))
        time.sleep(2.5)  # longer than the ttl: only renewal keeps it
        with pytest.raises(LeaseHeld):
            Lease(bucket, KEY, ttl=1.5).acquire()
        lease.verify()
        renewed = json.loads(bucket.read_bytes(KEY))
        assert renewed["renewed_at"] > first["renewed_at"]
        assert renewed["acquired_at"] == first["acquired_at"]


def test_expired_lease_is_taken_over_once_and_the_old_holder_loses_it(bucket: Bucket) -> None:
    stalled = Lease(bucket, KEY, ttl=0.5, run_id="stalled").acquire()  # never renewed
    time.sleep(0.8)
    takers = [Lease(bucket, KEY, ttl=30, run_id=f"taker-{i}") for i in range(3)]
    won = []
    for taker in takers:
        try:
            won.append(taker.acquire())
        except LeaseHeld as exc:
            assert exc.holder["run_id"] == "taker-0"
    assert [w.run_id for w in won] == ["taker-0"]
    assert won[0].taken_over is not None and won[0].taken_over["run_id"] == "stalled"
    with pytest.raises(LeaseLost):
        stalled.verify()
    with pytest.raises(LeaseLost):
        stalled.renew()
    stalled.release()  # must not remove the new holder's lease
    won[0].verify()
    assert json.loads(bucket.read_bytes(KEY))["run_id"] == "taker-0"
    won[0].release()
    assert not bucket.exists(KEY)


def test_unreadable_lease_expires_by_its_age(bucket: Bucket) -> None:
    bucket.write_bytes(KEY, b"\x00 not json")
    with pytest.raises(LeaseHeld):
        Lease(bucket, KEY, ttl=30).acquire()
    time.sleep(1.2)
    lease = Lease(bucket, KEY, ttl=1).acquire()
    assert lease.taken_over is not None and lease.taken_over.get("unreadable") is True
    lease.release()
