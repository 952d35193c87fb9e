"""Session-wide real servers and per-test settings."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from houseprice.settings import Settings
from tests.support import servers

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CSV = ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.mongo_server(tmp_path_factory.mktemp("mongo")) as uri:
        yield uri


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    with servers.gcs_server() as url:
        yield url


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A database/collection-safe name unique to this test."""
    import re
    import uuid

    base = re.sub(r"[^A-Za-z0-9]", "_", request.node.name)[:40]
    return f"{base}_{uuid.uuid4().hex[:6]}"


@pytest.fixture
def make_settings(tmp_path: Path, mongo_uri: str, unique_name: str) -> Callable[..., Settings]:
    """Settings for one test: its own Mongo database and bucket directories."""

    def build(**overrides: str) -> Settings:
        env = {
            "HOUSEPRICE_DATA_DIR": str(tmp_path / "data"),
            "MONGO_URI": mongo_uri,
            "MONGO_DB": unique_name,
            "BATCH_SIZE": "1000",
            **{k: str(v) for k, v in overrides.items()},
        }
        return Settings.from_env(env)

    return build


@pytest.fixture(scope="session", autouse=True)
def _artifact_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    os.environ.setdefault("HOUSEPRICE_TEST_ARTIFACTS", str(ARTIFACTS))
    # As the platform runs (local_runner, the images): MLflow sends no usage telemetry.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return ARTIFACTS
