"""mlapp as it runs in production: gunicorn with 2 workers, real HTTP, real MLflow."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.mlapp.conftest import mlapp_settings, model_name, promote, register, train
from tests.support.servers import mlflow_server
from tests.support.services import gunicorn_service, settings_env

TOKEN = "test-admin-token"
BATCHES = ("prediction_batch_size_count", frozenset())
BATCHED_RECORDS = ("prediction_batch_size_sum", frozenset())
QUEUED = ("prediction_queue_wait_seconds_count", frozenset())


@dataclass(frozen=True)
class Service:
    url: str
    workdir: Path

    def log(self) -> str:
        return (self.workdir / "mlapp.log").read_text(errors="replace")

    def worker_pids(self) -> set[int]:
        master = int((self.workdir / "gunicorn.pid").read_text().strip())
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return {int(pid) for pid in children}


@contextlib.contextmanager
def run_mlapp(tmp_path: Path, tracking_uri: str, name: str, **extra: str) -> Iterator[Service]:
    settings = mlapp_settings(tmp_path, tracking_uri, name)
    env = {
        **settings_env(settings),
        "GUNICORN_CMD_ARGS": f"--pid {tmp_path / 'gunicorn.pid'}",
        "OMP_NUM_THREADS": "1",
        **extra,
    }
    with gunicorn_service("mlapp", env, tmp_path, workers=2) as url:
        yield Service(url, tmp_path)


def wait_ready(url: str, timeout: float = 180) -> None:
    """Ready in every worker: rounds of concurrent /ready calls all answer 200."""

    def ready(_: int) -> bool:
        try:
            return requests.get(f"{url}/ready", timeout=30).status_code == 200
        except requests.RequestException:
            return False

    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(8) as pool:
        good_rounds = 0
        while good_rounds < 3:
            if time.monotonic() > deadline:
                pytest.fail(f"{url} not ready after {timeout}s")
            good_rounds = good_rounds + 1 if all(pool.map(ready, range(16))) else 0
            time.sleep(0.2)


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def service(tmp_path_factory, mlflow_uri, linear_v1) -> Iterator[Service]:
    with run_mlapp(tmp_path_factory.mktemp("mlapp"), mlflow_uri, linear_v1.name) as running:
        wait_ready(running.url)
        yield running


def test_predictions_match_the_model_through_gunicorn(service, linear_v1, records):
    one = requests.post(f"{service.url}/predict", json=records[3], timeout=30)
    assert one.status_code == 200
    assert one.json()["price"] == pytest.approx(linear_v1.expected(records[3:4])[0], abs=0.006)
    batch = requests.post(f"{service.url}/predict", json=records, timeout=30)
    assert batch.status_code == 200
    assert batch.json()["prices"] == pytest.approx(linear_v1.expected(records), abs=0.006)
    assert batch.json()["model"]["version"] == linear_v1.version
    bad = requests.post(f"{service.url}/predict", data="{", timeout=30)
    assert bad.status_code == 422
    assert bad.json()["fields"] == {"body": bad.json()["fields"]["body"]}


def test_counters_sum_over_both_workers_in_every_scrape(service, records):
    good, bad = 60, 15
    before = scrape(service.url)

    def call(i: int) -> int:
        body = records[i % len(records)] if i < good else {"bedrooms": "three"}
        return requests.post(f"{service.url}/predict", json=body, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(call, range(good + bad)))
    assert codes.count(200) == good and codes.count(422) == bad
    # Both workers answered, so the sums below really add up two processes.
    pids = {p.name.split("_")[-1] for p in (service.workdir / "mlapp-prom").glob("counter_*.db")}
    assert len(pids) >= 2

    ok = (
        "prediction_requests_total",
        frozenset({("status", "200"), ("experiment", "linear_regression")}),
    )
    invalid = (
        "prediction_requests_total",
        frozenset({("status", "422"), ("experiment", "linear_regression")}),
    )
    errors = (
        "prediction_errors_total",
        frozenset({("error_type", "validation"), ("experiment", "linear_regression")}),
    )
    latency = ("prediction_latency_seconds_count", frozenset({("experiment", "linear_regression")}))
    prices = ("predicted_price_dollars_count", frozenset())
    for _ in range(6):
        after = scrape(service.url)
        assert after[ok] - before.get(ok, 0) == good
        assert after[invalid] - before.get(invalid, 0) == bad
        assert after[errors] - before.get(errors, 0) == bad
        assert after[latency] - before.get(latency, 0) == good
        assert after[prices] - before.get(prices, 0) == good
        assert after[("active_prediction_requests", frozenset())] == 0
        assert after[("last_prediction_timestamp", frozenset())] > time.time() - 600
        assert after[("model_load_time_seconds", frozenset())] > 0


def test_request_log_lines_carry_the_request_id(service, records):
    response = requests.post(
        f"{service.url}/predict",
        json=records[0],
        headers={"X-Request-ID": "trace-42-abc"},
        timeout=30,
    )
    assert response.headers["X-Request-ID"] == "trace-42-abc"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in service.log().splitlines() if "request_id=trace-42-abc" in line]
        if lines:
            break
        time.sleep(0.2)
    assert any("POST /predict 200" in line for line in lines)


def test_admin_reload_needs_the_token(service, linear_v1):
    url = f"{service.url}/admin/reload"
    assert requests.post(url, timeout=30).status_code == 401
    wrong = requests.post(url, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401
    ok = requests.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert ok.status_code == 200
    assert ok.json()["changed"] is False
    assert ok.json()["model"]["version"] == linear_v1.version
    assert ok.json()["worker_pid"] in service.worker_pids()


def test_no_champion_then_promotion_serves_without_restart(tmp_path, mlflow_uri, sample, records):
    name = model_name()
    with run_mlapp(tmp_path, mlflow_uri, name) as svc:
        pids = svc.worker_pids()
        # Until each worker's first check is done the reason is "still loading".
        deadline, in_a_row = time.monotonic() + 120, 0
        while in_a_row < 10 and time.monotonic() < deadline:
            ready = requests.get(f"{svc.url}/ready", timeout=30)
            assert ready.status_code == 503
            assert ready.json()["ready"] is False
            in_a_row = in_a_row + 1 if "champion" in ready.json()["reason"] else 0
            time.sleep(0.1)
        assert in_a_row == 10
        for _ in range(6):
            refused = requests.post(f"{svc.url}/predict", json=records[0], timeout=30)
            assert refused.status_code == 503
            assert "price" not in refused.json() and "champion" in refused.json()["message"]

        v1 = register(mlflow_uri, name, train(sample), sample)
        wait_ready(svc.url)
        body = requests.post(f"{svc.url}/predict", json=records[0], timeout=30).json()
        assert body["model"]["version"] == v1.version
        assert body["price"] == pytest.approx(v1.expected(records[:1])[0], abs=0.006)
        assert svc.worker_pids() == pids


def test_hot_swap_under_load_fails_no_request(tmp_path, mlflow_uri, sample, records):
    name = model_name()
    v1 = register(mlflow_uri, name, train(sample), sample)
    v2 = register(mlflow_uri, name, train(sample, scale=1.5), sample, champion=False)
    record = records[5]
    price = {v1.version: v1.expected([record])[0], v2.version: v2.expected([record])[0]}
    assert abs(price[v1.version] - price[v2.version]) > 1000

    with run_mlapp(tmp_path, mlflow_uri, name) as svc:
        wait_ready(svc.url)
        pids = svc.worker_pids()
        seen: list[tuple[str, float]] = []
        failures: list[str] = []
        stop = threading.Event()

        def hammer() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    try:
                        response = session.post(f"{svc.url}/predict", json=record, timeout=30)
                    except requests.RequestException as exc:
                        failures.append(repr(exc))
                        continue
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                        continue
                    body = response.json()
                    seen.append((body["model"]["version"], body["price"]))

        before = scrape(svc.url)
        threads = [threading.Thread(target=hammer) for _ in range(12)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            promote(mlflow_uri, v2)
            deadline = time.monotonic() + 120
            # Done once the last 200 answers (from both workers, in any order) are all v2.
            while time.monotonic() < deadline:
                tail = seen[-200:]
                if len(tail) == 200 and {v for v, _ in tail} == {v2.version}:
                    break
                time.sleep(0.2)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)

        assert failures == []
        # The swap happened while requests were being predicted together.
        after = scrape(svc.url)
        batches = after[BATCHES] - before.get(BATCHES, 0)
        batched = after[BATCHED_RECORDS] - before.get(BATCHED_RECORDS, 0)
        assert batched == len(seen) and batches < batched
        versions = [v for v, _ in seen]
        assert versions[0] == v1.version
        assert set(versions[-200:]) == {v2.version}
        # Every answer is one whole model: its version with that version's price.
        for version, value in seen:
            assert value == pytest.approx(price[version], abs=0.006)
        assert svc.worker_pids() == pids


def test_mlflow_down_keeps_serving_the_loaded_model(tmp_path, sample, records):
    with contextlib.ExitStack() as mlflow_running:
        tracking_uri = mlflow_running.enter_context(mlflow_server(tmp_path / "mlflow"))
        name = model_name()
        v1 = register(tracking_uri, name, train(sample), sample)
        with run_mlapp(tmp_path / "mlapp", tracking_uri, name) as svc:
            wait_ready(svc.url)
            mlflow_running.close()  # MLflow stops; mlapp keeps running

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                registry = requests.get(f"{svc.url}/model", timeout=30).json()["registry"]
                if registry["last_error"]:
                    break
                time.sleep(0.3)
            assert "cannot read the champion alias" in registry["last_error"]
            time.sleep(2)  # several polls of both workers, all failing

            expected = v1.expected(records[:1])[0]
            for _ in range(40):
                response = requests.post(f"{svc.url}/predict", json=records[0], timeout=30)
                assert response.status_code == 200
                assert response.json()["model"]["version"] == v1.version
                assert response.json()["price"] == pytest.approx(expected, abs=0.006)
            assert requests.get(f"{svc.url}/ready", timeout=30).status_code == 200
            metrics = scrape(svc.url)
            assert metrics[("model_poll_errors_total", frozenset({("stage", "lookup")}))] > 0
            assert "still serving version" in svc.log()


def test_concurrent_clients_are_batched_and_each_gets_its_own_answer(service, linear_v1, records):
    expected = linear_v1.expected(records)
    before = scrape(service.url)
    calls = 8 * len(records)

    def call(i: int) -> tuple[int, dict, str]:
        index = i % len(records)
        request_id = f"batch-test-{i}"
        response = requests.post(
            f"{service.url}/predict",
            json=records[index],
            headers={"X-Request-ID": request_id},
            timeout=30,
        )
        body = response.json()
        assert response.status_code == 200, body
        assert body["request_id"] == request_id == response.headers["X-Request-ID"]
        assert body["price"] == pytest.approx(expected[index], abs=0.006)
        assert body["model"]["version"] == linear_v1.version
        return index, body, request_id

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(call, range(calls)))
    assert len(answers) == calls
    after = scrape(service.url)
    batches = after[BATCHES] - before.get(BATCHES, 0)
    batched = after[BATCHED_RECORDS] - before.get(BATCHED_RECORDS, 0)
    assert batched == calls  # every record went through a batch, once
    assert batches < calls  # and some batches held several requests
    assert after[QUEUED] - before.get(QUEUED, 0) == calls
    model = requests.get(f"{service.url}/model", timeout=30).json()
    assert model["batching"] == {"enabled": True, "max_size": 64, "max_wait_ms": 1.0}


def test_batched_answers_equal_unbatched_answers(tmp_path, mlflow_uri, service, linear_v1, records):
    with run_mlapp(tmp_path, mlflow_uri, linear_v1.name, BATCHING="off") as plain:
        wait_ready(plain.url)
        model = requests.get(f"{plain.url}/model", timeout=30).json()
        assert model["batching"] == {"enabled": False, "reason": "BATCHING=off"}
        before = scrape(plain.url)

        def both(index: int) -> tuple[float, float]:
            batched = requests.post(f"{service.url}/predict", json=records[index], timeout=30)
            alone = requests.post(f"{plain.url}/predict", json=records[index], timeout=30)
            return batched.json()["price"], alone.json()["price"]

        with ThreadPoolExecutor(16) as pool:
            pairs = list(pool.map(both, list(range(len(records))) * 3))
        assert all(batched == alone for batched, alone in pairs)  # exact, not approx
        many = requests.post(f"{service.url}/predict", json=records, timeout=30).json()
        assert many["prices"] == [alone for _, alone in pairs[: len(records)]]
        # With batching off nothing goes through the queue.
        assert scrape(plain.url).get(QUEUED, 0) == before.get(QUEUED, 0)


def test_busy_keep_alive_clients_leave_room_for_new_connections(
    tmp_path, mlflow_uri, linear_v1, records
):
    """Twice as many busy keep-alive clients as request threads: every client is served,
    and new connections (a probe, say) get an answer meanwhile (mlapp/worker.py)."""
    # A long watch (200 ms) holds each thread on its client for as long as it stays
    # busy: only the cap on requests in a row hands connections back to the poller.
    extra = {"GUNICORN_THREADS": "2", "KEEPALIVE_WAIT_MS": "200"}
    with run_mlapp(tmp_path, mlflow_uri, linear_v1.name, **extra) as svc:
        wait_ready(svc.url)
        stop = threading.Event()
        answered = [0] * 8  # 2 workers x 2 threads: 4 threads for 8 clients
        failures: list[str] = []

        def client(i: int) -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    reply = session.post(f"{svc.url}/predict", json=records[0], timeout=30)
                    if reply.status_code != 200:
                        failures.append(f"client {i}: {reply.status_code}")
                    answered[i] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            seen = list(answered)
            for _ in range(5):  # a fresh connection each, while the clients keep going
                assert requests.get(f"{svc.url}/health", timeout=4).status_code == 200
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert not failures
        # Served throughout, not only after another client paused: each client's count
        # grew while the probes ran.
        assert all(after > before for before, after in zip(seen, answered, strict=True)), (
            seen,
            answered,
        )


def _connections_per_worker(service: Service) -> list[int]:
    """Established connections to the service's port held by each worker, from /proc."""
    port = int(service.url.rsplit(":", 1)[1])
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(fields[9])
    counts = []
    for pid in sorted(service.worker_pids()):
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                held += target.startswith("socket:[") and target[8:-1] in inodes
        counts.append(held)
    return counts


def test_keep_alive_connections_are_spread_over_the_workers(service, records):
    """Long-lived clients do not pile up on the worker that wakes first (mlapp/worker.py)."""
    sessions = [requests.Session() for _ in range(8)]
    try:
        for session in sessions:  # one new connection after another, each kept open
            assert session.post(f"{service.url}/predict", json=records[0], timeout=30).ok
        deadline = time.monotonic() + 10
        while sum(counts := _connections_per_worker(service)) < len(sessions):
            assert time.monotonic() < deadline, counts
            time.sleep(0.1)
        assert max(counts) - min(counts) <= 1, counts
        for session in sessions:  # and they keep being served where they are
            assert session.post(f"{service.url}/predict", json=records[0], timeout=30).ok
    finally:
        for session in sessions:
            session.close()
