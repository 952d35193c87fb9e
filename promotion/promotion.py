"""Fair promotion: challengers and the champion scored on the SAME evaluation set.

The evaluation set is the cumulative validation data of the newest dataset version
(rows no model trained on). The lowest MdAPE wins, MAE breaks ties, and on a full tie
the current champion keeps its place: a model never replaces one that is as good.
The winner holds the registry alias `champion` (aliases, not the deprecated stages).

Every decision is recorded three ways: a log line, a tag (and, for a new champion,
the description) on the model versions involved, and a run with decision.json in the
experiment "<registered model>/promotions".
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from houseprice import registry
from houseprice.datasets import Dataset
from houseprice.evaluation import evaluate, ranking_key

log = logging.getLogger(__name__)

TAG_DECISION = "promotion"


@dataclass
class Score:
    version: str
    model_folder: str
    dataset_version: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def label(self) -> str:
        return f"version {self.version} ({self.model_folder}, data {self.dataset_version})"


@dataclass
class Decision:
    registered_model: str
    dataset_version: str
    evaluation_rows: int
    previous: Score | None
    champion: Score | None
    scores: list[Score]
    changed: bool
    summary: str
    decided_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def record(self) -> dict[str, Any]:
        return asdict(self)


def score_version(
    client: MlflowClient, registered_model: str, mv: ModelVersion, data: Dataset
) -> Score:
    result = Score(
        version=str(mv.version),
        model_folder=mv.tags.get(registry.TAG_FOLDER, "unknown"),
        dataset_version=mv.tags.get(registry.TAG_DATASET, "unknown"),
    )
    try:
        model = registry.load_version(client, registered_model, mv.version)
        result.metrics = evaluate(model, data.valid)
    except Exception as exc:  # an unloadable version cannot be served either
        result.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    return result


def choose(previous: Score | None, challengers: list[Score]) -> Score | None:
    """The best scored model; the previous champion wins a full tie."""
    contenders = [s for s in [previous, *challengers] if s is not None and not s.error]
    if not contenders:
        return None
    incumbent = previous.version if previous else None
    return min(contenders, key=lambda s: (*ranking_key(s.metrics), s.version != incumbent))


def promote(
    client: MlflowClient,
    registered_model: str,
    data: Dataset,
    *,
    folders: set[str] | None = None,
    attempts: int = 3,
) -> Decision | None:
    """Score every folder's newest version and the champion; give the alias to the best.

    `folders` limits the challengers to those model folders (the champion always
    competes). Returns None when the registry holds no version at all.
    """
    mlflow.set_tracking_uri(client.tracking_uri)
    for _ in range(attempts):
        decision = _decide(client, registered_model, data, folders)
        if decision is None:
            return None
        # Another job may have moved the alias while we scored: decide again if so.
        current = registry.champion_version(client, registered_model)
        current_version = str(current.version) if current else None
        previous_version = decision.previous.version if decision.previous else None
        if current_version == previous_version:
            _apply(client, decision)
            return decision
        log.info("champion moved while scoring (now version %s); deciding again", current_version)
    raise RuntimeError("the champion alias kept moving while promoting; try again later")


def _decide(
    client: MlflowClient, registered_model: str, data: Dataset, folders: set[str] | None
) -> Decision | None:
    champion_mv = registry.champion_version(client, registered_model)
    latest = registry.latest_by_folder(client, registered_model, folders)
    challengers_mv = [
        mv for mv in latest.values() if not champion_mv or mv.version != champion_mv.version
    ]
    if champion_mv is None and not challengers_mv:
        return None
    previous = score_version(client, registered_model, champion_mv, data) if champion_mv else None
    challengers = [score_version(client, registered_model, mv, data) for mv in challengers_mv]
    challengers.sort(key=lambda s: int(s.version))
    winner = choose(previous, challengers)
    changed = winner is not None and (previous is None or winner.version != previous.version)
    return Decision(
        registered_model=registered_model,
        dataset_version=data.version,
        evaluation_rows=len(data.valid),
        previous=previous,
        champion=winner,
        scores=[s for s in [previous, *challengers] if s is not None],
        changed=changed,
        summary=_summary(data, previous, winner, challengers),
    )


def _summary(data: Dataset, previous: Score | None, winner: Score | None, others) -> str:
    where = f"on the {data.version} validation set ({len(data.valid)} rows)"
    if winner is None:
        return f"no model could be scored {where}: alias unchanged"
    mdape = winner.metrics["mdape"]
    if previous is None:
        return f"{winner.label} becomes the first champion with MdAPE {mdape:.4f} {where}"
    if previous.error:
        return (
            f"{winner.label} replaces {previous.label}, which could not be scored "
            f"({previous.error[:120]}), with MdAPE {mdape:.4f} {where}"
        )
    if winner.version != previous.version:
        margin = previous.metrics["mdape"] - mdape
        return (
            f"{winner.label} beat champion {previous.label}: MdAPE {mdape:.4f} vs "
            f"{previous.metrics['mdape']:.4f} (margin {margin:.4f}), MAE "
            f"{winner.metrics['mae']:.0f} vs {previous.metrics['mae']:.0f} {where}"
        )
    rivals = [s for s in others if not s.error]
    if not rivals:
        return f"{previous.label} stays champion with MdAPE {mdape:.4f} {where}: no challenger"
    best = min(rivals, key=lambda s: ranking_key(s.metrics))
    return (
        f"{previous.label} stays champion: MdAPE {mdape:.4f} vs best challenger "
        f"{best.label} {best.metrics['mdape']:.4f} (margin "
        f"{best.metrics['mdape'] - mdape:.4f}) {where}"
    )


def _apply(client: MlflowClient, decision: Decision) -> None:
    name = decision.registered_model
    winner = decision.champion
    for s in decision.scores:
        if s.error:
            log.error("could not score %s: %s", s.label, s.error)
        else:
            log.info(
                "scored %s: MdAPE %.4f MAE %.0f", s.label, s.metrics["mdape"], s.metrics["mae"]
            )
    for s in decision.scores:
        if s.error:
            client.set_model_version_tag(name, s.version, TAG_DECISION, f"not scored: {s.error}")
            continue
        for metric, value in s.metrics.items():
            client.set_model_version_tag(name, s.version, f"eval_{metric}", f"{value:.6g}")
        client.set_model_version_tag(
            name, s.version, "eval_dataset_version", decision.dataset_version
        )
        verdict = "champion" if winner and s.version == winner.version else "not promoted"
        client.set_model_version_tag(
            name, s.version, TAG_DECISION, f"{verdict}: {decision.summary}"
        )
    if decision.changed and winner is not None:
        client.set_registered_model_alias(name, registry.CHAMPION, winner.version)
        client.update_model_version(
            name, winner.version, description=f"Champion: {decision.summary}"
        )
    _record(client, decision)
    log.info("promotion: %s", decision.summary)


def _record(client: MlflowClient, decision: Decision) -> None:
    """A run in "<registered model>/promotions" holding decision.json."""
    experiment_id = registry.ensure_experiment(
        client, registry.experiment_name(decision.registered_model, registry.PROMOTIONS)
    )
    winner = decision.champion
    tags = {
        registry.TAG_DATASET: decision.dataset_version,
        "changed": str(decision.changed).lower(),
        "champion_version": winner.version if winner else "",
        "champion_folder": winner.model_folder if winner else "",
        "previous_version": decision.previous.version if decision.previous else "",
        "summary": decision.summary[:5000],
    }
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"promotion-{decision.dataset_version}",
        tags=tags,
        description=decision.summary,
    ):
        mlflow.log_dict(decision.record(), "decision.json")
        if winner is not None:
            mlflow.log_metrics({f"champion_{k}": v for k, v in winner.metrics.items()})
        mlflow.log_metric("evaluation_rows", decision.evaluation_rows)
