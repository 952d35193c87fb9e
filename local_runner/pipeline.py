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
# How long the first model waits for MLflow and for the data job's first version.
FIRST_MODEL_WAIT = 300


def run_pipeline(
    config: LocalConfig, env: dict[str, str], before_training: Callable[[], object] | None = None
) -> bool:
    """Run every step; True when all succeeded. A failed step is reported, not raised.

    Order: data job -> train-all -> promotion, once. Alongside the data job, the
    fastest folder's process starts too (`train <first> --unless-champion --promote`):
    while MLflow starts and the data job commits, it imports its libraries, then waits
    for both, and when no champion exists yet it trains, registers and promotes that
    one folder, so a first price is served long before every folder has trained. When
    a champion exists it exits at once with NO_SHORTCUT. `before_training` (the
    scheduler waits for MLflow there) runs before train-all.
    """
    python = [sys.executable, "-m"]
    ok = True
    with pipeline_lock(config):
        first = first_folder(env)
        shortcut = None
        if first is not None:
            wait = f"{FIRST_MODEL_WAIT}"
            shortcut = _Step(
                "first model",
                [*python, "training", "train", first, "--unless-champion", "--promote",
                 "--wait-for-mlflow", wait, "--wait-for-data", wait],
                env,
            )  # fmt: skip
        if _call("data job", [*python, "data_collection_and_versioning"], env) != 0:
            if shortcut is not None:
                shortcut.stop()
            return False  # training on a half-known state helps nobody
        if shortcut is not None:
            ok &= shortcut.wait() in (0, NO_SHORTCUT)
        if before_training is not None:
            before_training()
        ok &= _call("training", [*python, "training", "train-all"], env) == 0
        # Once per pipeline, after every folder trained: judges every folder's newest version.
        ok &= _call("promotion", [*python, "promotion", "promote"], env) == 0
    return ok


class _Step:
    """One step's process, reported on one line when it ends."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.started = time.monotonic()
        print(f"pipeline: {name} starting", flush=True)
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT)

    def wait(self) -> int:
        code = self.proc.wait()
        took = time.monotonic() - self.started
        if code == NO_SHORTCUT and self.name == "first model":
            outcome = "not needed (a champion exists)"
        else:
            outcome = "done" if code == 0 else f"FAILED (exit {code})"
        print(f"pipeline: {self.name} {outcome} in {took:.1f}s", flush=True)
        return code

    def stop(self) -> None:
        """End it early (its input will not come): SIGTERM, then SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        print(f"pipeline: {self.name} stopped", flush=True)
        self.proc.wait()


def _call(name: str, cmd: list[str], env: dict[str, str]) -> int:
    return _Step(name, cmd, env).wait()


def first_folder(env: dict[str, str]) -> str | None:
    """FIRST_CHAMPION_FOLDER (default log_ridge) if that model folder exists."""
    name = env.get("FIRST_CHAMPION_FOLDER", FIRST_FOLDER_DEFAULT).strip()
    models_dir = Path(env.get("MODELS_DIR") or ROOT / "models")
    return name if name and (models_dir / name / "model.py").is_file() else None


def prometheus_available() -> bool:
    return shutil.which("prometheus") is not None
