"""Train one model folder on the cumulative data of the newest dataset version.

A folder trains only when BUCKET_2 holds a committed version newer than the one its
last successful run saw (never the same data twice), and then on every version up
to the newest (v1..vN), not only the new rows.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd

# MLflow saves the models with skops, whose import costs about 1 s of CPU: paid at
# start, while a first-start job still waits for MLflow or the data, not while logging.
import skops.io  # noqa: F401
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from threadpoolctl import threadpool_limits

from houseprice import registry
from houseprice.datasets import Dataset, version_number
from houseprice.evaluation import checked_settings, features, predict, rows_key, score, target
from houseprice.schema import FEATURE_NAMES, TEXT_NAMES
from training.discovery import BrokenModelFolder, ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    folder: str
    dataset_version: str
    run_id: str
    model_version: str
    metrics: dict[str, float]
    train_rows: int
    valid_rows: int
    tags: dict[str, str] = field(default_factory=dict)


def needs_training(last_trained: str | None, newest: str) -> bool:
    return last_trained is None or version_number(newest) > version_number(last_trained)


def pending(client: MlflowClient, registered_model: str, folder: str, newest: str) -> str | None:
    """`newest` if the folder has not trained on it (or anything later) yet, else None."""
    experiment_id = registry.ensure_experiment(
        client, registry.experiment_name(registered_model, folder)
    )
    last = registry.last_dataset_version(client, experiment_id)
    return newest if needs_training(last, newest) else None


def train(
    spec: ModelSpec,
    data: Dataset,
    *,
    client: MlflowClient,
    registered_model: str,
    commit: str = "unknown",
) -> TrainResult:
    """Fit, score, log and register one model folder. BrokenModelFolder if it misbehaves.

    The validation predictions are recorded with the run (the version is then scored
    once: promotion reuses them for the same dataset version and rows).
    """
    estimator = spec.build()
    try:
        with _training_threads(), checked_settings():
            estimator.fit(features(data.train), target(data.train))
            predictions = predict(estimator, data.valid)
        metrics = score(target(data.valid), predictions)
    except Exception as exc:
        raise BrokenModelFolder(spec.name, f"fitting or scoring raised {_describe(exc)}") from exc

    experiment_id = registry.ensure_experiment(
        client, registry.experiment_name(registered_model, spec.name)
    )
    tags = {
        registry.TAG_FOLDER: spec.name,
        registry.TAG_DATASET: data.version,
        registry.TAG_COMMIT: commit,
        "train_rows": str(len(data.train)),
        "valid_rows": str(len(data.valid)),
        registry.TAG_EVALUATED: registry.evaluated_on(data.version, rows_key(data.valid)),
        **{name: f"{value:.6g}" for name, value in metrics.items()},
    }
    example = _input_example(data.train)
    with checked_settings():
        signature = infer_signature(example, estimator.predict(example))
    trusted = [*registry.SKOPS_TRUSTED_TYPES, *spec.trusted_types]

    # The process-wide tracking URI is set by the entry point (training.cli), not here.
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"{spec.name}-{data.version}",
        tags=tags,
        description=spec.description or None,
    ) as run:
        mlflow.log_params(_params(spec, estimator))
        try:
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                signature=signature,
                input_example=example,
                skops_trusted_types=trusted,
                pip_requirements=pip_requirements(),
            )
        except MlflowException as exc:
            if "untrusted types" in str(exc):
                raise BrokenModelFolder(
                    spec.name,
                    "its pipeline holds types skops does not trust; once reviewed, list them "
                    f"in TRUSTED_TYPES in model.py ({str(exc).split('Root error: ')[-1][:300]})",
                ) from exc
            raise
        mlflow.log_metrics(metrics, model_id=info.model_id)
        mlflow.log_metrics({"train_rows": len(data.train), "valid_rows": len(data.valid)})
        registry.record_predictions(client, run.info.run_id, data.version, predictions)
        registered = mlflow.register_model(info.model_uri, registered_model, tags=tags)
        client.update_model_version(
            registered_model,
            registered.version,
            description=(
                f"{spec.name} trained on dataset {data.version} (cumulative, "
                f"{len(data.train)} rows); validation MdAPE {metrics['mdape']:.2%}. "
                f"{spec.description.splitlines()[0] if spec.description else ''}"
            ).strip(),
        )
    return TrainResult(
        folder=spec.name,
        dataset_version=data.version,
        run_id=run.info.run_id,
        model_version=str(registered.version),
        metrics=metrics,
        train_rows=len(data.train),
        valid_rows=len(data.valid),
        tags=tags,
    )


def _training_threads() -> Any:
    # A few thousand rows gain nothing from threads, and OpenMP spinning on a busy
    # node (or a container with a small CPU limit) slows training tenfold.
    if os.environ.get("OMP_NUM_THREADS"):
        return threadpool_limits(limits=None)
    return threadpool_limits(limits=1)


def _input_example(train: pd.DataFrame) -> pd.DataFrame:
    example = features(train).head(3).copy()
    for name in FEATURE_NAMES:
        # Numbers as doubles: a schema of doubles accepts ints too, not the reverse.
        # Text as plain Python strings keeps the JSON example and the schema simple.
        kind = object if name in TEXT_NAMES else "float64"
        example[name] = example[name].astype(kind)
    return example.reset_index(drop=True)


def pip_requirements() -> list[str]:
    """Pinned from this environment. Given explicitly because MLflow's inference runs
    the model in a subprocess and takes tens of seconds per model."""
    names = ("scikit-learn", "numpy", "pandas", "scipy", "skops", "threadpoolctl")
    return [f"{name}=={metadata.version(name)}" for name in names]


def _params(spec: ModelSpec, estimator: Any) -> dict[str, str]:
    """The folder's PARAMS as given, plus a flat summary of the estimator's parameters."""
    params = {str(k): _short(v) for k, v in spec.params.items()}
    params["estimator"] = type(estimator).__name__
    for name, value in estimator.get_params(deep=True).items():
        if value is None or isinstance(value, bool | int | float | str | tuple | list):
            params[f"estimator.{name}"] = _short(value)
    return params


def _short(value: Any) -> str:
    return str(value)[:500]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"
