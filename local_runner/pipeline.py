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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from houseprice.storage import open_bucket
from local_runner.config import LocalConfig
from training import NO_SHORTCUT

SEED_MARKER = ".seeded"
ROOT = Path(__file__).resolve().parents[1]


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


# The folder trained first when there is no champion yet: the fastest to fit, so the
# platform serves a price within seconds of its first start.
FIRST_FOLDER_DEFAULT = "log_ridge"


# The folder trained first when there is no champion yet: the fastest to fit, so the
# platform serves a price within seconds of its first start.
FIRST_FOLDER_DEFAULT = "log_ridge"
# How long the first model's training waits for MLflow, which may still be starting.
MLFLOW_START_WAIT = 300


def run_pipeline(
    config: LocalConfig, env: dict[str, str], before_training: Callable[[], object] | None = None
) -> bool:
    """Run every step; True when all succeeded. A failed step is reported, not raised.

    Order: data job -> (no champion yet: the fastest folder, then a first promotion)
    -> train-all -> promotion, once. The first model's process starts right after the
    data job and waits for MLflow itself, so its imports overlap MLflow's start-up;
    `before_training` (the scheduler waits for MLflow there) runs before train-all.
    """
    python = [sys.executable, "-m"]
    ok = True
    with pipeline_lock(config):
        if _call("data job", [*python, "data_collection_and_versioning"], env) != 0:
            return False  # training on a half-known state helps nobody
        first = first_folder(env)
        if first is not None:
            first_cmd = [*python, "training", "train", first, "--unless-champion"]
            code = _call(
                "first model", [*first_cmd, "--wait-for-mlflow", f"{MLFLOW_START_WAIT}"], env
            )
            if code == 0:
                ok &= _call("first promotion", [*python, "promotion", "promote"], env) == 0
            elif code != NO_SHORTCUT:
                ok = False
        if before_training is not None:
            before_training()
        ok &= _call("training", [*python, "training", "train-all"], env) == 0
        # Once per pipeline, after every folder trained: judges every folder's newest version.
        ok &= _call("promotion", [*python, "promotion", "promote"], env) == 0
    return ok


def _call(name: str, cmd: list[str], env: dict[str, str]) -> int:
    started = time.monotonic()
    print(f"pipeline: {name} starting", flush=True)
    code = subprocess.call(cmd, env=env, cwd=ROOT)
    took = time.monotonic() - started
    if code == NO_SHORTCUT and name == "first model":
        outcome = "not needed (a champion exists)"
    else:
        outcome = "done" if code == 0 else f"FAILED (exit {code})"
    print(f"pipeline: {name} {outcome} in {took:.1f}s", flush=True)
    return code


def first_folder(env: dict[str, str]) -> str | None:
    """FIRST_CHAMPION_FOLDER (default log_ridge) if that model folder exists."""
    name = env.get("FIRST_CHAMPION_FOLDER", FIRST_FOLDER_DEFAULT).strip()
    models_dir = Path(env.get("MODELS_DIR") or ROOT / "models")
    return name if name and (models_dir / name / "model.py").is_file() else None


def prometheus_available() -> bool:
    return shutil.which("prometheus") is not None
