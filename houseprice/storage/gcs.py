"""Bucket backed by Google Cloud Storage (or an emulator via STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from houseprice.storage.base import (
    Bucket,
    GenerationMismatch,
    ObjectInfo,
    ObjectNotFound,
    check_key,
)


def make_client() -> storage.Client:
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        # The emulator accepts any caller; real GCS uses workload identity / ADC.
        project = os.environ.get("GOOGLE_CLOUD_PROJECT", "local")
        return storage.Client(project=project, credentials=AnonymousCredentials())
    return storage.Client()


class GCSBucket(Bucket):
    shows_partial_writes = False

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

    def _info(self, blob: storage.Blob) -> ObjectInfo:
        updated = blob.updated.timestamp() if blob.updated else 0.0
        key = blob.name[len(self.prefix) :]
        return ObjectInfo(key, blob.size or 0, str(blob.generation), updated)

    def list(self, prefix: str = "") -> list[str]:
        return [info.key for info in self.list_info(prefix)]

    def list_info(self, prefix: str = "") -> list[ObjectInfo]:
        blobs = self.client.list_blobs(self.bucket, prefix=self.prefix + prefix)
        found = [self._info(b) for b in blobs if not b.name.endswith("/")]
        return sorted(found, key=lambda info: info.key)

    def stat(self, key: str) -> ObjectInfo:
        blob = self.bucket.get_blob(self._name(key))
        if blob is None:
            raise ObjectNotFound(f"{self.url}/{key}")
        return self._info(blob)

    def read_bytes(self, key: str, generation: str | None = None) -> bytes:
        blob = self.bucket.blob(self._name(key))
        match = int(generation) if generation is not None else None
        try:
            data = blob.download_as_bytes(if_generation_match=match)
        except gexc.PreconditionFailed:
            raise GenerationMismatch(f"{self.url}/{key} changed") from None
        except gexc.NotFound:
            raise ObjectNotFound(f"{self.url}/{key}") from None
        # The download says which generation it served; fake-gcs-server ignores the
        # precondition, so check it here too.
        if generation is not None and str(blob.generation) != generation:
            raise GenerationMismatch(f"{self.url}/{key} is now generation {blob.generation}")
        return data

    @contextlib.contextmanager
    def open_read(self, key: str, generation: str) -> Iterator[BinaryIO]:
        # Spooled to a local temporary file: parsers can then read it at their own pace.
        blob = self.bucket.blob(self._name(key))
        with tempfile.TemporaryFile() as handle:
            try:
                blob.download_to_file(handle, if_generation_match=int(generation))
            except gexc.PreconditionFailed:
                raise GenerationMismatch(f"{self.url}/{key} changed") from None
            except gexc.NotFound:
                raise ObjectNotFound(f"{self.url}/{key}") from None
            if str(blob.generation) != generation:
                raise GenerationMismatch(f"{self.url}/{key} is now generation {blob.generation}")
            handle.seek(0)
            yield handle

    def copy(self, key: str, new_key: str, generation: str) -> None:
        # Server side: the bytes never pass through this process.
        source = self.bucket.blob(self._name(key))
        current = self.bucket.get_blob(self._name(key))
        if current is None:
            raise ObjectNotFound(f"{self.url}/{key}")
        if str(current.generation) != generation:
            raise GenerationMismatch(f"{self.url}/{key} is now generation {current.generation}")
        try:
            self.bucket.copy_blob(
                source, self.bucket, self._name(new_key), source_generation=int(generation)
            )
        except gexc.NotFound:
            raise GenerationMismatch(f"{self.url}/{key} changed") from None

    def write_bytes(self, key: str, data: bytes, if_generation: str | None = None) -> str:
        # A GCS object upload is atomic: readers see the old or the new object.
        blob = self.bucket.blob(self._name(key))
        match = int(if_generation) if if_generation is not None else None
        try:
            blob.upload_from_string(data, if_generation_match=match)
        except gexc.PreconditionFailed:
            raise GenerationMismatch(f"{self.url}/{key} changed") from None
        return str(blob.generation)

    def create(self, key: str, data: bytes) -> str:
        blob = self.bucket.blob(self._name(key))
        try:
            blob.upload_from_string(data, if_generation_match=0)  # 0: only if absent
        except gexc.PreconditionFailed:
            raise GenerationMismatch(f"{self.url}/{key} already exists") from None
        return str(blob.generation)

    def delete(self, key: str, if_generation: str | None = None) -> None:
        name = self._name(key)
        if if_generation is not None:
            # GCS refuses a stale conditional delete by itself; fake-gcs-server does
            # not, so look first (real GCS keeps the guarantee without the look).
            current = self.bucket.get_blob(name)
            if current is None:
                return
            if str(current.generation) != if_generation:
                raise GenerationMismatch(f"{self.url}/{key} is now generation {current.generation}")
        match = int(if_generation) if if_generation is not None else None
        try:
            self.bucket.blob(name).delete(if_generation_match=match)
        except gexc.NotFound:
            pass
        except gexc.PreconditionFailed:
            raise GenerationMismatch(f"{self.url}/{key} changed") from None

    def exists(self, key: str) -> bool:
        return self.bucket.blob(self._name(key)).exists()
