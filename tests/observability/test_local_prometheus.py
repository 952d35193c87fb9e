"""The local runner's Prometheus scrapes its Pushgateway keeping the jobs' labels, and the
jobs it starts are told where to push."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import yaml

from houseprice import pushgateway
from houseprice.pushgateway import JobMetrics, push
from local_runner.config import PUSHGATEWAY_BIN, LocalConfig
from local_runner.prometheus import write_config
from tests.deploy.conftest import tool
from tests.observability.conftest import prometheus_server, pushgateway_server, wait_for_query
from tests.support.servers import free_port


def test_the_local_config_scrapes_the_pushgateway_with_honor_labels(tmp_path: Path) -> None:
    config = LocalConfig.from_env(
        {"HOUSEPRICE_DATA_DIR": str(tmp_path), "PUSHGATEWAY_PORT": "19091"}
    )
    path = write_config(config, pushgateway=True)
    jobs = {j["job_name"]: j for j in yaml.safe_load(path.read_text())["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["pushgateway"]["static_configs"] == [{"targets": ["127.0.0.1:19091"]}]
    done = subprocess.run(
        [tool("promtool"), "check", "config", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pushgateway" not in {
        j["job_name"] for j in yaml.safe_load(write_config(config).read_text())["scrape_configs"]
    }


def test_jobs_started_locally_push_to_the_local_pushgateway(tmp_path: Path) -> None:
    config = LocalConfig.from_env(
        {"HOUSEPRICE_DATA_DIR": str(tmp_path), "PUSHGATEWAY_PORT": "19091"}
    )
    env = config.child_env({"PATH": "/usr/bin:/bin"})
    assert shutil.which(PUSHGATEWAY_BIN), "make system-deps installs prometheus-pushgateway"
    assert env["PUSHGATEWAY_URL"] == "http://127.0.0.1:19091"
    # An exported value wins, as for every setting; empty turns pushing off.
    assert config.child_env({"PATH": "/usr/bin", "PUSHGATEWAY_URL": ""})["PUSHGATEWAY_URL"] == ""


def test_pushed_job_metrics_reach_prometheus_under_the_jobs_own_label(tmp_path: Path) -> None:
    with pushgateway_server(tmp_path / "pg") as gateway:
        port = gateway.rsplit(":", 1)[1]
        config = LocalConfig.from_env(
            {
                "HOUSEPRICE_DATA_DIR": str(tmp_path / "data"),
                "PUSHGATEWAY_PORT": port,
                "PROMETHEUS_PORT": str(free_port()),
            }
        )
        path = write_config(config, pushgateway=True)
        metrics = JobMetrics(pushgateway.DATA_JOB)
        metrics.set("houseprice_dataset_version", 7)
        metrics.finished(time.monotonic())
        assert push(gateway, metrics)
        workdir = tmp_path / "prometheus"
        workdir.mkdir()
        with prometheus_server(path, workdir, config.ports["prometheus"]) as prometheus:
            found = wait_for_query(prometheus, 'houseprice_dataset_version{job="data-job"}', 60)
            assert [float(s["value"][1]) for s in found] == [7]
            assert "exported_job" not in found[0]["metric"]
            age = wait_for_query(
                prometheus,
                'time() - houseprice_job_last_success_timestamp_seconds{job="data-job"}',
                30,
            )
            assert 0 <= float(age[0]["value"][1]) < 120
