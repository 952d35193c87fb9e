"""The serving stack as real processes: a champion in MLflow, then dbapp, mlapp and webapp.

`web_stack(mongo_uri, mlflow_uri, workdir)` takes the URIs of servers the caller
already runs (the session fixtures `mongo_uri` and `mlflow_uri`), registers a
champion model unless told not to, starts the three services under gunicorn and
yields their URLs. Everything it started is stopped, by PID, on exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import requests

from houseprice.schema import FEATURE_NAMES, PRICE, validate_frame
from houseprice.settings import Settings
from tests.support.services import ROOT, gunicorn_service, settings_env

SAMPLE_CSV = ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"
CHAMPION = "champion"


@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    model_folder: str
    dataset_version: str
    run_id: str


@dataclass(frozen=True)
class WebStack:
    settings: Settings  # with MLAPP_URL and DBAPP_URL pointing at the running services
    dbapp_url: str
    mlapp_url: str
    webapp_url: str
    champion: Champion | None


def _build_model(model_folder: str):
    path = ROOT / "models" / model_folder / "model.py"
    spec = importlib.util.spec_from_file_location(f"stack_model_{model_folder}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model()


def register_champion(
    mlflow_uri: str,
    registered_name: str,
    model_folder: str = "linear_regression",
    dataset_version: str = "v1",
    csv: Path = SAMPLE_CSV,
) -> Champion:
    """Train `models/<model_folder>` on a sales CSV, register it and give it the champion alias.

    The version carries the tags mlapp reports (model_folder, dataset_version).
    """
    import mlflow.sklearn
    import skops.io

    valid, _ = validate_frame(pd.read_csv(csv))
    features = valid.loc[:, list(FEATURE_NAMES)]
    model = _build_model(model_folder)
    model.fit(features, valid[PRICE.name].to_numpy(dtype=float))
    # skops refuses to load classes it does not know; trust exactly those in this model.
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))

    client = mlflow.MlflowClient(tracking_uri=mlflow_uri)
    experiment_name = f"stack-{model_folder}"
    found = client.get_experiment_by_name(experiment_name)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment_name)
    # log_model needs the process-wide tracking URI; put back the caller's afterwards.
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_uri)
    try:
        with mlflow.start_run(experiment_id=experiment_id) as run:
            mlflow.set_tags({"model_folder": model_folder, "dataset_version": dataset_version})
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=registered_name,
                input_example=features.head(3),
                skops_trusted_types=trusted,
                # Listing the requirements skips their inference, a subprocess that takes ~30 s.
                pip_requirements=_requirements(),
            )
    finally:
        mlflow.set_tracking_uri(previous)
    version = str(info.registered_model_version)
    client.set_model_version_tag(registered_name, version, "model_folder", model_folder)
    client.set_model_version_tag(registered_name, version, "dataset_version", dataset_version)
    client.set_registered_model_alias(registered_name, CHAMPION, version)
    return Champion(registered_name, version, model_folder, dataset_version, run.info.run_id)


def wait_until_ready(url: str, timeout: float = 120) -> None:
    """Wait for a 200 from `url` (e.g. mlapp's /ready once its model is loaded)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout}s ({last})")


@contextlib.contextmanager
def web_stack(
    mongo_uri: str,
    mlflow_uri: str,
    workdir: Path,
    *,
    champion: bool = True,
    workers: int = 1,
    webapp_workers: int = 2,
    env: dict[str, str] | None = None,
) -> Iterator[WebStack]:
    """dbapp, mlapp and webapp under gunicorn, sharing one fresh Mongo database and model name.

    `workers` is the gunicorn worker count of dbapp and mlapp; webapp gets
    `webapp_workers` (two by default, so its metrics are aggregated across processes).
    """
    suffix = uuid.uuid4().hex[:8]
    settings = Settings.from_env(
        {
            "HOUSEPRICE_DATA_DIR": str(workdir / "data"),
            "MONGO_URI": mongo_uri,
            "MONGO_DB": f"stack_{suffix}",
            "MLFLOW_TRACKING_URI": mlflow_uri,
            "REGISTERED_MODEL_NAME": f"house-price-{suffix}",
            "MODEL_POLL_SECONDS": "1",
            **(env or {}),
        }
    )
    registered = register_champion(mlflow_uri, settings.REGISTERED_MODEL_NAME) if champion else None
    base_env = settings_env(settings)
    with contextlib.ExitStack() as running:
        dbapp_url = running.enter_context(gunicorn_service("dbapp", base_env, workdir, workers))
        mlapp_url = running.enter_context(gunicorn_service("mlapp", base_env, workdir, workers))
        if champion:
            wait_until_ready(f"{mlapp_url}/ready")
        settings = dataclasses.replace(settings, MLAPP_URL=mlapp_url, DBAPP_URL=dbapp_url)
        webapp_url = running.enter_context(
            gunicorn_service("webapp", settings_env(settings), workdir, webapp_workers)
        )
        yield WebStack(settings, dbapp_url, mlapp_url, webapp_url, registered)


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "scikit-learn", "skops", "pandas")]
