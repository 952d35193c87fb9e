"""Bucket backed by Google Cloud Storage (or an emulator via STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

import contextlib
import os

from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from houseprice.storage.base import Bucket, ObjectNotFound, check_key


def make_client() -> storage.Client:
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        # The emulator accepts any caller; real GCS uses workload identity / ADC.
        project = os.environ.get("GOOGLE_CLOUD_PROJECT", "local")
        return storage.Client(project=project, credentials=AnonymousCredentials())
    return storage.Client()


class GCSBucket(Bucket):
    def __init__(self, bucket_name: str, prefix: str = "", client: storage.Client | None = None):
        self.client = client or make_client()
        self.bucket = self.client.bucket(bucket_name)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"gs://{bucket_name}/{self.prefix}".rstrip("/")

    @classmethod
    def from_url(cls, url: str) -> GCSBucket:
        name, _, prefix = url.removeprefix("gs://").partition("/")
        return cls(name, prefix)

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def list(self, prefix: str = "") -> list[str]:
        blobs = self.client.list_blobs(self.bucket, prefix=self.prefix + prefix)
        return sorted(b.name[len(self.prefix) :] for b in blobs if not b.name.endswith("/"))

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.bucket.blob(self._name(key)).download_as_bytes()
        except gexc.NotFound:
            raise ObjectNotFound(f"{self.url}/{key}") from None

    def write_bytes(self, key: str, data: bytes) -> None:
        # A GCS object upload is atomic: readers see the old or the new object.
        self.bucket.blob(self._name(key)).upload_from_string(data)

    def delete(self, key: str) -> None:
        with contextlib.suppress(gexc.NotFound):
            self.bucket.blob(self._name(key)).delete()

    def exists(self, key: str) -> bool:
        return self.bucket.blob(self._name(key)).exists()
