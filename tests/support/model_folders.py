"""Fixtures for training tests: a models directory, dataset versions, a real MLflow."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from houseprice.settings import Settings

# Model folders written by tests: small, fast, and clearly ordered in quality
# (log-price ridge with zip codes > plain linear regression > predicting the median).
LOG_RIDGE = '''
"""Ridge on log price with hashed city and zip."""
import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from houseprice.features import HouseFeatures

PARAMS = {"alpha": 1.0}


def build_model():
    features = HouseFeatures(categorical=("city", "statezip"), n_hash_features=128)
    return TransformedTargetRegressor(
        regressor=Pipeline([("features", features), ("ridge", Ridge(**PARAMS))]),
        func=np.log,
        inverse_func=np.exp,
    )
'''
LINEAR = '''
"""Linear regression on numeric and hashed fields."""
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from houseprice.features import HouseFeatures

PARAMS = {"n_hash_features": 32}


def build_model():
    return Pipeline(
        [("features", HouseFeatures(derived=False, **PARAMS)), ("regressor", LinearRegression())]
    )
'''
MEDIAN = '''
"""Predicts the median training price whatever the house: a deliberately weak model."""
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline

from houseprice.features import HouseFeatures


def build_model():
    return Pipeline(
        [("features", HouseFeatures()), ("regressor", DummyRegressor(strategy="median"))]
    )
'''
TREES = '''
"""Small gradient-boosted trees with city and zip as categories."""
import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

from houseprice.features import HouseFeatures, categorical_columns

PARAMS = {"max_iter": 30}


def build_model():
    features = HouseFeatures(encoding="ordinal", categorical=("city", "statezip"))
    trees = HistGradientBoostingRegressor(
        **PARAMS, categorical_features=categorical_columns(features), random_state=0
    )
    return TransformedTargetRegressor(
        regressor=Pipeline([("features", features), ("trees", trees)]),
        func=np.log,
        inverse_func=np.exp,
    )
'''


def write_model(models_dir: Path, name: str, source: str) -> Path:
    folder = models_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(textwrap.dedent(source).lstrip())
    return folder


@dataclass
class TrainingEnv:
    """Everything one training test needs, also exported to os.environ for the CLI."""

    settings: Settings
    models_dir: Path
    env: dict[str, str]

    @property
    def bucket(self) -> str:
        return self.settings.BUCKET_2

    @property
    def registered(self) -> str:
        return self.settings.REGISTERED_MODEL_NAME

    def client(self) -> MlflowClient:
        uri = self.settings.MLFLOW_TRACKING_URI
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def training_env(
    tmp_path: Path, mlflow_uri: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., TrainingEnv]:
    """Own registered model name (so own experiments), own BUCKET_2 and models dir."""

    def build(tracking_uri: str = mlflow_uri) -> TrainingEnv:
        models_dir = tmp_path / "models"
        models_dir.mkdir(exist_ok=True)
        env = {
            "HOUSEPRICE_DATA_DIR": str(tmp_path / "data"),
            "BUCKET_2": str(tmp_path / "data" / "bucket_2"),
            "MLFLOW_TRACKING_URI": tracking_uri,
            "REGISTERED_MODEL_NAME": f"hp-{unique_name}",
            "MODELS_DIR": str(models_dir),
            "GIT_COMMIT": "0123456789abcdef",
            "OMP_NUM_THREADS": "1",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        mlflow.set_tracking_uri(tracking_uri)  # as the entry points do, once per process
        return TrainingEnv(Settings.from_env(env), models_dir, env)

    return build
