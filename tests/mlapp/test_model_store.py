"""Finding, loading and swapping the champion, against a real MLflow server."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from houseprice.schema import FEATURE_NAMES
from mlapp.model_store import ModelStore, find_champion, load_champion
from tests.mlapp.conftest import model_name, promote, register, train
from tests.support.servers import free_port


def _store(mlflow_uri: str, name: str, poll_seconds: float = 3600) -> ModelStore:
    return ModelStore(mlflow_uri, name, poll_seconds=poll_seconds, first_load_wait=30)


def test_no_registered_model_and_no_alias_mean_no_champion(mlflow_uri, sample):
    name = model_name()
    assert find_champion(mlflow_uri, name) is None
    register(mlflow_uri, name, train(sample), sample, champion=False)
    assert find_champion(mlflow_uri, name) is None


def test_find_champion_reads_the_alias_and_the_version_tags(mlflow_uri, linear_v1):
    champion = find_champion(mlflow_uri, linear_v1.name)
    assert champion is not None
    assert champion.version == linear_v1.version
    assert champion.run_id == linear_v1.run_id
    assert champion.tags["model_folder"] == "linear_regression"
    assert champion.tags["dataset_version"] == "v1"


def test_load_champion_gives_the_registered_model_with_its_info(mlflow_uri, linear_v1, records):
    champion = find_champion(mlflow_uri, linear_v1.name)
    served = load_champion(mlflow_uri, champion)
    assert served.public == {
        "name": linear_v1.name,
        "version": linear_v1.version,
        "model_folder": "linear_regression",
        "dataset_version": "v1",
        "run_id": linear_v1.run_id,
    }
    assert served.info.predictor == "lean"
    assert served.info.load_seconds > 0
    rows = np.array([[r[n] for n in FEATURE_NAMES] for r in records], dtype=object)
    np.testing.assert_allclose(served.predict(rows), linear_v1.expected(records), rtol=1e-9)


def test_check_swaps_only_when_the_alias_moves(mlflow_uri, sample):
    name = model_name()
    v1 = register(mlflow_uri, name, train(sample), sample)
    store = _store(mlflow_uri, name)
    assert store.current is None
    assert store.check() is True
    first = store.current
    assert first.info.version == v1.version
    assert store.check() is False
    assert store.current is first  # unchanged alias: nothing reloaded

    v2 = register(mlflow_uri, name, train(sample, scale=2.0), sample, champion=False)
    assert store.check() is False  # registered but not promoted
    promote(mlflow_uri, v2)
    assert store.check() is True
    assert store.current.info.version == v2.version
    assert store.status.champion_version == v2.version
    assert store.status.last_error is None


def test_unreachable_mlflow_keeps_the_served_model_and_records_the_error(mlflow_uri, linear_v1):
    store = _store(mlflow_uri, linear_v1.name)
    assert store.check() is True
    served = store.current
    store.tracking_uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert store.check() is False
    assert store.current is served
    assert "MLflow unreachable: cannot read the champion alias" in store.status.last_error
    assert store.not_ready_reason()  # says why, should the model ever be missing


def test_no_champion_reason_says_to_promote_a_model(mlflow_uri):
    store = _store(mlflow_uri, model_name())
    assert store.check() is False
    assert store.current is None
    assert store.get() is None
    assert "alias 'champion'" in store.not_ready_reason()


def test_poller_thread_picks_up_a_promotion_on_its_own(mlflow_uri, sample):
    name = model_name()
    store = _store(mlflow_uri, name, poll_seconds=0.2)
    store.ensure_started()
    try:
        assert store.get() is None  # waited for the first check: no champion yet
        pollers = [t for t in threading.enumerate() if t.name == "mlapp-model-poller"]
        assert pollers and all(t.daemon for t in pollers)
        v1 = register(mlflow_uri, name, train(sample), sample)
        _wait(lambda: store.current is not None and store.current.info.version == v1.version)
    finally:
        store.stop()


def test_an_empty_store_polls_every_second_until_it_serves(mlflow_uri, sample):
    import time

    from mlapp.model_store import EMPTY_POLL_SECONDS

    name = model_name()
    store = _store(mlflow_uri, name, poll_seconds=3600)
    store.ensure_started()
    try:
        assert store.get() is None
        v1 = register(mlflow_uri, name, train(sample), sample)
        # Long before MODEL_POLL_SECONDS (an hour): the empty store looked again.
        _wait(lambda: store.current is not None, timeout=30)
        assert store.current.info.version == v1.version
        served_at = store.status.last_check_at
        time.sleep(EMPTY_POLL_SECONDS * 2.5)
        assert store.status.last_check_at == served_at  # serving: back to the hour
    finally:
        store.stop()


def _wait(condition, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail("condition not met in time")


def test_an_outage_is_logged_once_and_its_end_once(mlflow_uri, linear_v1, caplog):
    store = _store(mlflow_uri, linear_v1.name)
    assert store.check() is True
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    def warnings_about(text: str) -> int:
        return sum(text in r.getMessage() for r in caplog.records if r.levelname == "WARNING")

    with caplog.at_level("INFO", logger="mlapp.model_store"):
        store.tracking_uri = down
        for _ in range(4):  # four polls during one outage
            store.check()
        assert warnings_about("MLflow unreachable") == 1
        store.tracking_uri = mlflow_uri
        store.check()
        store.check()
        assert sum("MLflow answers again" in r.getMessage() for r in caplog.records) == 1
        store.tracking_uri = down  # a second outage is news again
        store.check()
        assert warnings_about("MLflow unreachable") == 2
