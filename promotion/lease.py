"""One promoter at a time: a lease object in BUCKET_2.

The lease is created only if absent (local directory: exclusive create; GCS: a write
conditioned on the object not existing, `if_generation_match=0`), holds who took it
and until when, and is renewed while the promoter works. Another promoter finds it,
exits saying who holds it, and changes nothing. A lease past its expiry (its holder
crashed) is taken over: removed only if it is still the same expired object, then
created again, exclusively, so two takers cannot both win.

Small on purpose, with the semantics of the data job's lease; when the storage layer
offers a generic `Lease(bucket, key, ttl)`, this module should become a call to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from houseprice.storage import Bucket, LocalBucket

PROMOTION_LEASE_KEY = "leases/promotion.json"


class LeaseHeld(RuntimeError):
    """Someone else holds the lease and it has not expired."""

    def __init__(self, holder: str, expires_at: float) -> None:
        left = max(0.0, expires_at - time.time())
        super().__init__(f"promotion lease held by {holder} for another {left:.0f}s")
        self.holder = holder


@dataclass
class _Seen:
    content: dict[str, Any]
    token: Any  # what identifies this exact object: file inode+mtime, or GCS generation


class Lease:
    def __init__(self, bucket: Bucket, key: str = PROMOTION_LEASE_KEY, ttl: float = 900.0):
        self.bucket = bucket
        self.key = key
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    # -- the public protocol

    def acquire(self) -> Lease:
        for _ in range(3):
            if self._create():
                self.held = True
                return self
            seen = self._read()
            if seen is None:
                continue  # released between our create and our read: try again
            expires_at = float(seen.content.get("expires_at", 0))
            if expires_at > time.time():
                raise LeaseHeld(str(seen.content.get("holder", "?")), expires_at)
            self._remove_if_same(seen)  # expired: its holder is gone
        raise LeaseHeld("a concurrent promoter", time.time())

    def renew(self) -> None:
        """Push the expiry out; call between long steps."""
        seen = self._read()
        if seen is None or seen.content.get("holder") != self.holder:
            raise RuntimeError("the promotion lease was lost (expired and taken over)")
        self.bucket.write_bytes(self.key, self._content())

    def release(self) -> None:
        if not self.held:
            return
        seen = self._read()
        if seen is not None and seen.content.get("holder") == self.holder:
            self._remove_if_same(seen)
        self.held = False

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- backends

    def _content(self) -> bytes:
        now = time.time()
        body = {"holder": self.holder, "acquired_at": now, "expires_at": now + self.ttl}
        return json.dumps(body).encode()

    def _create(self) -> bool:
        data = self._content()
        if isinstance(self.bucket, LocalBucket):
            path = self.bucket._path(self.key)
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside, then hard-linked into place: link() fails if the name
            # exists, and a reader never sees a half-written lease.
            draft = path.with_name(f".tmp-lease-{uuid.uuid4().hex}")
            draft.write_bytes(data)
            try:
                os.link(draft, path)
            except FileExistsError:
                return False
            finally:
                draft.unlink(missing_ok=True)
            return True
        from google.api_core import exceptions as gexc

        blob = self.bucket.bucket.blob(self.bucket._name(self.key))  # type: ignore[attr-defined]
        try:
            blob.upload_from_string(data, if_generation_match=0)
        except gexc.PreconditionFailed:
            return False
        return True

    def _read(self) -> _Seen | None:
        if isinstance(self.bucket, LocalBucket):
            path = self.bucket._path(self.key)
            try:
                stat = path.stat()
                content = json.loads(path.read_bytes() or b"{}")
            except FileNotFoundError:
                return None
            except ValueError:  # not JSON: not ours to judge, treat as held
                return _Seen(
                    {"holder": "an unreadable lease", "expires_at": time.time() + 60}, None
                )
            return _Seen(content, (stat.st_ino, stat.st_mtime_ns))
        blob = self.bucket.bucket.get_blob(self.bucket._name(self.key))  # type: ignore[attr-defined]
        if blob is None:
            return None
        try:
            content = json.loads(blob.download_as_bytes(if_generation_match=blob.generation))
        except Exception:
            content = {}
        return _Seen(content, blob.generation)

    def _remove_if_same(self, seen: _Seen) -> None:
        if isinstance(self.bucket, LocalBucket):
            path = self.bucket._path(self.key)
            # Rename is atomic: of two takers, only one moves this object away.
            grave = path.with_name(f".tmp-expired-{uuid.uuid4().hex}")
            try:
                stat = path.stat()
                if seen.token is not None and (stat.st_ino, stat.st_mtime_ns) != seen.token:
                    return  # renewed or replaced since we read it
                os.rename(path, grave)
            except FileNotFoundError:
                return
            grave.unlink(missing_ok=True)
            return
        from google.api_core import exceptions as gexc

        blob = self.bucket.bucket.blob(self.bucket._name(self.key))  # type: ignore[attr-defined]
        with contextlib.suppress(gexc.NotFound, gexc.PreconditionFailed):
            blob.delete(if_generation_match=seen.token)
