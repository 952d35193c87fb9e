"""dbapp as it runs in production: gunicorn, two workers, real HTTP, real nx-27017."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from dbapp.app import MAX_BODY_BYTES
from houseprice.settings import Settings
from tests.dbapp.conftest import prediction_body
from tests.support.servers import free_port, mongo_server
from tests.support.services import gunicorn_service, settings_env

TIMEOUT = 10


def metric(url: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`, as one scrape reports it."""
    text = requests.get(f"{url}/metrics", timeout=TIMEOUT).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def worker_pids_with_samples(workdir: Path) -> set[str]:
    return {path.stem.rsplit("_", 1)[-1] for path in (workdir / "dbapp-prom").glob("counter_*.db")}


@pytest.fixture(scope="module")
def service(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("dbapp")
    settings = Settings.from_env(
        {
            "HOUSEPRICE_DATA_DIR": str(workdir / "data"),
            "MONGO_URI": mongo_uri,
            "MONGO_DB": f"dbapp_{uuid.uuid4().hex[:8]}",
        }
    )
    with gunicorn_service("dbapp", settings_env(settings), workdir, workers=2) as url:
        yield url, workdir


def test_retry_with_the_same_request_id_stores_one_document(service):
    url, _ = service
    body = prediction_body()
    first = requests.post(f"{url}/predictions", json=body, timeout=TIMEOUT)
    retries = [requests.post(f"{url}/predictions", json=body, timeout=TIMEOUT) for _ in range(4)]
    assert first.status_code == 201
    assert {r.status_code for r in retries} == {200}
    assert all(r.json() == first.json() for r in retries)
    listed = requests.get(f"{url}/predictions?per_page=100", timeout=TIMEOUT).json()
    assert [i["request_id"] for i in listed["items"]].count(body["request_id"]) == 1


def test_pagination_over_http(service):
    url, _ = service
    ids = []
    for i in range(3):
        body = prediction_body(index=i)
        assert requests.post(f"{url}/predictions", json=body, timeout=TIMEOUT).status_code == 201
        ids.append(body["request_id"])
    page = requests.get(f"{url}/predictions?page=1&per_page=2", timeout=TIMEOUT).json()
    assert [item["request_id"] for item in page["items"]] == ids[::-1][:2]
    assert page["total"] >= 3 and page["per_page"] == 2
    too_many = requests.get(f"{url}/predictions?per_page=1000", timeout=TIMEOUT)
    assert too_many.status_code == 422 and "per_page" in too_many.json()["fields"]


def test_injection_unknown_ids_and_oversized_bodies_over_http(service):
    url, _ = service
    body = prediction_body(request_id={"$gt": ""})
    injected = requests.post(f"{url}/predictions", json=body, timeout=TIMEOUT)
    assert injected.status_code == 422 and "request_id" in injected.json()["fields"]
    missing = requests.get(f"{url}/predictions/not-stored-{uuid.uuid4().hex}", timeout=TIMEOUT)
    assert missing.status_code == 404 and missing.json()["error"] == "not found"
    huge = prediction_body(model_name="m" * (2 * MAX_BODY_BYTES))
    too_big = requests.post(f"{url}/predictions", json=huge, timeout=TIMEOUT)
    assert too_big.status_code == 413 and too_big.json()["error"]
    form = requests.post(f"{url}/predictions", data={"request_id": "x"}, timeout=TIMEOUT)
    assert form.status_code == 415 and form.json()["message"]


def test_request_log_lines_carry_the_request_id(service):
    url, workdir = service
    request_id = f"trace-{uuid.uuid4().hex}"
    body = prediction_body()
    response = requests.post(
        f"{url}/predictions", json=body, headers={"X-Request-ID": request_id}, timeout=TIMEOUT
    )
    assert response.headers["X-Request-ID"] == request_id
    log = (workdir / "dbapp.log").read_text()
    lines = [line for line in log.splitlines() if request_id in line]
    assert any("POST /predictions 201" in line for line in lines)
    assert any(f"stored predictions/{body['request_id']}" in line for line in lines)


def test_metrics_add_up_across_two_workers(service):
    url, workdir = service
    before_stores = metric(url, "store_requests_total", collection="predictions")
    before_reads = metric(url, "retrieve_requests_total", collection="predictions")
    before_inserted = metric(url, "documents_inserted_total", collection="predictions")
    stores, reads = 40, 30
    bodies = [prediction_body(index=i % 20) for i in range(stores)]

    def store(body):
        return requests.post(f"{url}/predictions", json=body, timeout=TIMEOUT).status_code

    def read(_):
        return requests.get(f"{url}/predictions?per_page=5", timeout=TIMEOUT).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent, so both workers serve
        assert set(pool.map(store, bodies)) == {201}
        assert set(pool.map(read, range(reads))) == {200}
    assert len(worker_pids_with_samples(workdir)) >= 2
    for _ in range(6):  # each scrape may land on either worker: all must agree
        assert metric(url, "store_requests_total", collection="predictions") == (
            before_stores + stores
        )
        assert metric(url, "retrieve_requests_total", collection="predictions") == (
            before_reads + reads
        )
        assert metric(url, "documents_inserted_total", collection="predictions") == (
            before_inserted + stores
        )
        assert metric(url, "store_latency_seconds_count", collection="predictions") == (
            before_stores + stores
        )
        assert metric(url, "mongo_health_status") == 1
        assert metric(url, "mongo_active_connections") >= 2


def test_database_outage_and_recovery_without_restart(tmp_path):
    mongo_dir, port = tmp_path / "mongo", free_port()
    with contextlib.ExitStack() as first_mongo:
        uri = first_mongo.enter_context(mongo_server(mongo_dir, port=port))
        settings = Settings.from_env(
            {"HOUSEPRICE_DATA_DIR": str(tmp_path / "data"), "MONGO_URI": uri, "MONGO_DB": "outage"}
        )
        with gunicorn_service("dbapp", settings_env(settings), tmp_path, workers=2) as url:
            before = prediction_body()
            stored = requests.post(f"{url}/predictions", json=before, timeout=TIMEOUT)
            assert stored.status_code == 201
            assert requests.get(f"{url}/ready", timeout=TIMEOUT).status_code == 200

            first_mongo.close()  # the MongoDB process stops
            errors_before = metric(url, "db_errors_total")
            for _ in range(3):
                down = requests.post(f"{url}/predictions", json=prediction_body(), timeout=TIMEOUT)
                assert down.status_code == 503
                assert down.json()["error"] == "database unavailable"
            assert requests.get(f"{url}/ready", timeout=TIMEOUT).status_code == 503
            assert requests.get(f"{url}/health", timeout=TIMEOUT).status_code == 200
            for _ in range(4):
                assert metric(url, "mongo_health_status") == 0
            assert metric(url, "db_errors_total") >= errors_before + 4

            # A new server process on the same port and data: dbapp reconnects by itself.
            with mongo_server(mongo_dir, port=port):
                after = prediction_body(index=1)
                response = requests.post(f"{url}/predictions", json=after, timeout=TIMEOUT)
                assert response.status_code == 201
                for _ in range(6):  # every worker finds the database again
                    assert requests.get(f"{url}/ready", timeout=TIMEOUT).status_code == 200
                    assert metric(url, "mongo_health_status") == 1
                # Nothing stored before the outage was lost.
                kept = requests.get(f"{url}/predictions/{before['request_id']}", timeout=TIMEOUT)
                assert kept.status_code == 200 and kept.json() == stored.json()
