"""Real services for the web app's tests: dbapp under gunicorn, the whole serving stack."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from houseprice.settings import Settings
from tests.support.services import gunicorn_service, settings_env
from tests.support.stack import WebStack, web_stack


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
def stack(
    mongo_uri: str, mlflow_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebStack]:
    """dbapp, mlapp (serving a registered champion) and webapp, all under gunicorn."""
    with web_stack(mongo_uri, mlflow_uri, tmp_path_factory.mktemp("webapp-stack")) as running:
        yield running
