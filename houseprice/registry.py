"""MLflow helpers: reachability, experiments, run bookkeeping, registry versions, the alias.

Naming (one registered model is one competition):
- experiment per model folder: "<registered model>/<folder>", e.g. "house-price/log_ridge";
- promotion decisions: experiment "<registered model>/promotions";
- the served model: registered model version holding the alias "champion".
Prefixing experiments with the registered model name keeps two platforms that share
one MLflow server (say staging and production) from reading each other's history.

This module is the one registry contract: the alias, the tag names, the error codes
that mean "not there (yet)", the champion lookup and the version download. Training,
promotion and mlapp all use it.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import requests
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from houseprice.datasets import version_number
from houseprice.features import TRUSTED_TYPES as FEATURE_TYPES
from houseprice.settings import redact_url as redact  # one redaction rule, with the settings

CHAMPION = "champion"  # the registry alias of the served version
PROMOTIONS = "promotions"

# MLflow answers these when the registered model or its alias does not exist (yet).
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})

# Tags on every training run and registered version. mlapp reads model_folder and
# dataset_version from the champion's version.
TAG_FOLDER = "model_folder"
TAG_DATASET = "dataset_version"
TAG_COMMIT = "git_commit"
# "<dataset version>:<rows key>" of the predictions recorded with the version's run
# (artifact EVALUATION_DIR/<dataset version>.npy), so a version is scored only once per
# evaluation set. The rows key is houseprice.evaluation.rows_key of the rows predicted.
TAG_EVALUATED = "evaluated_on"
EVALUATION_DIR = "evaluation"
# Tags promotion writes on the versions it judged.
TAG_DECISION = "promotion"
TAG_EVAL_DATASET = "eval_dataset_version"
TAG_ROLLED_BACK = "rolled_back"  # a version a rollback removed: not a candidate again
# Registered-model tags: fingerprint of the inputs of the last promotion decision, and
# the versions that held the alias, oldest first (what a rollback returns to).
TAG_PROMOTION_INPUTS = "promotion_inputs"
TAG_CHAMPION_HISTORY = "champion_history"

# Types skops must trust to load the platform's pipelines. Beyond the feature
# transformers: HistGradientBoosting's tree arrays and its categorical preprocessing
# (a partial of check_array), and the Bunch that holds a VotingRegressor's members.
# A model folder may add reviewed types of its own with TRUSTED_TYPES in model.py.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = (
    *FEATURE_TYPES,
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils._bunch.Bunch",
    "sklearn.utils.validation.check_array",
    "functools.partial",
)

# MLflow's own defaults retry for minutes (120 s timeout, 7 retries with backoff); a
# job that cannot reach its server should say so within seconds. Operators may still
# override these in the environment.
CLIENT_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    # A job's stdout carries its own result (e.g. `python -m promotion --json`), not links.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking server does not answer."""


def configure_client_timeouts() -> None:
    for name, value in CLIENT_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)


def check_reachable(tracking_uri: str, timeout: float = 5.0) -> None:
    """Fail fast, with the address in the message, when the server is not there."""
    if urlparse(tracking_uri).scheme not in ("http", "https"):
        return  # a database URI: the first query will tell
    url = tracking_uri.rstrip("/") + "/health"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise TrackingUnavailable(
            f"MLflow tracking server {redact(tracking_uri)} is unreachable ({reason}); "
            "start it or set MLFLOW_TRACKING_URI"
        ) from None
    if response.status_code != 200:
        raise TrackingUnavailable(
            f"MLflow tracking server {redact(tracking_uri)} answered {response.status_code} "
            f"on /health (a 403 'Invalid Host header' means the server's --allowed-hosts "
            "does not list this address)"
        )


def experiment_name(registered_model: str, folder: str) -> str:
    return f"{registered_model}/{folder}"


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id, creating it (or restoring it if deleted) as needed."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name)
        except MlflowException:  # created concurrently by another job
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def trained_dataset_versions(client: MlflowClient, experiment_id: str) -> list[str]:
    """Dataset versions of the experiment's successful runs, oldest first."""
    seen: set[str] = set()
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
            page_token=token,
        )
        for run in page:
            version = run.data.tags.get(TAG_DATASET)
            if version:
                seen.add(version)
        token = page.token
        if not token:
            break
    return sorted(seen, key=_version_key)


def last_dataset_version(client: MlflowClient, experiment_id: str) -> str | None:
    versions = trained_dataset_versions(client, experiment_id)
    return versions[-1] if versions else None


def _version_key(version: str) -> int:
    try:
        return version_number(version)
    except ValueError:
        return -1  # a hand-made tag: older than any real version


