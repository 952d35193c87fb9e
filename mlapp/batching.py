"""Adaptive batching: concurrent requests of one worker are predicted together.

Request threads (gunicorn gthread) validate their records, then queue them and
wait. One predicting thread per process takes what is queued and closes a batch
when it holds BATCH_MAX_SIZE records, when BATCH_MAX_WAIT_MS has passed since its
first request, or at once when no other request of this process is still being
read and validated (so a lone request never waits). A request that finds the
worker idle (nothing queued, predicting or arriving) predicts its batch of one
itself, without the two thread hand-offs; either way one prediction runs at a time
per process, and requests that arrive meanwhile form the next batch.

The thread reads the served model once per batch: a batch never mixes model
versions, and a hot swap takes effect between batches. If predicting the whole
batch raises, each request is predicted alone, so one bad record fails only its own
request. A model whose batched prices differ in any bit from its one-by-one prices
(checked on the logged input example at load, see model_store) is predicted one
request at a time, still on this thread.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mlapp import metrics
from mlapp.model_store import ModelStore, Served

log = logging.getLogger(__name__)


class BatchSettingsError(ValueError):
    """A batching variable holds a value mlapp cannot use."""


@dataclass(frozen=True)
class BatchSettings:
    enabled: bool = True  # BATCHING: "on" or "off"
    max_size: int = 64  # BATCH_MAX_SIZE: records per batch
    max_wait: float = 0.001  # BATCH_MAX_WAIT_MS, in seconds here

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BatchSettings:
        env = os.environ if environ is None else environ
        errors = []
        switch = env.get("BATCHING", "on").strip().lower()
        if switch not in ("on", "off"):
            errors.append(f"BATCHING={switch!r}: must be 'on' or 'off'")
        try:
            max_size = int(env.get("BATCH_MAX_SIZE", str(cls.max_size)))
            if not 1 <= max_size <= 10_000:
                raise ValueError
        except ValueError:
            errors.append("BATCH_MAX_SIZE: must be a whole number of records from 1 to 10000")
            max_size = cls.max_size
        try:
            wait_ms = float(env.get("BATCH_MAX_WAIT_MS", str(cls.max_wait * 1000)))
            if not 0 <= wait_ms <= 1000 or math.isnan(wait_ms):
                raise ValueError
        except ValueError:
            errors.append("BATCH_MAX_WAIT_MS: must be a number of milliseconds from 0 to 1000")
            wait_ms = cls.max_wait * 1000
        if errors:
            raise BatchSettingsError("invalid configuration:\n  " + "\n  ".join(errors))
        return cls(enabled=switch == "on", max_size=max_size, max_wait=wait_ms / 1000)


class NoModel(Exception):
    """No model is loaded yet (the request answers 503)."""


class ModelFailed(Exception):
    """The model raised or returned a wrong or non-finite price for these records."""


class _Job:
    __slots__ = ("done", "error", "prices", "queued_at", "rows", "served")

    def __init__(self, rows: list[list]) -> None:
        self.rows = rows
        self.queued_at = time.perf_counter()
        self.done = threading.Event()
        self.served: Served | None = None
        self.prices: list[float] | None = None
        self.error: Exception | None = None


def predict_rows(served: Served, rows: list[list]) -> list[float]:
    """The served model's prices for validated rows (schema order); raises ModelFailed."""
    try:
        output = served.predict(np.array(rows, dtype=object))
        prices = np.asarray(output, dtype=np.float64).ravel().tolist()
    except Exception as exc:
        raise ModelFailed(f"model {served.info.version} raised {exc!r}") from exc
    _check(prices, len(rows), served)
    return prices


def _check(prices: list[float], expected: int, served: Served) -> None:
    if len(prices) != expected:
        raise ModelFailed(f"model {served.info.version} gave {len(prices)} prices for {expected}")
    if not all(math.isfinite(p) for p in prices):
        raise ModelFailed(f"model {served.info.version} gave a non-finite price")


class Arrival:
    """One request's place in the batcher: it predicts once, or leaves without predicting."""

    __slots__ = ("_batcher", "_open")

    def __init__(self, batcher: Batcher) -> None:
        self._batcher = batcher
        self._open = True

    def predict(self, rows: list[list]) -> tuple[Served, list[float]]:
        """Queue the rows, wait for their batch; raises NoModel or ModelFailed."""
        self._open = False
        return self._batcher._submit(rows)

    def close(self) -> None:
        """Called when the request ends: if it never predicted, it is no longer awaited."""
        if self._open:
            self._open = False
            self._batcher._leave()


