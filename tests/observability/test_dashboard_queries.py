"""Every dashboard panel's query returns data from the local platform's real Prometheus,
after some traffic and a pipeline run: the platform started as `make up` starts it, with
its Pushgateway, the Prometheus configuration it writes and the rules of the cluster."""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import requests

from houseprice.settings import Settings
from local_runner.config import PORTS
from tests.conftest import SAMPLE_CSV
from tests.observability.conftest import pushed, query
from tests.observability.dashboards import Query, queries
from tests.support.model_folders import LINEAR, MEDIAN, write_model
from tests.support.servers import free_port
from tests.webapp.helpers import csrf_token
from tests.webapp.test_forms import HOUSE

ROOT = Path(__file__).resolve().parents[2]
RECORD = {
    "bedrooms": 3, "bathrooms": 2, "sqft_living": 1800, "sqft_lot": 6000, "floors": 1,
    "waterfront": 0, "view": 0, "condition": 3, "sqft_above": 1800, "sqft_basement": 0,
    "yr_built": 1990, "yr_renovated": 0, "street": "1 Main St", "city": "Seattle",
    "statezip": "WA 98103", "country": "USA",
}  # fmt: skip
TOKEN = re.compile(r'name="prediction" value="([^"]+)"')
CORRECTION_ID = re.compile(r'name="correction_id" value="([^"]+)"')

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@dataclass
class Platform:
    env: dict[str, str]
    ports: dict[str, int]
    log: Path
    proc: subprocess.Popen

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def alive(self) -> None:
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-4000:]


def wait(check, what: str, platform: Platform, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        platform.alive()
        with contextlib.suppress(requests.RequestException):
            if check():
                return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}:\n{platform.log.read_text()[-4000:]}")