def git_commit(cwd: Path | None = None) -> str:
    """GIT_COMMIT if set (images bake it in), else `git rev-parse HEAD`, else "unknown"."""
    commit = os.environ.get("GIT_COMMIT", "").strip()
    if commit:
        return commit
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def client_for(tracking_uri: str) -> MlflowClient:
    """A client whose tracking and registry calls both go to `tracking_uri`."""
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def champion_version(client: MlflowClient, registered_model: str) -> ModelVersion | None:
    """The version holding the champion alias, or None (no model or no alias yet)."""
    try:
        return client.get_model_version_by_alias(registered_model, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in NOT_FOUND_CODES:
            return None
        raise


@dataclass(frozen=True)
class Champion:
    """What the alias points at: enough to decide whether to load, and to describe."""

    name: str
    version: str
    run_id: str
    tags: dict[str, str]


def find_champion(tracking_uri: str, registered_model: str) -> Champion | None:
    """The version the alias points at, or None when there is none. Raises if MLflow fails."""
    mv = champion_version(client_for(tracking_uri), registered_model)
    if mv is None:
        return None
    return Champion(
        name=registered_model, version=str(mv.version), run_id=mv.run_id or "", tags=mv.tags
    )


def model_versions(client: MlflowClient, registered_model: str) -> list[ModelVersion]:
    """Every version of the registered model, newest first."""
    found: list[ModelVersion] = []
    token = None
    while True:
        page = client.search_model_versions(
            f"name = '{registered_model}'", max_results=1000, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            break
    return sorted(found, key=lambda mv: int(mv.version), reverse=True)


def latest_by_folder(
    client: MlflowClient, registered_model: str, folders: set[str] | None = None
) -> dict[str, ModelVersion]:
    """The newest version of each model folder (only `folders` if given).

    A folder whose newest version was rolled back has none until it trains again.
    """
    latest: dict[str, ModelVersion] = {}
    seen: set[str] = set()
    for mv in model_versions(client, registered_model):
        folder = mv.tags.get(TAG_FOLDER)
        if not folder or folder in seen or (folders is not None and folder not in folders):
            continue
        seen.add(folder)
        if mv.tags.get(TAG_ROLLED_BACK) != "true":
            latest[folder] = mv
    return latest


def version_uri(registered_model: str, version: str | int) -> str:
    return f"models:/{registered_model}/{version}"


def download_version(
    client: MlflowClient, registered_model: str, version: str | int, dst: str | Path
) -> str:
    """Download a registered version's model directory into `dst`; returns its local path.

    By version number, never by alias: the alias may move during the download, and a
    model must match the version it is reported as. Resolved through this client: a
    models:/ URI would go to the process-wide registry.
    """
    import mlflow.artifacts

    source = client.get_model_version_download_uri(registered_model, str(version))
    return mlflow.artifacts.download_artifacts(
        artifact_uri=source, dst_path=str(dst), tracking_uri=client.tracking_uri
    )


def load_version(client: MlflowClient, registered_model: str, version: str | int) -> Any:
    """The fitted estimator of a registered version, from the client's server."""
    import mlflow.sklearn

    with tempfile.TemporaryDirectory(prefix="houseprice-model-") as tmp:
        return mlflow.sklearn.load_model(download_version(client, registered_model, version, tmp))


# -- recorded evaluations: a version's predictions on an evaluation set, kept with its run


def evaluated_on(dataset_version: str, rows_key: str) -> str:
    return f"{dataset_version}:{rows_key}"


def record_predictions(
    client: MlflowClient, run_id: str, dataset_version: str, predictions: np.ndarray
) -> None:
    """Keep `predictions` (one per evaluation row, in row order) with the run."""
    with tempfile.TemporaryDirectory(prefix="houseprice-eval-") as tmp:
        path = Path(tmp) / f"{dataset_version}.npy"
        np.save(path, np.asarray(predictions, dtype=np.float64), allow_pickle=False)
        client.log_artifact(run_id, str(path), EVALUATION_DIR)


def recorded_predictions(
    client: MlflowClient, mv: ModelVersion, dataset_version: str, rows_key: str, rows: int
) -> np.ndarray | None:
    """The version's recorded predictions on exactly these rows, or None if not recorded."""
    if mv.tags.get(TAG_EVALUATED) != evaluated_on(dataset_version, rows_key) or not mv.run_id:
        return None
    import mlflow.artifacts

    with tempfile.TemporaryDirectory(prefix="houseprice-eval-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id,
            artifact_path=f"{EVALUATION_DIR}/{dataset_version}.npy",
            dst_path=tmp,
            tracking_uri=client.tracking_uri,
        )
        predictions = np.load(io.BytesIO(Path(local).read_bytes()), allow_pickle=False)
    return predictions if predictions.shape == (rows,) else None
