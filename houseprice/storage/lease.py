"""A lease: one holder at a time for a job, kept as an object in a bucket.

    with Lease(bucket, "locks/data-job.json", ttl=120, run_id=run_id) as lease:
        ...                 # renewed in the background every ttl/4
        lease.verify()      # right before a commit: raises LeaseLost if taken over

The object is created only if absent (GCS: `if_generation_match=0`; local: an exclusive
link), renewed by generation (a renewal that finds another generation has lost the
lease), and deleted by generation on exit. A second holder gets `LeaseHeld`, which
says who holds it and since when. A lease not renewed for `ttl` seconds belongs to a
holder that died or stalled: the next one takes it over (by generation, so only one
of several can) and `taken_over` tells it whose debris it may now clean up.

Expiry compares the holder's `expires_at` with this machine's clock: holders must
keep their clocks within a small part of `ttl` (NTP does).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from houseprice.storage.base import Bucket, GenerationMismatch, ObjectNotFound

RECORD_FORMAT = 1
_ATTEMPTS = 5  # create / take over races lost in a row before giving up as held


class LeaseHeld(RuntimeError):
    """Someone else holds the lease; `holder` is their record."""

    def __init__(self, key: str, holder: dict[str, Any]) -> None:
        self.key = key
        self.holder = holder
        super().__init__(f"{key} is held by {describe(holder)}")


class LeaseLost(RuntimeError):
    """The lease was taken over (this holder stalled past its ttl) or removed."""


def describe(holder: dict[str, Any]) -> str:
    """'run R (host H, pid P) since T, renewed T2, expires T3' from a lease record."""
    return (
        f"run {holder.get('run_id', '?')} (host {holder.get('host', '?')}, "
        f"pid {holder.get('pid', '?')}) since {holder.get('acquired_at', '?')}, "
        f"renewed {holder.get('renewed_at', '?')}, expires {holder.get('expires_at', '?')}"
    )


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _expires(record: dict[str, Any], fallback: float) -> float:
    try:
        return datetime.fromisoformat(str(record["expires_at"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return fallback  # unreadable: judge by when the object was last written


class Lease:
    def __init__(
        self,
        bucket: Bucket,
        key: str,
        ttl: float = 120.0,
        *,
        run_id: str | None = None,
        renew_every: float | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.bucket = bucket
        self.key = key
        self.ttl = ttl
        self.renew_every = renew_every if renew_every is not None else ttl / 4
        self.run_id = run_id or uuid.uuid4().hex
        self.generation: str | None = None
        self.taken_over: dict[str, Any] | None = None  # the expired holder we replaced
        self.acquired_at = 0.0
        self.lost = False
        self._lock = threading.Lock()  # renewal and verify must agree on self.generation
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the record ---------------------------------------------------------------------------

    def record(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {
            "format": RECORD_FORMAT,
            "key": self.key,
            "run_id": self.run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "acquired_at": _iso(self.acquired_at or now),
            "renewed_at": _iso(now),
            "expires_at": _iso(now + self.ttl),
            "ttl_seconds": self.ttl,
        }

    def _data(self) -> bytes:
        return (json.dumps(self.record(), indent=2) + "\n").encode("utf-8")

    # -- acquire, renew, release --------------------------------------------------------------

    def acquire(self) -> Lease:
        """Take the lease, or raise LeaseHeld naming the current holder."""
        holder: dict[str, Any] = {}
        for _ in range(_ATTEMPTS):
            self.acquired_at = time.time()
            try:
                self.generation = self.bucket.create(self.key, self._data())
                self.taken_over = None
                return self
            except GenerationMismatch:
                pass
            try:
                info = self.bucket.stat(self.key)
                raw = self.bucket.read_bytes(self.key, info.generation)
            except (ObjectNotFound, GenerationMismatch):
                continue  # released or renewed since: look again
            try:
                holder = json.loads(raw)
                if not isinstance(holder, dict):
                    raise ValueError
            except ValueError:
                holder = {"run_id": "?", "unreadable": True}
            if time.time() < _expires(holder, info.updated + self.ttl):
                raise LeaseHeld(self.key, holder)
            try:  # expired: replace exactly the generation judged expired
                self.generation = self.bucket.write_bytes(
                    self.key, self._data(), if_generation=info.generation
                )
            except GenerationMismatch:
                continue  # another taker won, or the holder renewed after all
            self.taken_over = holder
            return self
        raise LeaseHeld(self.key, holder)

    def renew(self) -> None:
        """Extend the lease by ttl; LeaseLost if someone else's generation is there now."""
        with self._lock:
            if self.lost or self.generation is None:
                raise LeaseLost(f"{self.key}: not held")
            try:
                self.generation = self.bucket.write_bytes(
                    self.key, self._data(), if_generation=self.generation
                )
            except GenerationMismatch:
                self.lost = True
                raise LeaseLost(f"{self.key} was taken over by another holder") from None

    def verify(self) -> None:
        """Raise LeaseLost unless the lease object is still the one this holder wrote."""
        with self._lock:
            if not self.lost:
                try:
                    current = self.bucket.stat(self.key).generation
                except ObjectNotFound:
                    current = None
                if current != self.generation:
                    self.lost = True
        if self.lost:
            raise LeaseLost(f"{self.key} was taken over by another holder")

    def release(self) -> None:
        self._stop_renewing()
        if self.generation is None or self.lost:
            return
        with contextlib.suppress(GenerationMismatch):  # taken over meanwhile: theirs now
            self.bucket.delete(self.key, if_generation=self.generation)
        self.generation = None

    # -- background renewal -------------------------------------------------------------------

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_every):
            try:
                self.renew()
            except LeaseLost:
                return
            except Exception:  # a transient storage error: try again next tick
                continue

    def _stop_renewing(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def __enter__(self) -> Lease:
        self.acquire()
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="lease-renewal", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
