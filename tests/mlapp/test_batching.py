"""The batcher with real fitted models: grouping, one version per batch, per-request errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

from houseprice.schema import FEATURE_NAMES
from mlapp.batching import Batcher, BatchSettings, BatchSettingsError, ModelFailed, predict_rows
from mlapp.model_store import Champion, ModelStore, Served, prepare
from mlapp.predictor import configure_sklearn
from tests.mlapp.conftest import train


def _rows(sample: pd.DataFrame, n: int) -> list[list[Any]]:
    """Rows as the request path hands them over: Python values in schema order."""
    frame = sample.loc[:, list(FEATURE_NAMES)].head(n)
    return [list(row) for row in frame.astype(object).itertuples(index=False)]


def _served(model: Any, sample: pd.DataFrame, version: str, folder: str = "blend") -> Served:
    probe = sample.loc[:, list(FEATURE_NAMES)].head(3).to_numpy(dtype=object)
    champion = Champion("house-price", version, f"run-{version}", {"model_folder": folder})
    return prepare(model, probe, champion, time.perf_counter())


class Recording:
    """Wraps a served model's predict to record how many rows each call got."""

    def __init__(self, served: Served, fail_on_bedrooms: float | None = None) -> None:
        self.sizes: list[int] = []
        self.threads: list[str] = []
        self._predict = served.predict
        self._fail_on = fail_on_bedrooms
        self.served = served._replace(predict=self)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        self.sizes.append(len(X))
        self.threads.append(threading.current_thread().name)
        bedrooms = FEATURE_NAMES.index("bedrooms")
        if self._fail_on is not None and any(row[bedrooms] == self._fail_on for row in X):
            raise ValueError("injected fault for one record")
        return self._predict(X)


@pytest.fixture(scope="module")
def blend(sample: pd.DataFrame) -> Served:
    configure_sklearn()
    return _served(train(sample, "blend"), sample, "1")


def _batcher(served: Served | None, **settings: Any) -> Batcher:
    store = ModelStore("http://127.0.0.1:1", "house-price", poll_seconds=3600, first_load_wait=1)
    store.current = served
    return Batcher(store, BatchSettings(**settings))


def _concurrently(batcher: Batcher, jobs: list[list[list[Any]]]) -> Iterator[Any]:
    """Submit every job at once from its own thread, as gthread request threads do."""
    barrier = threading.Barrier(len(jobs))

    def one(rows: list[list[Any]]) -> Any:
        arrival = batcher.arrive()
        barrier.wait()
        try:
            return arrival.predict(rows)
        except ModelFailed as exc:
            return exc
        finally:
            arrival.close()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(one, jobs))


def test_blend_is_batchable_and_its_batched_prices_equal_one_by_one_bit_for_bit(blend, sample):
    assert blend.batchable
    rows = _rows(sample, 60)
    together = predict_rows(blend, rows)
    alone = [predict_rows(blend, [row])[0] for row in rows]
    assert together == alone  # exact float equality, not approx


def test_concurrent_requests_are_predicted_together_with_their_own_prices(blend, sample):
    recording = Recording(blend)
    batcher = _batcher(recording.served, max_size=64, max_wait=0.5)
    rows = _rows(sample, 24)
    results = _concurrently(batcher, [[row] for row in rows])
    for row, (served, prices) in zip(rows, results, strict=True):
        assert served.info.version == "1"
        assert prices == predict_rows(blend, [row])
    assert sum(recording.sizes) == 24
    assert max(recording.sizes) > 1  # some requests shared a model call
    assert len(recording.sizes) < 24


def test_a_lone_request_predicts_itself_and_concurrent_ones_use_the_predicting_thread(
    blend, sample
):
    recording = Recording(blend)
    batcher = _batcher(recording.served, max_size=64, max_wait=0.5)
    rows = _rows(sample, 8)
    arrival = batcher.arrive()
    served, prices = arrival.predict(rows[:1])
    assert served.info.version == "1"
    assert prices == predict_rows(blend, rows[:1])
    assert recording.threads == [threading.current_thread().name]
    recording.threads.clear()
    _concurrently(batcher, [[row] for row in rows])
    assert "mlapp-batcher" in recording.threads
    assert sum(recording.sizes) == 9


def test_a_batch_holds_at_most_max_size_records_and_never_splits_a_request(blend, sample):
    recording = Recording(blend)
    batcher = _batcher(recording.served, max_size=5, max_wait=0.5)
    rows = _rows(sample, 30)
    jobs = [rows[i : i + 3] for i in range(0, 30, 3)]  # ten requests of three records
    results = _concurrently(batcher, jobs)
    for job, (_, prices) in zip(jobs, results, strict=True):
        assert prices == predict_rows(blend, job)
    assert max(recording.sizes) <= 5
    assert all(size % 3 == 0 for size in recording.sizes)


