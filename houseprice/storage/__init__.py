"""One storage interface for the three buckets, with two backends.

`open_bucket("gs://name/prefix")` talks to Google Cloud Storage (or to an
emulator when STORAGE_EMULATOR_HOST is set); `open_bucket("file:///dir")` or a
plain path uses a local directory. Both pass the same contract tests.
"""

from __future__ import annotations

from houseprice.storage.base import Bucket, GenerationMismatch, ObjectInfo, ObjectNotFound
from houseprice.storage.lease import Lease, LeaseHeld, LeaseLost
from houseprice.storage.local import LocalBucket


def open_bucket(url: str) -> Bucket:
    if url.startswith("gs://"):
        from houseprice.storage.gcs import GCSBucket  # imported lazily: heavy client

        return GCSBucket.from_url(url)
    return LocalBucket.from_url(url)


__all__ = [
    "Bucket",
    "GenerationMismatch",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "LocalBucket",
    "ObjectInfo",
    "ObjectNotFound",
    "open_bucket",
]
