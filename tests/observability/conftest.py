"""A real Pushgateway (Debian's prometheus-pushgateway) and a real Prometheus for the tests."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.conftest import rendered  # noqa: F401 - the rendered manifests fixture
from tests.support.servers import free_port, start, stop, wait_for_http


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run `make system-deps` (Debian package)")
    return found


@contextlib.contextmanager
def pushgateway_server(workdir: Path) -> Iterator[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start(
        [
            binary("prometheus-pushgateway"),
            f"--web.listen-address=127.0.0.1:{port}",
            # Debian's default is a file under /var/lib/prometheus, shared by every run.
            f"--persistence.file={workdir / 'metrics.store'}",
        ],
        workdir / "pushgateway.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/-/ready", proc, timeout=30)
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def prometheus_server(config: Path, workdir: Path, port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    proc = start(
        [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        workdir / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/-/ready", proc, timeout=60)
        yield url
    finally:
        stop(proc)


@pytest.fixture
def pushgateway_url(tmp_path: Path) -> Iterator[str]:
    with pushgateway_server(tmp_path / "pushgateway") as url:
        yield url


def pushed(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Metric name -> [(labels, value)] of everything the Pushgateway exposes."""
    text = requests.get(f"{url}/metrics", timeout=5).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def one(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    """The value of the one sample of `name` whose labels include `labels`."""
    values = [v for lab, v in samples.get(name, []) if labels.items() <= lab.items()]
    assert len(values) == 1, (name, labels, samples.get(name))
    return values[0]


def query(prometheus_url: str, promql: str) -> list[dict[str, Any]]:
    """Result vector of an instant query through Prometheus's HTTP API."""
    response = requests.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (promql, body)
    return body["data"]["result"]


def wait_for_query(prometheus_url: str, promql: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Poll an instant query until it returns at least one series."""
    deadline = time.monotonic() + timeout
    while True:
        result = query(prometheus_url, promql)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)
