"""The whole feedback loop on one machine, started exactly as the README says (`make up`).

Browser predictions and corrections, a new CSV of sales, the on-demand pipeline:
the corrections and the new rows land in the next dataset version exactly once,
every model folder retrains on it, the champion is re-evaluated, and mlapp serves
the new champion without a restart while requests keep succeeding. Then Ctrl-C
stops everything, and a second `make up` neither re-versions nor retrains.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from playwright.sync_api import expect, sync_playwright

from houseprice.datasets import committed_versions, load_cumulative, read_split
from houseprice.schema import EXAMPLE_RECORD, validate_frame
from houseprice.settings import Settings
from houseprice.storage import open_bucket
from local_runner.config import PORTS
from tests.support.browser import launch
from tests.support.servers import free_port, wait_for_port
from training import discovery

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"
REGISTERED = "house-price"
HOUSES = [  # (city, statezip, living area, corrected price)
    ("Bellevue", "WA 98004", "2400", "910,000"),
    ("Kirkland", "WA 98033", "1800", "705,000"),
    ("Seattle", "WA 98103", "1500", "640,000"),
]

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1800)]


@dataclass
class Platform:
    env: dict[str, str]
    data_dir: Path
    log: Path
    proc: subprocess.Popen | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self) -> None:
        handle = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            ["make", "-s", "up"],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        """What Ctrl-C does: SIGINT to the foreground process group."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until(check, what: str, timeout: float, platform: Platform) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert platform.proc is not None and platform.proc.poll() is None, (
            f"platform exited while waiting for {what}:\n{platform.output()[-4000:]}"
        )
        with contextlib.suppress(requests.RequestException):
            if check():
                return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{platform.output()[-4000:]}")


def fields_of_settings() -> list[str]:
    from dataclasses import fields

    return [f.name for f in fields(Settings)]


def port_open(port: int) -> bool:
    try:
        wait_for_port(port, timeout=1)
    except TimeoutError:
        return False
    return True