def test_a_request_larger_than_max_size_is_predicted_whole(blend, sample):
    batcher = _batcher(blend, max_size=4, max_wait=0.01)
    rows = _rows(sample, 10)
    [(_, prices)] = _concurrently(batcher, [rows])
    assert prices == predict_rows(blend, rows)


def test_one_failing_record_fails_only_its_own_request(blend, sample):
    rows = _rows(sample, 12)
    bad_bedrooms = 97.0  # a value no sample house has; the injected fault keys on it
    bad = list(rows[0])
    bad[FEATURE_NAMES.index("bedrooms")] = bad_bedrooms
    recording = Recording(blend, fail_on_bedrooms=bad_bedrooms)
    batcher = _batcher(recording.served, max_size=64, max_wait=0.5)
    jobs = [[row] for row in rows[1:]] + [[bad]] + [[rows[0], bad]]
    results = _concurrently(batcher, jobs)
    assert isinstance(results[-1], ModelFailed) and isinstance(results[-2], ModelFailed)
    for job, result in zip(jobs[:-2], results[:-2], strict=True):
        assert result[1] == predict_rows(blend, job)
    assert max(recording.sizes) > 2  # the fault really hit a shared batch first


def test_non_finite_price_fails_the_request(blend, sample):
    inf = blend._replace(predict=lambda X: np.full(len(X), np.inf))
    batcher = _batcher(inf, max_wait=0.001)
    [result] = _concurrently(batcher, [_rows(sample, 1)])
    assert isinstance(result, ModelFailed)
    assert "non-finite" in str(result)


def test_a_swap_takes_effect_between_batches_never_inside_one(blend, sample):
    v2 = _served(train(sample, "blend", scale=1.5), sample, "2")
    store_batcher = _batcher(blend, max_size=16, max_wait=0.002)
    rows = _rows(sample, 8)
    expected = {
        "1": [predict_rows(blend, [r])[0] for r in rows],
        "2": [predict_rows(v2, [r])[0] for r in rows],
    }
    seen: list[tuple[str, int, float]] = []
    stop = threading.Event()

    def client(i: int) -> None:
        while not stop.is_set():
            arrival = store_batcher.arrive()
            try:
                served, prices = arrival.predict([rows[i]])
            finally:
                arrival.close()
            seen.append((served.info.version, i, prices[0]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        store_batcher.store.current = v2
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    versions = {version for version, _, _ in seen}
    assert versions == {"1", "2"}
    for version, i, price in seen:
        assert price == expected[version][i]


def test_no_model_yet_is_reported_not_guessed(sample):
    from mlapp.batching import NoModel

    batcher = _batcher(None, max_wait=0.001)
    arrival = batcher.arrive()
    with pytest.raises(NoModel):
        arrival.predict(_rows(sample, 1))


def test_a_model_whose_batches_differ_from_single_rows_is_predicted_one_request_at_a_time(
    blend, sample
):
    champion = Champion("house-price", "3", "run-3", {})
    probe = sample.loc[:, list(FEATURE_NAMES)].head(3).to_numpy(dtype=object)

    class Shifting:
        """A model whose price depends on the batch: it adds the number of rows."""

        def predict(self, X):
            return np.asarray(blend.predict(np.asarray(X, dtype=object))) + len(X)

    served = prepare(Shifting(), probe, champion, time.perf_counter())
    assert not served.batchable
    recording = Recording(served)
    batcher = _batcher(recording.served, max_size=64, max_wait=0.5)
    rows = _rows(sample, 6)
    results = _concurrently(batcher, [[row] for row in rows])
    assert recording.sizes == [1] * 6
    for row, (_, prices) in zip(rows, results, strict=True):
        assert prices == [blend.predict(np.array([row], dtype=object))[0] + 1]


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"BATCHING": "maybe"}, "BATCHING"),
        ({"BATCH_MAX_SIZE": "0"}, "BATCH_MAX_SIZE"),
        ({"BATCH_MAX_SIZE": "ten"}, "BATCH_MAX_SIZE"),
        ({"BATCH_MAX_WAIT_MS": "-1"}, "BATCH_MAX_WAIT_MS"),
        ({"BATCH_MAX_WAIT_MS": "nan"}, "BATCH_MAX_WAIT_MS"),
    ],
)
def test_bad_batching_settings_are_refused_naming_the_variable(environ, variable):
    with pytest.raises(BatchSettingsError, match=variable):
        BatchSettings.from_env(environ)


def test_batching_settings_from_the_environment():
    assert BatchSettings.from_env({}) == BatchSettings(enabled=True, max_size=64, max_wait=0.001)
    got = BatchSettings.from_env(
        {"BATCHING": "OFF", "BATCH_MAX_SIZE": "8", "BATCH_MAX_WAIT_MS": "2.5"}
    )
    assert got == BatchSettings(enabled=False, max_size=8, max_wait=0.0025)
