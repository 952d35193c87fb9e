"""Real services for the web app's tests: dbapp under gunicorn, the whole serving stack.

The stacks read two committed dataset versions of the sample sales (BUCKET_2), so the
result page has comparable sales; `promoted_stack` also has a real promotion history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from houseprice.settings import Settings
from tests.support.datasets import sample_rows, write_version
from tests.support.services import gunicorn_service, settings_env
from tests.support.stack import WebStack, wait_until_ready, web_stack


@pytest.fixture(scope="session")
def dbapp_url(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real dbapp (one gunicorn worker) on its own Mongo database."""
    workdir = tmp_path_factory.mktemp("webapp-dbapp")
    settings = Settings.from_env(
        {
            "HOUSEPRICE_DATA_DIR": str(workdir / "data"),
            "MONGO_URI": mongo_uri,
            "MONGO_DB": f"webapp_{uuid.uuid4().hex[:8]}",
        }
    )
    with gunicorn_service("dbapp", settings_env(settings), workdir, workers=1) as url:
        yield url


@pytest.fixture(scope="session")
def bucket_2(tmp_path_factory: pytest.TempPathFactory) -> str:
    """BUCKET_2 with v1 (the older half of the sample sales) and v2 (the rest)."""
    url = str(tmp_path_factory.mktemp("webapp-bucket-2"))
    rows = sample_rows()
    write_version(url, 1, rows.iloc[: len(rows) // 2])
    write_version(url, 2, rows.iloc[len(rows) // 2 :])
    return url


@pytest.fixture(scope="session")
def stack(
    mongo_uri: str, mlflow_uri: str, bucket_2: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebStack]:
    """dbapp, mlapp (serving a registered champion) and webapp, all under gunicorn."""
    workdir = tmp_path_factory.mktemp("webapp-stack")
    with web_stack(mongo_uri, mlflow_uri, workdir, env={"BUCKET_2": bucket_2}) as running:
        yield running


@pytest.fixture(scope="session")
def promoted_stack(
    mongo_uri: str, mlflow_uri: str, bucket_2: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebStack]:
    """A stack whose champion came from real training and promotion runs on v1, then v2."""
    from mlflow import MlflowClient

    from houseprice.datasets import Dataset, load_cumulative
    from houseprice.storage import open_bucket
    from promotion import rows as evaluation_rows
    from promotion.config import PromotionConfig
    from promotion.promotion import promote
    from training.discovery import find, load
    from training.train import train

    workdir = tmp_path_factory.mktemp("webapp-promoted")
    env = {"BUCKET_2": bucket_2}
    with web_stack(mongo_uri, mlflow_uri, workdir, champion=False, env=env) as running:
        name = running.settings.REGISTERED_MODEL_NAME
        client = MlflowClient(tracking_uri=mlflow_uri)
        bucket = open_bucket(bucket_2)
        for version, folders in (
            ("v1", ["linear_regression"]),
            ("v2", ["linear_regression", "log_ridge"]),
        ):
            data = Dataset(version, *load_cumulative(bucket, version))
            for folder in folders:
                train(load(find(folder)), data, client=client, registered_model=name)
            evaluation = evaluation_rows.load(bucket, version, PromotionConfig().recent_min_rows)
            promote(client, name, evaluation, PromotionConfig())
        wait_until_ready(f"{running.mlapp_url}/ready")
        yield running