class Batcher:
    """The queue and the predicting thread of one process."""

    def __init__(self, store: ModelStore, settings: BatchSettings) -> None:
        self.store = store
        self.settings = settings
        self._pid: int | None = None
        self._start_lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._queue: collections.deque[_Job] = collections.deque()
        self._arriving = 0  # requests of this process being read and validated
        self._busy = False  # a prediction is running: at most one at a time per process

    def ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            # After a fork the copied lock and queue may be in any state: renew them.
            self._cond = threading.Condition(threading.Lock())
            self._queue = collections.deque()
            self._arriving = 0
            self._busy = False
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="mlapp-batcher", daemon=True).start()

    # -- request threads

    def arrive(self) -> Arrival:
        """A request started: until it submits or leaves, a closing batch waits (bounded)."""
        with self._cond:
            self._arriving += 1
        return Arrival(self)

    def _submit(self, rows: list[list]) -> tuple[Served, list[float]]:
        self.ensure_started()
        job = _Job(rows)
        cond = self._cond
        with cond:
            self._arriving -= 1
            # Alone in the worker (nothing queued, nothing predicting, nobody arriving):
            # this thread predicts its own batch of one, sparing two thread hand-offs.
            alone = not self._busy and not self._queue and self._arriving <= 0
            if alone:
                self._busy = True
            else:
                self._queue.append(job)
                cond.notify()
        if alone:
            self._answer([job])
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.served is not None and job.prices is not None
        return job.served, job.prices

    def _leave(self) -> None:
        with self._cond:
            self._arriving -= 1

    # -- the predicting thread

    def _run(self) -> None:
        while True:
            self._answer(self._next_batch())

    def _answer(self, batch: list[_Job]) -> None:
        """Predict a batch (this thread holds `_busy`), then let the next one start."""
        try:
            self._predict(batch)
        except Exception as exc:  # never lose a waiting request
            log.exception("batch of %d requests failed", len(batch))
            for job in batch:
                if not job.done.is_set():
                    job.error = ModelFailed(repr(exc))
                    job.done.set()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify()  # requests queued meanwhile: the predicting thread's turn

    def _next_batch(self) -> list[_Job]:
        max_size, max_wait = self.settings.max_size, self.settings.max_wait
        cond, queue = self._cond, self._queue
        with cond:
            while not queue or self._busy:
                cond.wait()
            self._busy = True  # until this batch is answered (see _answer)
            first = queue.popleft()
            batch, size = [first], len(first.rows)
            deadline = first.queued_at + max_wait
            while size < max_size:
                if queue:
                    if size + len(queue[0].rows) > max_size:
                        break  # a job is never split; it opens the next batch
                    job = queue.popleft()
                    batch.append(job)
                    size += len(job.rows)
                    continue
                remaining = deadline - time.perf_counter()
                if self._arriving <= 0 or remaining <= 0:
                    break
                cond.wait(remaining)
        return batch

    def _predict(self, batch: list[_Job]) -> None:
        started = time.perf_counter()
        served = self.store.current  # read once: the whole batch is one model version
        if served is None:
            for job in batch:
                job.error = NoModel()
                job.done.set()
            return
        for job in batch:
            metrics.QUEUE_WAIT.observe(started - job.queued_at)
        if len(batch) == 1 or not served.batchable:
            for job in batch:
                metrics.BATCH_SIZE.observe(len(job.rows))
                self._finish(job, served, None)
            return
        rows = [row for job in batch for row in job.rows]
        metrics.BATCH_SIZE.observe(len(rows))
        try:
            prices = predict_rows(served, rows)
        except ModelFailed:
            # Somebody's record broke the batch: price each request alone, so only the
            # request whose record fails gets an error.
            log.warning("batch of %d requests failed; predicting them one by one", len(batch))
            for job in batch:
                self._finish(job, served, None)
            return
        start = 0
        for job in batch:
            end = start + len(job.rows)
            self._finish(job, served, prices[start:end])
            start = end

    @staticmethod
    def _finish(job: _Job, served: Served, prices: list[float] | None) -> None:
        job.served = served
        try:
            job.prices = predict_rows(served, job.rows) if prices is None else prices
        except ModelFailed as exc:
            job.error = exc
        job.done.set()
