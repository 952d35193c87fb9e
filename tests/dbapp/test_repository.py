"""The pymongo layer against a real nx-27017 server."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from pymongo.errors import ConnectionFailure

from dbapp.documents import new_correction, new_prediction, validate_prediction
from dbapp.metrics import REGISTRY
from dbapp.repository import Repository
from houseprice import mongo
from tests.dbapp.conftest import prediction_body
from tests.support.servers import free_port


@pytest.fixture
def repo(settings):
    repository = Repository(settings)
    yield repository
    repository.close()


def prediction(**overrides):
    clean, errors = validate_prediction(prediction_body(**overrides))
    assert errors == {}
    return new_prediction(clean)


def test_first_use_creates_the_indexes(repo, settings):
    repo.ping()
    repo.collection("corrections")
    client = repo.client()
    # Compared by keys: nx-27017 names indexes its own way.
    for collection in (mongo.predictions, mongo.corrections):
        indexes = collection(client, settings).index_information().values()
        unique = [index["key"] for index in indexes if index.get("unique")]
        assert [("request_id", 1)] in unique


def test_insert_once_keeps_the_first_document(repo):
    first = prediction(request_id="once")
    stored, inserted = repo.insert_once("predictions", first)
    assert inserted and stored == first
    second = prediction(request_id="once", price=1.0)
    stored, inserted = repo.insert_once("predictions", second)
    assert not inserted
    assert stored["price"] == first["price"]
    assert stored["created_at"] == first["created_at"]
    assert repo.page("predictions", 1, 10)[1] == 1


def test_concurrent_retries_make_one_document(repo):
    document = prediction(request_id="raced")
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: repo.insert_once("predictions", document), range(16)))
    assert sum(inserted for _, inserted in outcomes) == 1
    assert all(stored["request_id"] == "raced" for stored, _ in outcomes)
    assert repo.page("predictions", 1, 100)[1] == 1


def test_corrections_are_stored_pending(repo, features):
    clean = {
        "request_id": "c1",
        "prediction_id": "p1",
        "features": features,
        "corrected_price": 350_000.0,
    }
    repo.insert_once("corrections", new_correction(clean))
    found = repo.get("corrections", "c1")
    assert found is not None and "_id" not in found
    assert (found["consumed"], found["consumed_in"]) == (False, "")
    assert repo.get("corrections", "c2") is None


def test_page_counts_all_and_returns_a_slice(repo):
    for i in range(7):
        repo.insert_once("predictions", prediction(index=i, request_id=f"p{i}"))
    items, total = repo.page("predictions", 2, 3)
    assert total == 7
    assert [item["request_id"] for item in items] == ["p3", "p2", "p1"]


def _child_uses_repository(repo: Repository, queue) -> None:
    parent_client = repo._client
    try:
        _, inserted = repo.insert_once("predictions", prediction(request_id="from-child"))
        queue.put((inserted, repo._client is not parent_client, repo._pid == os.getpid()))
    except Exception as exc:  # reported to the parent, which fails the test
        queue.put(repr(exc))


def test_a_forked_worker_gets_its_own_client(repo):
    repo.ping()  # the parent holds a connected client, as gunicorn's master might
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_uses_repository, args=(repo, queue))
    child.start()
    outcome = queue.get(timeout=30)
    child.join(30)
    assert outcome == (True, True, True)
    assert repo.get("predictions", "from-child") is not None


def test_pool_connections_are_counted(settings):
    before = REGISTRY.get_sample_value("mongo_active_connections")
    repository = Repository(settings)
    repository.ping()
    opened = REGISTRY.get_sample_value("mongo_active_connections")
    assert opened >= before + 1
    repository.close()
    assert REGISTRY.get_sample_value("mongo_active_connections") == before


def test_unreachable_database_is_counted_and_marked_down(make_settings):
    settings = make_settings(MONGO_URI=f"mongodb://127.0.0.1:{free_port()}")
    repository = Repository(settings)
    before = REGISTRY.get_sample_value("db_errors_total", {"operation": "ping"}) or 0
    try:
        with pytest.raises(ConnectionFailure):
            repository.ping()
    finally:
        repository.close()
    assert REGISTRY.get_sample_value("db_errors_total", {"operation": "ping"}) == before + 1
    assert REGISTRY.get_sample_value("mongo_health_status") == 0
