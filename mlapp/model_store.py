"""Which model mlapp serves, and how a new champion replaces it without a restart.

`ModelStore.current` holds one immutable `Served` tuple (model, predict function,
info). A request reads that attribute once and uses the tuple it got, so it never
mixes two versions. A new champion is downloaded, deserialised and checked in the
background first; only then is `current` replaced, by a single assignment. A
request in flight keeps the old tuple; the next one gets the new tuple.

Each gunicorn worker owns a store and a poller thread. The thread is started by
`ensure_started()` in the worker itself (threads do not survive fork), and a store
notices when it finds itself in a new process and starts a fresh thread there.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# MLflow reads the models with skops, whose import (about 1 s of CPU: it indexes every
# scikit-learn type) would otherwise be paid by the first load, while a first champion
# waits. Imported here, it is paid once at start (in the gunicorn master: preload_app).
import skops.io  # noqa: F401

from houseprice import registry
from houseprice.calibration import Calibration
from houseprice.registry import Champion
from houseprice.schema import FEATURE_NAMES
from mlapp import metrics
from mlapp.predictor import PredictFn, build_predict, rows_independent

log = logging.getLogger(__name__)

ALIAS = registry.CHAMPION


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    model_folder: str
    dataset_version: str
    run_id: str
    loaded_at: float  # unix time the model became the served one
    load_seconds: float
    predictor: str  # "lean" or "standard", see mlapp.predictor
    # Its prices for a batch equal, bit for bit, its prices one by one (see mlapp.batching).
    batchable: bool
    # Why answers carry no price range (no or bad calibration tags), None when they do.
    interval_missing: str | None = None

    def public(self) -> dict[str, str]:
        """The model block of every prediction response."""
        return {
            "name": self.name,
            "version": self.version,
            "model_folder": self.model_folder,
            "dataset_version": self.dataset_version,
            "run_id": self.run_id,
        }


class Served(NamedTuple):
    predict: PredictFn
    info: ModelInfo
    public: dict[str, str]  # info.public(), computed once rather than per request
    calibration: Calibration | None = None  # the version's price range, from its tags

    @property
    def batchable(self) -> bool:
        return self.info.batchable


@dataclass
class PollStatus:
    last_check_at: float | None = None
    last_ok_at: float | None = None
    last_error: str | None = None
    champion_version: str | None = None  # None: the registry has no champion


find_champion = registry.find_champion  # the shared registry contract


def load_champion(tracking_uri: str, champion: Champion) -> Served:
    """Download, deserialise and prepare one model version; raises on any failure."""
    import mlflow.sklearn
    from mlflow.models import Model

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlapp-model-") as tmp:
        local = registry.download_version(
            registry.client_for(tracking_uri), champion.name, champion.version, tmp
        )
        model = mlflow.sklearn.load_model(local)
        example = Model.load(local).load_input_example(local)
    return prepare(model, _probe(example), champion, started)


def prepare(model: Any, probe: np.ndarray | None, champion: Champion, started: float) -> Served:
    """A loaded model, ready to serve: its predict function, checks and description.

    `probe` is the logged input example (None without one); `started` is when the load
    began (time.perf_counter()).
    """
    predict, kind = build_predict(model, probe)
    batchable = rows_independent(predict, probe)
    if not batchable:
        log.warning(
            "%s version %s: batched prices differ from one-by-one prices on the input "
            "example (or there is none); its requests are predicted one at a time",
            champion.name,
            champion.version,
        )
    seconds = time.perf_counter() - started
    info = ModelInfo(
        name=champion.name,
        version=champion.version,
        model_folder=champion.tags.get(registry.TAG_FOLDER, ""),
        dataset_version=champion.tags.get(registry.TAG_DATASET, ""),
        run_id=champion.run_id,
        loaded_at=time.time(),
        load_seconds=round(seconds, 3),
        predictor=kind,
        batchable=batchable,
        interval_missing=Calibration.missing_reason(champion.tags),
    )
    calibration = Calibration.from_tags(champion.tags)
    return Served(predict, info, info.public(), calibration)


def _probe(example: Any) -> np.ndarray | None:
    """The logged input example as serving sees records: 2-D object array, schema order."""
    try:
        import pandas as pd

        if isinstance(example, pd.DataFrame) and set(FEATURE_NAMES) <= set(example.columns):
            return example[list(FEATURE_NAMES)].to_numpy(dtype=object)
    except Exception:
        log.warning("could not read the model's input example", exc_info=True)
    return None


# How often the alias is read while no model is served (MODEL_POLL_SECONDS once one is).
EMPTY_POLL_SECONDS = 1.0


class ModelStore:
    """The served model of one process, kept in step with the registry's champion."""

    def __init__(
        self,
        tracking_uri: str,
        name: str,
        poll_seconds: float,
        first_load_wait: float,
        find: Callable[[str, str], Champion | None] = find_champion,
        load: Callable[[str, Champion], Served] = load_champion,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.name = name
        self.poll_seconds = poll_seconds
        self.first_load_wait = first_load_wait
        self._find = find
        self._load = load
        self.current: Served | None = None
        self.status = PollStatus()
        self._pid: int | None = None
        self._start_lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._first_check = threading.Event()
        self._stop = threading.Event()
        self._failing: str | None = None  # the stage of the outage under way, if any

    # -- lifecycle

    def ensure_started(self) -> None:
        """Start this process's poller thread if it has none (cheap when it has)."""
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            # After a fork the copied locks and events may be in any state: renew them.
            self._check_lock = threading.Lock()
            self._first_check = threading.Event()
            self._stop = threading.Event()
            self._pid = os.getpid()
            threading.Thread(target=self._poll, name="mlapp-model-poller", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _poll(self) -> None:
        stop = self._stop
        while True:
            self.check()
            # Serving nothing (first start, or MLflow was down at start): look again soon,
            # so a first champion is served within a second of its promotion.
            idle = min(EMPTY_POLL_SECONDS, self.poll_seconds)
            if stop.wait(self.poll_seconds if self.current is not None else idle):
                return

    # -- reading

    def get(self) -> Served | None:
        """The served model; right after start, waits (bounded) for the first load."""
        served = self.current
        if served is None and not self._first_check.is_set():
            self.ensure_started()
            self._first_check.wait(self.first_load_wait)
            served = self.current
        return served

    def not_ready_reason(self) -> str:
        status = self.status
        if not self._first_check.is_set():
            return "the model is still loading"
        if status.last_error:
            return f"no model loaded: {status.last_error}"
        if status.champion_version is None:
            return (
                f"no model version of {self.name!r} holds the alias {ALIAS!r} yet: "
                "train and promote a model first"
            )
        return "no model loaded yet"

    # -- the check and the swap

    def check(self) -> bool:
        """Read the alias; if it moved, load the new version and swap. Never raises.

        Returns True when a new model is now served.
        """
        with self._check_lock:
            try:
                return self._check()
            finally:
                self._first_check.set()

    def _check(self) -> bool:
        status = self.status
        status.last_check_at = time.time()
        try:
            champion = self._find(self.tracking_uri, self.name)
        except Exception as exc:
            self._failed("lookup", f"MLflow unreachable: cannot read the {ALIAS} alias: {exc}")
            return False
        self._recovered("lookup")
        status.champion_version = champion.version if champion else None
        served = self.current
        if champion is None:
            status.last_ok_at, status.last_error = time.time(), None
            if served is not None:
                log.warning(
                    "alias %s of %s is gone; still serving version %s",
                    ALIAS,
                    self.name,
                    served.info.version,
                )
            return False
        if served is not None and served.info.version == champion.version:
            status.last_ok_at, status.last_error = time.time(), None
            return False
        try:
            new = self._load(self.tracking_uri, champion)
        except Exception as exc:
            self._failed("load", f"cannot load {self.name} version {champion.version}: {exc}")
            return False
        self._recovered("load")
        self.current = new  # the swap: one reference assignment
        status.last_ok_at, status.last_error = time.time(), None
        metrics.MODEL_LOAD_TIME.set(new.info.load_seconds)
        metrics.SERVED_VERSION.set(float(new.info.version))
        log.info(
            "serving %s version %s (model_folder=%s dataset_version=%s, %s predict, "
            "loaded in %.2fs)",
            new.info.name,
            new.info.version,
            new.info.model_folder,
            new.info.dataset_version,
            new.info.predictor,
            new.info.load_seconds,
        )
        return True

    def _failed(self, stage: str, message: str) -> None:
        self.status.last_error = message[:500]
        metrics.MODEL_POLL_ERRORS.labels(stage).inc()
        served = self.current
        keeping = f"; still serving version {served.info.version}" if served else ""
        if self._failing == stage:  # the same outage, polled again: logged once already
            log.debug("%s%s", message, keeping)
            return
        self._failing = stage
        log.warning("%s%s (logged once until it recovers)", message, keeping)

    def _recovered(self, stage: str) -> None:
        if self._failing == stage:
            self._failing = None
            log.info("MLflow answers again: the %s of the champion works", stage)
