"""Local stand-in for the CronJobs: seed once, then run the pipeline on an interval.

It also runs the pipeline when asked (`python -m local_runner pipeline` takes the
same lock and runs it in the foreground). It never exits on a failed run: honcho would
stop every other process with it.
"""

from __future__ import annotations

import os
import time

import requests

from local_runner.config import LocalConfig
from local_runner.pipeline import run_pipeline, seed_once

# How long train-all waits for mlapp to serve (it answers /ready 503 with no model).
MLAPP_READY_WAIT = 30


def wait_until_up(url: str, what: str, timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    print(f"scheduler: {what} did not answer at {url} within {timeout:.0f}s", flush=True)
    return False


def wait_for_port(port: int, timeout: float = 60) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def run_forever(config: LocalConfig) -> None:
    env = dict(os.environ)
    wait_for_port(config.ports["mongo"])
    seed_once(config, env)

    def before_training() -> None:
        # Waited for only once the data job is done: MLflow starts while it runs.
        wait_until_up(f"{config.url('mlflow')}/health", "MLflow")
        # On a first start, the first champion is being loaded by mlapp: training every
        # folder now would take the CPU that load needs. Serving it comes first (bounded).
        wait_until_up(f"{config.url('mlapp')}/ready", "mlapp", timeout=MLAPP_READY_WAIT)

    while True:
        started = time.monotonic()
        ok = run_pipeline(config, env, before_training=before_training)
        if ok:
            print(f"scheduler: pipeline done; open {config.url('webapp')} to predict", flush=True)
        else:
            print(
                "scheduler: pipeline had failures (see above); retrying next interval", flush=True
            )
        next_run = started + config.pipeline_interval
        print(
            f"scheduler: next run in {config.pipeline_interval:.0f}s (or now: make pipeline)",
            flush=True,
        )
        time.sleep(max(1.0, next_run - time.monotonic()))
