"""mlapp test helpers: real models from models/<folder>, registered in a real MLflow."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask

from houseprice.schema import FEATURE_NAMES, PRICE, validate_features, validate_frame
from houseprice.settings import Settings
from tests.conftest import ROOT, SAMPLE_CSV

ALIAS = "champion"


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    run_id: str
    model_folder: str
    dataset_version: str
    model: Any  # the fitted pipeline that was logged

    def expected(self, records: list[dict[str, Any]]) -> list[float]:
        """The model's own prices for JSON-like records (what mlapp must return)."""
        return [float(p) for p in self.model.predict(pd.DataFrame(records)[list(FEATURE_NAMES)])]


@pytest.fixture(scope="session")
def sample() -> pd.DataFrame:
    valid, _ = validate_frame(pd.read_csv(SAMPLE_CSV))
    return valid


@pytest.fixture(scope="session")
def records(sample: pd.DataFrame) -> list[dict[str, Any]]:
    """Sample houses as JSON request bodies (plain Python values), each one mlapp accepts."""
    rows = json.loads(sample.loc[:, list(FEATURE_NAMES)].head(80).to_json(orient="records"))
    return [row for row in rows if not validate_features(row)[1]][:50]


@pytest.fixture(scope="session", autouse=True)
def _mlflow_client_env() -> Iterator[None]:
    # create_app sets these process-wide with setdefault; pin them so they are undone after.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        patch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
        patch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
        yield


def build_model(model_folder: str) -> Any:
    path = ROOT / "models" / model_folder / "model.py"
    spec = importlib.util.spec_from_file_location(f"mlapp_test_model_{model_folder}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model()


def train(sample: pd.DataFrame, model_folder: str = "linear_regression", scale: float = 1.0):
    """Fit models/<model_folder> on the sample; `scale` multiplies the target (another model)."""
    model = build_model(model_folder)
    model.fit(sample.loc[:, list(FEATURE_NAMES)], sample[PRICE.name].to_numpy(float) * scale)
    return model


def register(
    tracking_uri: str,
    name: str,
    model: Any,
    sample: pd.DataFrame,
    model_folder: str = "linear_regression",
    dataset_version: str = "v1",
    champion: bool = True,
) -> Registered:
    """Log and register `model` as the trainer does; optionally give it the champion alias."""
    import mlflow
    import mlflow.sklearn
    import skops.io
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(model_folder)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            input_example=sample.loc[:, list(FEATURE_NAMES)].head(3),
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
            # Given explicitly: inferring them runs a slow subprocess.
            pip_requirements=["mlflow", "scikit-learn", "skops", "pandas"],
        )
    version = str(info.registered_model_version)
    client = MlflowClient(tracking_uri=tracking_uri)
    client.set_model_version_tag(name, version, "model_folder", model_folder)
    client.set_model_version_tag(name, version, "dataset_version", dataset_version)
    if champion:
        client.set_registered_model_alias(name, ALIAS, version)
    return Registered(name, version, run.info.run_id, model_folder, dataset_version, model)


def promote(tracking_uri: str, registered: Registered) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(
        registered.name, ALIAS, registered.version
    )


def model_name() -> str:
    return f"house-price-{uuid.uuid4().hex[:8]}"


def mlapp_settings(tmp_path: Path, tracking_uri: str, name: str, **overrides: str) -> Settings:
    return Settings.from_env(
        {
            "HOUSEPRICE_DATA_DIR": str(tmp_path / "data"),
            "MLFLOW_TRACKING_URI": tracking_uri,
            "REGISTERED_MODEL_NAME": name,
            "MODEL_POLL_SECONDS": "0.5",
            # Generous: on a busy machine the first load can take a while.
            "HTTP_TIMEOUT_SECONDS": "30",
            "ADMIN_TOKEN": "test-admin-token",
            **overrides,
        }
    )


@pytest.fixture(scope="session")
def linear_v1(mlflow_uri: str, sample: pd.DataFrame) -> Registered:
    """One champion shared by the tests that only read (its name is theirs alone)."""
    return register(mlflow_uri, model_name(), train(sample), sample)


@pytest.fixture
def app_for() -> Iterator[Callable[[Settings], Flask]]:
    """Build mlapp in-process for some settings; stops its poller thread afterwards."""
    from mlapp.app import create_app
    from mlapp.predict import STORE_KEY

    apps: list[Flask] = []

    def build(settings: Settings) -> Flask:
        app = create_app(settings)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions[STORE_KEY].stop()
