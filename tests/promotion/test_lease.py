"""One promoter at a time: the lease in BUCKET_2, on a local directory and on GCS."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from houseprice.storage import open_bucket
from promotion.lease import PROMOTION_LEASE_KEY, Lease, LeaseHeld


@pytest.fixture(params=["local", "gcs"])
def bucket(request, tmp_path):
    if request.param == "local":
        return open_bucket(str(tmp_path / "bucket_2"))
    request.getfixturevalue("gcs_emulator")
    from google.cloud import storage

    from houseprice.storage.gcs import make_client

    name = f"lease-{uuid.uuid4().hex[:10]}"
    make_client().create_bucket(storage.Bucket(make_client(), name))
    return open_bucket(f"gs://{name}/bucket_2")


def test_a_second_holder_is_refused_until_release(bucket):
    first = Lease(bucket, ttl=60).acquire()
    with pytest.raises(LeaseHeld, match=r"held by .*:\d+:"):
        Lease(bucket, ttl=60).acquire()
    first.renew()
    first.release()
    assert not bucket.exists(PROMOTION_LEASE_KEY)
    with Lease(bucket, ttl=60) as again:
        assert json.loads(bucket.read_text(PROMOTION_LEASE_KEY))["holder"] == again.holder


def test_an_expired_lease_is_taken_over(bucket):
    crashed = Lease(bucket, ttl=60).acquire()
    body = json.loads(bucket.read_text(PROMOTION_LEASE_KEY))
    body["expires_at"] = time.time() - 1
    bucket.write_text(PROMOTION_LEASE_KEY, json.dumps(body))
    taker = Lease(bucket, ttl=60).acquire()
    assert json.loads(bucket.read_text(PROMOTION_LEASE_KEY))["holder"] == taker.holder
    with pytest.raises(RuntimeError, match="lost"):
        crashed.renew()
    crashed.release()  # not its lease any more: left alone
    assert json.loads(bucket.read_text(PROMOTION_LEASE_KEY))["holder"] == taker.holder
    taker.release()