def mlapp_pids(port: int) -> set[int]:
    """PIDs of the gunicorn master and workers serving mlapp on `port` (this platform's only)."""
    bind = f"BIND=127.0.0.1:{port}".encode()
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if b"mlapp.app:create_app" in (proc / "cmdline").read_bytes() and bind in (
                    proc / "environ"
                ).read_bytes().split(b"\0"):
                    pids.add(int(proc.name))
    return pids


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    sample = pd.read_csv(SAMPLE)
    early = sample[sample["date"] < "2014-06-16"]
    later = sample[sample["date"] >= "2014-06-16"]
    seed = tmp_path / "seed_sales.csv"
    early.to_csv(seed, index=False)
    later.to_csv(tmp_path / "new_sales.csv", index=False)
    ports = {name: free_port() for name in PORTS}
    leaked = {*fields_of_settings(), "MLFLOW_REGISTRY_URI"}
    env = {
        # Settings other tests exported in this process must not leak into the platform.
        **{k: v for k, v in os.environ.items() if k not in leaked},
        "HOUSEPRICE_DATA_DIR": str(tmp_path / "data"),
        "HOUSEPRICE_SEED_CSV": str(seed),
        "PIPELINE_INTERVAL_SECONDS": "3600",  # the test runs the pipeline on demand
        "MODEL_POLL_SECONDS": "1",
        "BATCH_SIZE": "200",
        **{var: str(ports[name]) for name, (var, _) in PORTS.items()},
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("STORAGE_EMULATOR_HOST", None)
    up = Platform(env=env, data_dir=tmp_path / "data", log=tmp_path / "platform.log", ports=ports)
    try:
        yield up
    finally:
        up.stop()
        artifacts = Path(os.environ.get("HOUSEPRICE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
        artifacts.mkdir(exist_ok=True)
        (artifacts / "loop-platform.log").write_text(up.output())


class Traffic(threading.Thread):
    """Steady one-record requests to mlapp, recording every status and model version."""

    def __init__(self, url: str, record: dict) -> None:
        super().__init__(daemon=True)
        self.url, self.record = url, record
        self.statuses: Counter[int] = Counter()
        self.versions: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        deadline = time.monotonic() + 900  # bounded even if the test forgets to stop it
        while not self.done.is_set() and time.monotonic() < deadline:
            try:
                reply = session.post(self.url, json=self.record, timeout=10)
                self.statuses[reply.status_code] += 1
                if reply.status_code == 200:
                    self.versions.append(str(reply.json()["model"]["version"]))
            except requests.RequestException:
                self.statuses[0] += 1
            time.sleep(0.02)


def predict_and_correct_in_browser(webapp: str, artifacts: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            for number, (city, statezip, living, corrected) in enumerate(HOUSES, 1):
                page.goto(webapp)
                page.get_by_label("City").fill(city)
                page.get_by_label("State and ZIP").fill(statezip)
                page.get_by_label("Living area").fill(living)
                page.get_by_label("Area above ground").fill(living)
                page.get_by_label("Basement area").fill("0")
                page.get_by_role("button", name="Get price").click()
                expect(page.locator("#price")).to_have_text(re.compile(r"^\$\d{1,3}(,\d{3})+$"))
                page.screenshot(path=str(artifacts / f"loop-{number}-price.png"))
                page.get_by_label("Correct price").fill(corrected)
                page.get_by_role("button", name="Send correction").click()
                expect(page.get_by_role("heading", name="Correction saved")).to_be_visible()
            page.get_by_role("link", name="History", exact=True).click()
            for _, _, _, corrected in HOUSES:
                expect(page.get_by_text(f"${corrected}").first).to_be_visible()
            page.screenshot(path=str(artifacts / "loop-history.png"), full_page=True)
        finally:
            browser.close()


def test_the_whole_loop(platform: Platform) -> None:
    artifacts = Path(os.environ.get("HOUSEPRICE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    started = time.monotonic()
    platform.start()
    wait_until(
        lambda: requests.get(f"{platform.url('mlapp')}/ready", timeout=2).ok,
        "a champion served by mlapp",
        420,
        platform,
    )
    wait_until(
        lambda: requests.get(f"{platform.url('webapp')}/health", timeout=2).ok,
        "webapp",
        60,
        platform,
    )
    first_ready = time.monotonic() - started
    print(f"time from `make up` to a servable champion: {first_ready:.1f}s")
    # The first champion is served before every folder trained: let the first pipeline
    # (train-all, then the promotion that judges every folder) finish before reading it.
    wait_until(
        lambda: "scheduler: pipeline done" in platform.output(), "the first pipeline", 600, platform
    )
    bucket_1 = open_bucket(str(platform.data_dir / "bucket_1"))
    bucket_2 = open_bucket(str(platform.data_dir / "bucket_2"))
    assert committed_versions(bucket_2) == ["v1"]
    client = MlflowClient(platform.url("mlflow"), registry_uri=platform.url("mlflow"))
    first_champion = client.get_model_version_by_alias(REGISTERED, "champion")

    # A person prices three houses and corrects each price.
    predict_and_correct_in_browser(platform.url("webapp"), artifacts)
    corrections = requests.get(
        f"{platform.url('dbapp')}/corrections", params={"per_page": 100}, timeout=5
    ).json()["items"]
    assert len(corrections) == len(HOUSES)
    correction_ids = {c["request_id"] for c in corrections}

    # New sales arrive in BUCKET_1 while the platform runs.
    new_sales = Path(platform.env["HOUSEPRICE_SEED_CSV"]).with_name("new_sales.csv")
    bucket_1.write_bytes("uploads/new_sales.csv", new_sales.read_bytes())
    new_valid, _ = validate_frame(pd.read_csv(new_sales))

    record = dict(EXAMPLE_RECORD)
    pids_before = mlapp_pids(platform.ports["mlapp"])
    assert pids_before, "mlapp's gunicorn processes were not found"
    traffic = Traffic(f"{platform.url('mlapp')}/predict", record)
    traffic.start()
    try:
        done = subprocess.run(
            ["make", "-s", "pipeline"],
            cwd=ROOT,
            env=platform.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        new_champion = client.get_model_version_by_alias(REGISTERED, "champion")
        wait_until(
            lambda: (
                requests.get(f"{platform.url('mlapp')}/model", timeout=2).json()["model"]["version"]
                == str(new_champion.version)
            ),
            "mlapp to serve the champion chosen on v2",
            120,
            platform,
        )
        time.sleep(1)
    finally:
        traffic.done.set()
        traffic.join(30)

    # The next version holds the corrections and the new rows, exactly once.
    assert committed_versions(bucket_2) == ["v1", "v2"]
    v1 = pd.concat([read_split(bucket_2, "v1", s) for s in ("train", "valid")])
    v2 = pd.concat([read_split(bucket_2, "v2", s) for s in ("train", "valid")])
    v2_corrections = v2[v2["source"].str.startswith("correction:")]
    assert set(v2_corrections["source"].str.removeprefix("correction:")) == correction_ids
    assert len(v2_corrections) == len(HOUSES)
    assert not v1["source"].str.startswith("correction:").any()
    from_upload = v2[v2["source"].str.contains("new_sales.csv")]
    assert len(from_upload) == len(new_valid)
    assert from_upload["source"].is_unique
    assert sorted(from_upload["price"]) == sorted(new_valid["price"])
    train, valid = load_cumulative(bucket_2)
    assert len(train) + len(valid) == len(v1) + len(v2)
    assert not any(key.startswith("uploads/") for key in bucket_1.list())  # archived

    # Every model folder retrained on v2, and the champion was re-evaluated on it.
    folders = [f.name for f in discovery.discover()]
    assert folders
    for folder in folders:
        experiment = client.get_experiment_by_name(f"{REGISTERED}/{folder}")
        runs = client.search_runs([experiment.experiment_id])
        trained_on = Counter(r.data.tags.get("dataset_version") for r in runs)
        assert trained_on == {"v1": 1, "v2": 1}, (folder, trained_on)
    promotions = client.get_experiment_by_name(f"{REGISTERED}/promotions")
    decisions = client.search_runs(
        [promotions.experiment_id], filter_string="tags.dataset_version = 'v2'"
    )
    assert len(decisions) == 1
    decision = decisions[0].data.tags
    assert decision["previous_version"] == str(first_champion.version)
    assert decision["champion_version"] == str(new_champion.version)

    # mlapp switched in place, and no request failed on the way.
    assert set(traffic.statuses) == {200}, traffic.statuses
    assert traffic.versions[-1] == str(new_champion.version)
    if new_champion.version != first_champion.version:
        assert traffic.versions[0] == str(first_champion.version)
    assert mlapp_pids(platform.ports["mlapp"]) == pids_before

    # Remember what exists, to show that a second start changes nothing.
    runs_before = {
        f: len(
            client.search_runs([client.get_experiment_by_name(f"{REGISTERED}/{f}").experiment_id])
        )
        for f in folders
    }

    # Ctrl-C stops every process.
    platform.stop()
    assert platform.proc is not None and platform.proc.returncode is not None
    still_open = [name for name, port in platform.ports.items() if port_open(port)]
    assert still_open == []
    assert mlapp_pids(platform.ports["mlapp"]) == set()

    # A second start changes nothing that is already done.
    log_size = len(platform.output())
    platform.start()
    wait_until(
        lambda: "scheduler: pipeline done" in platform.output()[log_size:],
        "the scheduler's first run after restart",
        420,
        platform,
    )
    assert committed_versions(bucket_2) == ["v1", "v2"]
    client = MlflowClient(platform.url("mlflow"), registry_uri=platform.url("mlflow"))
    runs_after = {
        f: len(
            client.search_runs([client.get_experiment_by_name(f"{REGISTERED}/{f}").experiment_id])
        )
        for f in folders
    }
    assert runs_after == runs_before
    summary = {
        "first_ready_seconds": round(first_ready, 1),
        "requests": dict(traffic.statuses),
        "champions": [first_champion.version, new_champion.version],
    }
    (artifacts / "loop-summary.json").write_text(json.dumps(summary, indent=2))
