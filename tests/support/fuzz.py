"""schemathesis against throwaway mlapp and dbapp processes (tests/contracts, bench/fuzz.py).

The fuzzer stores what it posts, so each run gets its own Mongo database and registered
model name; nothing it writes reaches a platform anyone uses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

from houseprice.schema import EXAMPLE_RECORD
from houseprice.settings import Settings
from tests.support.servers import VENV_BIN
from tests.support.services import ROOT, gunicorn_service, settings_env
from tests.support.stack import register_champion, wait_until_ready

TOKEN = "fuzz-admin-token"
TOKEN_ENV = "HOUSEPRICE_FUZZ_TOKEN"
PREDICTION_ID_ENV = "HOUSEPRICE_FUZZ_PREDICTION_ID"
CONFIG = ROOT / "tests" / "contracts" / "schemathesis.toml"
HOOKS = "tests.contracts.hooks"


@dataclasses.dataclass(frozen=True)
class Platform:
    mlapp_url: str
    dbapp_url: str
    prediction_id: str  # a stored prediction that valid corrections refer to
    workdir: Path


@contextlib.contextmanager
def throwaway_platform(mongo_uri: str, mlflow_uri: str, workdir: Path) -> Iterator[Platform]:
    """A champion in MLflow, then dbapp and mlapp under gunicorn, one worker each."""
    suffix = uuid.uuid4().hex[:8]
    settings = Settings.from_env(
        {
            "HOUSEPRICE_DATA_DIR": str(workdir / "data"),
            "MONGO_URI": mongo_uri,
            "MONGO_DB": f"fuzz_{suffix}",
            "MLFLOW_TRACKING_URI": mlflow_uri,
            "REGISTERED_MODEL_NAME": f"fuzz-{suffix}",
            "ADMIN_TOKEN": TOKEN,
        }
    )
    register_champion(mlflow_uri, settings.REGISTERED_MODEL_NAME)
    env = {**settings_env(settings), "LOG_LEVEL": "WARNING"}
    with contextlib.ExitStack() as running:
        dbapp_url = running.enter_context(gunicorn_service("dbapp", env, workdir, workers=1))
        mlapp_url = running.enter_context(gunicorn_service("mlapp", env, workdir, workers=1))
        wait_until_ready(f"{mlapp_url}/ready")
        yield Platform(mlapp_url, dbapp_url, seed_prediction(dbapp_url), workdir)


def seed_prediction(dbapp_url: str) -> str:
    request_id = f"fuzz-seed-{uuid.uuid4().hex[:8]}"
    body = {
        "request_id": request_id,
        "features": EXAMPLE_RECORD,
        "price": 313_000.0,
        "model_name": "house-price",
        "model_version": "1",
        "dataset_version": "v1",
    }
    response = requests.post(f"{dbapp_url}/predictions", json=body, timeout=10)
    response.raise_for_status()
    return request_id


def run_schemathesis(
    platform: Platform,
    service: str,
    *,
    max_examples: int,
    seed: int | None = None,
    max_time: int | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` with every check against one service's served /openapi.json."""
    url = platform.mlapp_url if service == "mlapp" else platform.dbapp_url
    report = platform.workdir / f"{service}-junit.xml"
    cmd = [
        str(VENV_BIN / "schemathesis"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if max_time is not None:
        cmd += ["--max-time", str(max_time)]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": HOOKS,
        TOKEN_ENV: TOKEN,
        PREDICTION_ID_ENV: platform.prediction_id,
        "NO_COLOR": "1",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
