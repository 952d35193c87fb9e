"""What the registry says about the models, read-only: the champion, promotions, lineage.

Sources (written by training and promotion, see houseprice.registry):
- the version holding the alias `champion`, its tags (model_folder, dataset_version,
  training metrics, eval_* metrics and the `promotion` verdict of the last decision);
- one run per promotion decision in "<registered model>/promotions", tagged with its
  outcome and holding decision.json (every version scored on the same rows).
A decision.json never changes once logged, so each is downloaded once per process.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.entities.model_registry import ModelVersion

from houseprice import registry

MAX_DECISIONS = 200  # promotion runs read, newest first
METRIC_NAMES = ("mdape", "mae", "rmse", "r2")
_decisions: dict[str, dict[str, Any]] = {}
_decisions_lock = threading.Lock()


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _metrics(tags: dict[str, str], prefix: str = "") -> dict[str, float]:
    found = {name: _float(tags.get(prefix + name)) for name in METRIC_NAMES}
    return {name: value for name, value in found.items() if value is not None}


def describe_version(mv: ModelVersion) -> dict[str, Any]:
    """One registered version as the pages show it."""
    tags = mv.tags or {}
    return {
        "version": str(mv.version),
        "model_folder": tags.get(registry.TAG_FOLDER, ""),
        "dataset_version": tags.get(registry.TAG_DATASET, ""),
        "run_id": mv.run_id or "",
        "registered_at": (mv.creation_timestamp or 0) / 1000,
        "description": mv.description or "",
        "training_metrics": _metrics(tags),
        "train_rows": _int(tags.get("train_rows")),
        "valid_rows": _int(tags.get("valid_rows")),
        "evaluation": {
            "dataset_version": tags.get("eval_dataset_version", ""),
            "metrics": _metrics(tags, "eval_"),
        },
        "promotion": tags.get("promotion", ""),
        "git_commit": tags.get(registry.TAG_COMMIT, ""),
    }


def _int(text: str | None) -> int | None:
    value = _float(text)
    return int(value) if value is not None else None


def champion(client: MlflowClient, name: str) -> dict[str, Any] | None:
    mv = registry.champion_version(client, name)
    return describe_version(mv) if mv is not None else None


def version(client: MlflowClient, name: str, number: str) -> dict[str, Any] | None:
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version(name, number)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    return describe_version(mv)


def promotions(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """Every recorded promotion decision, oldest first, with each version's scores."""
    experiment = client.get_experiment_by_name(registry.experiment_name(name, registry.PROMOTIONS))
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=MAX_DECISIONS,
        order_by=["attributes.start_time DESC"],
    )
    history = []
    for run in reversed(list(runs)):
        tags = run.data.tags
        decision = _decision(client, run.info.run_id)
        history.append(
            {
                "run_id": run.info.run_id,
                "decided_at": (run.info.start_time or 0) / 1000,
                "dataset_version": tags.get(registry.TAG_DATASET, ""),
                "changed": tags.get("changed") == "true",
                "champion_version": tags.get("champion_version", ""),
                "champion_folder": tags.get("champion_folder", ""),
                "previous_version": tags.get("previous_version", ""),
                "summary": tags.get("summary", ""),
                "evaluation_rows": _evaluation_rows(decision),
                "scores": [
                    _score(c) for c in decision.get("candidates") or [] if isinstance(c, dict)
                ],
            }
        )
    return history


def _evaluation_rows(decision: dict[str, Any]) -> int | None:
    evaluation = decision.get("evaluation")
    rows = evaluation.get("recent_rows") if isinstance(evaluation, dict) else None
    return rows if isinstance(rows, int) else None


def _score(score: dict[str, Any]) -> dict[str, Any]:
    """One candidate of a decision (promotion.promotion.Candidate.record): its MdAPE on the
    recent rows, the rows every candidate of that decision was scored on."""
    metrics = score.get("recent") if isinstance(score.get("recent"), dict) else {}
    mdape = metrics.get("mdape")
    return {
        "version": str(score.get("version", "")),
        "model_folder": str(score.get("model_folder", "")),
        "dataset_version": str(score.get("dataset_version", "")),
        "mdape": float(mdape) if isinstance(mdape, int | float) else None,
        "error": str(score.get("error") or ""),
    }


def _decision(client: MlflowClient, run_id: str) -> dict[str, Any]:
    """decision.json of one promotion run ({} when it cannot be read)."""
    with _decisions_lock:
        if run_id in _decisions:
            return _decisions[run_id]
    try:
        with tempfile.TemporaryDirectory(prefix="mlapp-decision-") as tmp:
            path = client.download_artifacts(run_id, "decision.json", tmp)
            decision = json.loads(Path(path).read_text())
    except Exception:  # an unfinished or foreign run: shown without scores, asked again later
        return {}
    if not isinstance(decision, dict):
        decision = {}
    with _decisions_lock:
        _decisions[run_id] = decision
    return decision


def promoted(history: list[dict[str, Any]], champion_version: str) -> dict[str, Any] | None:
    """The decision that made `champion_version` the champion (the last that moved to it)."""
    moves = [h for h in history if h["champion_version"] == champion_version and h["changed"]]
    return moves[-1] if moves else None
