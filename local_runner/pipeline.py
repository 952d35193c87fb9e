"""The pipeline the CronJobs run in Kubernetes: data job, training, then promotion once.

Locally the scheduler runs it on an interval and `python -m local_runner pipeline`
runs it on demand; a file lock keeps the two from overlapping.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from houseprice.storage import open_bucket
from local_runner.config import LocalConfig

SEED_MARKER = ".seeded"


@contextmanager
def pipeline_lock(config: LocalConfig) -> Iterator[None]:
    lock_path = config.data_dir / "run" / "pipeline.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("pipeline: another run is in progress, waiting for it to finish", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def seed_once(config: LocalConfig, env: dict[str, str]) -> bool:
    """Copy the sample dataset into BUCKET_1 on the very first start only."""
    marker = config.data_dir / SEED_MARKER
    if marker.exists():
        return False
    bucket = open_bucket(env["BUCKET_1"])
    bucket.write_bytes(config.seed_csv.name, config.seed_csv.read_bytes())
    marker.write_text(config.seed_csv.name + "\n")
    print(f"seeded {config.seed_csv.name} into BUCKET_1 ({bucket.url})", flush=True)
    return True


def run_pipeline(config: LocalConfig, env: dict[str, str]) -> bool:
    """Run every step; True when all succeeded. A failed step is reported, not raised."""
    steps = [
        ("data job", [sys.executable, "-m", "data_collection_and_versioning"]),
        ("training", [sys.executable, "-m", "training", "train-all"]),
        # Once per pipeline, after every folder trained: judges every folder's newest version.
        ("promotion", [sys.executable, "-m", "promotion", "promote"]),
    ]
    ok = True
    with pipeline_lock(config):
        for name, cmd in steps:
            started = time.monotonic()
            print(f"pipeline: {name} starting", flush=True)
            code = subprocess.call(cmd, env=env, cwd=Path(__file__).resolve().parents[1])
            took = time.monotonic() - started
            print(
                f"pipeline: {name} {'done' if code == 0 else f'FAILED (exit {code})'} "
                f"in {took:.1f}s",
                flush=True,
            )
            if code != 0:
                ok = False
                if name == "data job":
                    break  # training on a half-known state helps nobody
    return ok


def prometheus_available() -> bool:
    return shutil.which("prometheus") is not None