class Traffic(threading.Thread):
    """Users of every kind, until stopped: prices, bad input, corrections, history pages."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(daemon=True)
        self.platform = platform
        self.done = threading.Event()
        self.statuses: dict[str, int] = {}

    def count(self, what: str, status: int) -> None:
        self.statuses[f"{what} {status}"] = self.statuses.get(f"{what} {status}", 0) + 1

    def run(self) -> None:
        mlapp, webapp = self.platform.url("mlapp"), self.platform.url("webapp")
        session = requests.Session()
        deadline = time.monotonic() + 1200
        while not self.done.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                self.count(
                    "mlapp", session.post(f"{mlapp}/predict", json=RECORD, timeout=10).status_code
                )
                many = [RECORD, {**RECORD, "sqft_living": 2500, "sqft_above": 2500}]
                self.count(
                    "mlapp batch",
                    session.post(f"{mlapp}/predict", json=many, timeout=10).status_code,
                )
                bad = {**RECORD, "bedrooms": "many"}
                self.count(
                    "mlapp bad", session.post(f"{mlapp}/predict", json=bad, timeout=10).status_code
                )
                form = session.get(webapp, timeout=10)
                data = {**HOUSE, "csrf_token": csrf_token(form.text)}
                result = session.post(webapp, data=data, timeout=10)
                self.count("webapp", result.status_code)
                if (token := TOKEN.search(result.text)) and (
                    cid := CORRECTION_ID.search(result.text)
                ):
                    correction = {
                        "csrf_token": data["csrf_token"],
                        "prediction": token.group(1),
                        "correction_id": cid.group(1),
                        "corrected_price": "650000",
                    }
                    self.count(
                        "correction",
                        session.post(
                            f"{webapp}/correction", data=correction, timeout=10
                        ).status_code,
                    )
                invalid = {**data, "sqft_living": "huge"}
                self.count("webapp bad", session.post(webapp, data=invalid, timeout=10).status_code)
                self.count(
                    "webapp no csrf", session.post(webapp, data=HOUSE, timeout=10).status_code
                )
                self.count("history", session.get(f"{webapp}/history", timeout=10).status_code)
            self.done.wait(0.5)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """`python -m local_runner up` (what `make up` runs) on free ports, two small model
    folders, the first half of the sample as its seed; then a second, drifted CSV and
    `python -m local_runner pipeline`, then steady traffic."""
    tmp = tmp_path_factory.mktemp("platform")
    sample = pd.read_csv(SAMPLE_CSV)
    sample[sample["date"] < "2014-06-16"].to_csv(tmp / "seed.csv", index=False)
    later = sample[sample["date"] >= "2014-06-16"].copy()
    later["sqft_lot"] = later["sqft_lot"] * 3  # bigger plots: one feature drifts
    models = tmp / "models"
    write_model(models, "linear", LINEAR)
    write_model(models, "median", MEDIAN)
    ports = {name: free_port() for name in PORTS}
    from dataclasses import fields

    leaked = {f.name for f in fields(Settings)} | {"MLFLOW_REGISTRY_URI"}
    env = {
        # Settings other tests exported in this process must not leak into the platform.
        **{k: v for k, v in os.environ.items() if k not in leaked},
        "HOUSEPRICE_DATA_DIR": str(tmp / "data"),
        "HOUSEPRICE_SEED_CSV": str(tmp / "seed.csv"),
        "MODELS_DIR": str(models),
        "PIPELINE_INTERVAL_SECONDS": "3600",  # the test runs the second pipeline on demand
        "MODEL_POLL_SECONDS": "1",
        "BATCH_SIZE": "200",
        "OMP_NUM_THREADS": "1",
        **{var: str(ports[name]) for name, (var, _) in PORTS.items()},
    }
    for name in ("PROMETHEUS_MULTIPROC_DIR", "STORAGE_EMULATOR_HOST"):
        env.pop(name, None)
    log = tmp / "platform.log"
    with open(log, "ab") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local_runner", "up"],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    up = Platform(env, ports, log, proc)
    traffic = Traffic(up)
    try:
        gateway = up.url("pushgateway")
        wait(
            lambda: "houseprice_champion_version" in pushed(gateway),
            "the first pipeline (seed, version, training, promotion)",
            up,
            900,
        )
        wait(lambda: requests.get(f"{up.url('mlapp')}/ready", timeout=2).ok, "mlapp ready", up, 300)
        (tmp / "data" / "bucket_1" / "later.csv").write_bytes(later.to_csv(index=False).encode())
        done = subprocess.run(
            [sys.executable, "-m", "local_runner", "pipeline"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "drift of v2" in done.stdout, done.stdout[-3000:]
        traffic.start()
        yield up
    finally:
        traffic.done.set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        artifacts = Path(os.environ.get("HOUSEPRICE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
        artifacts.mkdir(exist_ok=True)
        (artifacts / "dashboards-platform.log").write_text(log.read_text(errors="replace"))


def answers(platform: Platform, expr: str, timeout: float = 120) -> list[dict]:
    """The query's series once at least one holds a number (not NaN): rates and quantiles
    need two scrapes with traffic in between."""
    deadline = time.monotonic() + timeout
    while True:
        platform.alive()
        result = query(platform.url("prometheus"), expr)
        numbers = [s for s in result if not math.isnan(float(s["value"][1]))]
        if numbers or time.monotonic() > deadline:
            return numbers
        time.sleep(2)


@pytest.mark.parametrize(
    "panel",
    queries(),
    ids=lambda q: q.id,
)
def test_every_panel_query_returns_data(platform: Platform, panel: Query) -> None:
    assert answers(platform, panel.expr, 120), f"{panel.id}: no data\n{panel.expr}"


def test_the_pipeline_figures_are_the_runs_own(platform: Platform) -> None:
    """Not just any data: the second run made v2, drift was judged against the champion's v1."""
    prometheus = platform.url("prometheus")
    assert float(answers(platform, "max(houseprice_dataset_version)")[0]["value"][1]) == 2
    assert float(answers(platform, "max(houseprice_drift_dataset_version)")[0]["value"][1]) == 2
    lot = answers(platform, 'max(houseprice_feature_drift{feature="sqft_lot"})')
    assert float(lot[0]["value"][1]) == 1
    freshness = query(
        prometheus, "time() - max by (job) (houseprice_job_last_success_timestamp_seconds)"
    )
    assert {s["metric"]["job"] for s in freshness} == {"data-job", "training", "promotion"}
    assert all(0 <= float(s["value"][1]) < 1800 for s in freshness)
    # No job alert fires on a healthy platform (the drift alert may: one feature of 14 drifted
    # is below the 50% threshold, so it must not).
    firing = query(prometheus, 'ALERTS{alertstate="firing"}')
    assert not [a for a in firing if a["metric"]["alertname"] in (
        "JobNotSucceeding", "DataDrift", "MlappNotServingChampion", "HeldCorrectionsPilingUp"
    )], firing  # fmt: skip
