"""houseprice/pushgateway.py against a real Pushgateway: what lands there, and a
Pushgateway that is down or refusing never raises."""

from __future__ import annotations

import logging
import time

import pytest

from houseprice import pushgateway
from houseprice.pushgateway import JobMetrics, push
from tests.observability.conftest import one, pushed
from tests.support.servers import free_port


def test_a_push_lands_in_its_group_with_the_job_label(pushgateway_url: str) -> None:
    metrics = JobMetrics(pushgateway.DATA_JOB)
    metrics.set("houseprice_data_rows", 12, outcome="read")
    metrics.set("houseprice_data_rows", 3, outcome="rejected")
    before = time.time()
    metrics.finished(time.monotonic() - 2.5)
    assert push(pushgateway_url, metrics) is True
    samples = pushed(pushgateway_url)
    assert one(samples, "houseprice_data_rows", job="data-job", outcome="read") == 12
    assert one(samples, "houseprice_data_rows", job="data-job", outcome="rejected") == 3
    assert 2.5 <= one(samples, "houseprice_job_duration_seconds", job="data-job") < 60
    success = one(samples, "houseprice_job_last_success_timestamp_seconds", job="data-job")
    assert before <= success <= time.time()
    assert one(samples, "push_time_seconds", job="data-job") >= before


def test_a_failed_run_keeps_the_last_success_time(pushgateway_url: str) -> None:
    """pushadd replaces only the names a push carries: the failure does not erase the success."""
    good = JobMetrics(pushgateway.TRAINING, {"folder": "ridge"})
    good.set("houseprice_model_mdape", 0.21, version="4")
    good.finished(time.monotonic())
    assert push(pushgateway_url, good)
    succeeded = one(
        pushed(pushgateway_url), "houseprice_job_last_success_timestamp_seconds", folder="ridge"
    )
    bad = JobMetrics(pushgateway.TRAINING, {"folder": "ridge"})
    bad.finished(time.monotonic(), ok=False)
    assert push(pushgateway_url, bad)
    samples = pushed(pushgateway_url)
    labels = {"job": "training", "folder": "ridge"}
    assert one(samples, "houseprice_job_last_success_timestamp_seconds", **labels) == succeeded
    assert one(samples, "houseprice_job_last_failure_timestamp_seconds", **labels) >= succeeded
    assert one(samples, "houseprice_model_mdape", version="4", **labels) == pytest.approx(0.21)


def test_each_folder_is_its_own_group(pushgateway_url: str) -> None:
    for folder, mdape in (("ridge", 0.2), ("linear", 0.3)):
        metrics = JobMetrics(pushgateway.TRAINING, {"folder": folder})
        metrics.set("houseprice_model_mdape", mdape, version="1")
        assert push(pushgateway_url, metrics)
    samples = pushed(pushgateway_url)
    assert one(samples, "houseprice_model_mdape", folder="ridge") == pytest.approx(0.2)
    assert one(samples, "houseprice_model_mdape", folder="linear") == pytest.approx(0.3)


def test_a_pushgateway_that_is_down_costs_one_log_line(caplog) -> None:
    metrics = JobMetrics(pushgateway.DATA_JOB)
    metrics.finished(time.monotonic())
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="houseprice.pushgateway"):
        assert push(url, metrics) is False
    lines = [r.getMessage() for r in caplog.records if r.name == "houseprice.pushgateway"]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith(f"metrics of data-job not pushed to {url}: ")


def test_a_refused_push_is_reported_not_raised(pushgateway_url: str, caplog) -> None:
    """A URL the Pushgateway answers with an HTTP error (a wrong path prefix: 404)."""
    metrics = JobMetrics(pushgateway.DATA_JOB)
    metrics.set("houseprice_dataset_version", 3)
    with caplog.at_level(logging.WARNING, logger="houseprice.pushgateway"):
        assert push(f"{pushgateway_url}/not-here", metrics) is False
    assert "HTTP Error 404" in caplog.text


def test_no_url_means_no_push() -> None:
    assert push("", JobMetrics(pushgateway.DATA_JOB)) is False
