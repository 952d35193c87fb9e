"""Promotion: the champion is replaced only on evidence, judged on the SAME rows.

Every folder's newest version (the challengers) and the champion are scored on the
trusted evaluation rows (promotion.rows): the recent, out-of-time set first, the
cumulative validation set as a guard. A challenger replaces the champion only when a
paired bootstrap test (promotion.evidence) shows it better on the recent rows beyond
noise and by at least the margin, and not worse beyond noise on the guard rows. With
no champion, the best challenger on the recent rows becomes the first one.

Failures never decide: if the champion cannot be scored (MLflow down, a download
failed) nothing changes and the next run retries. The only way a champion loses
without a fair comparison is its own predictions being refused (NaN or infinity).

Writes, in this order, so that a failure part-way is retried, never skipped: the
range calibration of the winner (houseprice.calibration), the alias, the verdict tags
on every version judged, a run holding decision.json in "<registered model>/promotions",
and last the fingerprint of the inputs (a later run over the same inputs is skipped).
Each version's predictions on an evaluation set are recorded with its run, so a version
is downloaded and scored at most once per dataset version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from houseprice import registry
from houseprice.calibration import Calibration
from houseprice.evaluation import (
    NonFinitePredictions,
    abs_pct_errors,
    check_finite,
    predict,
    ranking_key,
    score,
    target,
)
from promotion.config import PromotionConfig
from promotion.evidence import PairedTest, paired_mdape_test
from promotion.rows import EvaluationSet

log = logging.getLogger(__name__)

# What a decision can be. Only FIRST, REPLACED and ROLLBACK move the alias.
FIRST, REPLACED, KEPT = "first", "replaced", "kept"
DEFERRED, SKIPPED, NOTHING, ROLLBACK = "deferred", "skipped", "nothing", "rollback"
HISTORY_LENGTH = 50


class AliasKeptMoving(RuntimeError):
    """Another writer moved the alias every time this promoter was about to."""


@dataclass
class Candidate:
    version: str
    model_folder: str
    dataset_version: str
    recent: dict[str, float] = field(default_factory=dict)  # metrics on the recent rows
    guard: dict[str, float] = field(default_factory=dict)  # metrics on the cumulative rows
    error: str = ""
    refused: bool = False  # its predictions were refused (NaN/inf): it loses on the merits
    reused: bool = False  # its recorded predictions were used, not a new download
    predictions: np.ndarray | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"version {self.version} ({self.model_folder}, data {self.dataset_version})"

    @property
    def scored(self) -> bool:
        return not self.error and self.predictions is not None

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("predictions")
        return out


@dataclass
class Decision:
    """What promotion decided and why. `champion` is the version holding the alias after."""

    registered_model: str
    dataset_version: str
    outcome: str
    summary: str
    previous: Candidate | None = None
    champion: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)
    rule: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, str] = field(default_factory=dict)
    decided_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def changed(self) -> bool:
        return self.outcome in (FIRST, REPLACED, ROLLBACK)

    @property
    def champion_version(self) -> str | None:
        return self.champion.version if self.champion else None

    @property
    def champion_metrics(self) -> dict[str, float]:
        """The champion's metrics on the recent rows (what a metrics push reports)."""
        return dict(self.champion.recent) if self.champion else {}

    def record(self) -> dict[str, Any]:
        return {
            "registered_model": self.registered_model,
            "dataset_version": self.dataset_version,
            "outcome": self.outcome,
            "changed": self.changed,
            "summary": self.summary,
            "previous": self.previous.record() if self.previous else None,
            "champion": self.champion.record() if self.champion else None,
            "candidates": [c.record() for c in self.candidates],
            "comparisons": self.comparisons,
            "evaluation": self.evaluation,
            "rule": self.rule,
            "calibration": self.calibration,
            "decided_at": self.decided_at,
        }


# -- scoring


def score_version(
    client: MlflowClient, registered_model: str, mv: ModelVersion, evaluation: EvaluationSet
) -> Candidate:
    """Predictions of one version on the evaluation rows: recorded ones if any, else scored."""
    found = Candidate(
        version=str(mv.version),
        model_folder=mv.tags.get(registry.TAG_FOLDER, "unknown"),
        dataset_version=mv.tags.get(registry.TAG_DATASET, "unknown"),
    )
    try:
        predictions = registry.recorded_predictions(
            client, mv, evaluation.dataset_version, evaluation.rows_key, len(evaluation.valid)
        )
        found.reused = predictions is not None
        if predictions is None:
            model = registry.load_version(client, registered_model, mv.version)
            predictions = predict(model, evaluation.valid)
            _remember(client, registered_model, mv, evaluation, predictions)
        check_finite(predictions)
        y = target(evaluation.valid)
        found.recent = score(y[evaluation.recent], predictions[evaluation.recent])
        found.guard = score(y[evaluation.guard], predictions[evaluation.guard])
        found.predictions = predictions
    except NonFinitePredictions as exc:
        found.error, found.refused = _describe(exc), True
    except Exception as exc:  # MLflow down, download failed, unloadable: not on the merits
        found.error = _describe(exc)
    return found


def _remember(
    client: MlflowClient,
    registered_model: str,
    mv: ModelVersion,
    evaluation: EvaluationSet,
    predictions: np.ndarray,
) -> None:
    """Record the predictions with the version's run; a failure only costs a re-score."""
    if not mv.run_id:
        return
    try:
        registry.record_predictions(client, mv.run_id, evaluation.dataset_version, predictions)
        client.set_model_version_tag(
            registered_model,
            mv.version,
            registry.TAG_EVALUATED,
            registry.evaluated_on(evaluation.dataset_version, evaluation.rows_key),
        )
    except Exception as exc:
        log.warning("could not record the evaluation of version %s: %s", mv.version, exc)


# -- the rule (pure: scored candidates in, decision out)


def compare(
    champion: Candidate, challenger: Candidate, evaluation: EvaluationSet, config: PromotionConfig
) -> tuple[PairedTest, PairedTest]:
    """Paired tests of the challenger against the champion: recent rows, then guard rows."""
    assert champion.predictions is not None and challenger.predictions is not None
    y = target(evaluation.valid)
    champion_errors = abs_pct_errors(y, champion.predictions)
    challenger_errors = abs_pct_errors(y, challenger.predictions)
    tests = []
    for mask in (evaluation.recent, evaluation.guard):
        tests.append(
            paired_mdape_test(
                champion_errors[mask],
                challenger_errors[mask],
                confidence=config.confidence,
                margin=config.min_margin,
                samples=config.bootstrap_samples,
                seed=config.seed,
            )
        )
    return tests[0], tests[1]


def decide(
    registered_model: str,
    previous: Candidate | None,
    challengers: list[Candidate],
    evaluation: EvaluationSet,
    config: PromotionConfig,
) -> Decision:
    base = {
        "registered_model": registered_model,
        "dataset_version": evaluation.dataset_version,
        "previous": previous,
        "candidates": [c for c in [previous, *challengers] if c is not None],
        "evaluation": evaluation.describe(),
        "rule": config.record(),
    }
    where = _where(evaluation)
    if previous is not None and not previous.scored and not previous.refused:
        return Decision(
            **base,
            outcome=DEFERRED,
            champion=previous,
            summary=f"champion {previous.label} could not be scored ({previous.error[:200]}): "
            "nothing changes, the next run retries",
        )
    scored = sorted(
        (c for c in challengers if c.scored),
        key=lambda c: (*ranking_key(c.recent), int(c.version)),
    )
    if previous is None or previous.refused:
        if not scored:
            return Decision(
                **base,
                outcome=NOTHING if previous is None else KEPT,
                champion=previous,
                summary=f"no model could be scored {where}: alias unchanged",
            )
        winner = scored[0]
        if previous is None:
            text = f"{winner.label} becomes the first champion with MdAPE "
        else:
            text = f"{winner.label} replaces {previous.label}, whose predictions were refused "
            text += f"({previous.error[:120]}), with MdAPE "
        return Decision(
            **base,
            outcome=FIRST if previous is None else REPLACED,
            champion=winner,
            summary=text + f"{winner.recent['mdape']:.4f} {where}",
        )

    comparisons: list[dict[str, Any]] = []
    winners: list[Candidate] = []
    for challenger in scored:
        recent, guard = compare(previous, challenger, evaluation, config)
        if not recent.better:
            verdict = "not better beyond noise and margin on the recent rows"
        elif guard.worse:
            verdict = "better on the recent rows but worse beyond noise on the cumulative guard"
        else:
            verdict = "better beyond noise"
            winners.append(challenger)
        comparisons.append(
            {
                "challenger": challenger.version,
                "model_folder": challenger.model_folder,
                "verdict": verdict,
                "recent": recent.record(),
                "guard": guard.record(),
                "text": f"{challenger.label}: {verdict}; recent {recent.describe()}; "
                f"guard {guard.describe()}",
            }
        )
    base["comparisons"] = comparisons
    rule = f"(confidence {config.confidence:.0%}, margin {config.min_margin:.4f})"
    if winners:
        winner = winners[0]  # the lowest recent MdAPE among those that showed evidence
        text = next(c["text"] for c in comparisons if c["challenger"] == winner.version)
        return Decision(
            **base,
            outcome=REPLACED,
            champion=winner,
            summary=f"{winner.label} replaces champion {previous.label} {rule}: {text}",
        )
    if not comparisons:
        return Decision(
            **base,
            outcome=KEPT,
            champion=previous,
            summary=f"{previous.label} stays champion with MdAPE "
            f"{previous.recent['mdape']:.4f} {where}: no challenger could be scored",
        )
    best = comparisons[0]["text"]
    return Decision(
        **base,
        outcome=KEPT,
        champion=previous,
        summary=f"{previous.label} stays champion {rule}: best challenger {best}",
    )


def _where(evaluation: EvaluationSet) -> str:
    return (
        f"on {int(evaluation.recent.sum())} recent rows "
        f"({'+'.join(evaluation.recent_versions)}) of dataset {evaluation.dataset_version}"
    )


# -- the promotion run


def promote(
    client: MlflowClient,
    registered_model: str,
    evaluation: EvaluationSet,
    config: PromotionConfig,
    *,
    renew: Any = None,
    attempts: int = 3,
) -> Decision:
    """Judge the champion and every folder's newest version; apply the decision.

    `renew` (the lease's renew) is called between the long steps. Raises if the
    registry cannot be read at all (nothing has changed then either).
    """
    for _ in range(attempts):
        champion_mv = registry.champion_version(client, registered_model)
        latest = registry.latest_by_folder(client, registered_model)
        challengers_mv = [
            mv for mv in latest.values() if champion_mv is None or mv.version != champion_mv.version
        ]
        if champion_mv is None and not challengers_mv:
            return Decision(
                registered_model,
                evaluation.dataset_version,
                NOTHING,
                f"no version of {registered_model} registered yet: nothing to promote",
            )
        inputs = fingerprint(
            evaluation, _version(champion_mv), [str(mv.version) for mv in challengers_mv], config
        )
        if _last_inputs(client, registered_model) == inputs:
            return _skipped(registered_model, evaluation, champion_mv, inputs)

        previous = (
            score_version(client, registered_model, champion_mv, evaluation)
            if champion_mv
            else None
        )
        if previous is not None and not previous.scored and not previous.refused:
            decision = decide(registered_model, previous, [], evaluation, config)
            log.warning("promotion: %s", decision.summary)
            return decision  # nothing written: the next run retries
        challengers = []
        for mv in sorted(challengers_mv, key=lambda m: int(m.version)):
            if renew is not None:
                renew()
            challengers.append(score_version(client, registered_model, mv, evaluation))
        decision = decide(registered_model, previous, challengers, evaluation, config)

        # Another promoter (or a rollback) may have moved the alias while we scored.
        current = registry.champion_version(client, registered_model)
        if _version(current) != _version(champion_mv):
            log.info("champion moved while scoring (now %s); deciding again", _version(current))
            continue
        apply(client, decision, evaluation, config)
        return decision
    raise AliasKeptMoving("the champion alias kept moving while promoting; try again later")


def fingerprint(
    evaluation: EvaluationSet, champion: str | None, challengers: list[str], config: PromotionConfig
) -> str:
    """What a decision depends on: rows, champion, challengers and the rule's settings."""
    body = {
        "data": [evaluation.dataset_version, evaluation.rows_key],
        "champion": champion,
        "challengers": sorted(challengers, key=int),
        "rule": config.record(),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]


def _last_inputs(client: MlflowClient, registered_model: str) -> str | None:
    try:
        return client.get_registered_model(registered_model).tags.get(registry.TAG_PROMOTION_INPUTS)
    except MlflowException as exc:
        if exc.error_code in registry.NOT_FOUND_CODES:
            return None
        raise


def _skipped(
    registered_model: str, evaluation: EvaluationSet, champion: ModelVersion | None, inputs: str
) -> Decision:
    held = None
    if champion is not None:
        tags = champion.tags
        held = Candidate(
            version=str(champion.version),
            model_folder=tags.get(registry.TAG_FOLDER, "unknown"),
            dataset_version=tags.get(registry.TAG_DATASET, "unknown"),
            recent=_tag_metrics(tags, "eval_"),
            guard=_tag_metrics(tags, "eval_guard_"),
            reused=True,
        )
    summary = (
        f"inputs unchanged since the last decision (dataset {evaluation.dataset_version}, "
        f"champion {_version(champion)}, fingerprint {inputs}): skipped"
    )
    log.info("promotion: %s", summary)
    return Decision(
        registered_model,
        evaluation.dataset_version,
        SKIPPED,
        summary,
        previous=held,
        champion=held,
        evaluation=evaluation.describe(),
    )


def _tag_metrics(tags: dict[str, str], prefix: str) -> dict[str, float]:
    out = {}
    for name in ("mdape", "mae", "rmse", "r2"):
        try:
            out[name] = float(tags[f"{prefix}{name}"])
        except (KeyError, ValueError):
            continue
    return out


# -- applying a decision


def apply(
    client: MlflowClient, decision: Decision, evaluation: EvaluationSet, config: PromotionConfig
) -> None:
    """Calibration, alias, verdict tags, decision record, inputs fingerprint: in that order."""
    name = decision.registered_model
    winner = decision.champion
    for c in decision.candidates:
        if c.scored:
            log.info(
                "scored %s%s: recent MdAPE %.4f, cumulative MdAPE %.4f",
                c.label,
                " (recorded predictions)" if c.reused else "",
                c.recent["mdape"],
                c.guard["mdape"],
            )
        else:
            log.error("could not score %s: %s", c.label, c.error)
    if winner is not None and winner.scored:
        try:
            calibration = calibrate(winner, evaluation, config.interval_level)
        except ValueError as exc:  # the decision stands; the version has no range yet
            log.error("could not calibrate %s: %s", winner.label, exc)
        else:
            for key, value in calibration.tags().items():
                client.set_model_version_tag(name, winner.version, key, value)
            decision.calibration = calibration.tags()
    if decision.changed and winner is not None:
        client.set_registered_model_alias(name, registry.CHAMPION, winner.version)
        _push_history(client, name, decision.previous, winner.version)
        client.update_model_version(
            name, winner.version, description=f"Champion: {decision.summary}"[:5000]
        )
    for c in decision.candidates:
        _tag_verdict(client, decision, c)
    record(client, decision)
    # The state this decision leaves: the same champion and challengers next time are
    # skipped. Versions that could not be scored are left out, so they are tried again.
    champion = decision.champion.version if decision.champion else None
    judged = [c.version for c in decision.candidates if c.scored and c.version != champion]
    inputs = fingerprint(evaluation, champion, judged, config)
    client.set_registered_model_tag(name, registry.TAG_PROMOTION_INPUTS, inputs)
    log.info("promotion: %s", decision.summary)


def calibrate(winner: Candidate, evaluation: EvaluationSet, level: float) -> Calibration:
    """Range calibration from the winner's errors on the trusted cumulative rows."""
    assert winner.predictions is not None
    y = target(evaluation.valid)
    mask = evaluation.guard
    return Calibration.fit(y[mask], winner.predictions[mask], level)


def _tag_verdict(client: MlflowClient, decision: Decision, c: Candidate) -> None:
    name = decision.registered_model
    if not c.scored:
        client.set_model_version_tag(
            name, c.version, registry.TAG_DECISION, f"not scored: {c.error}"
        )
        return
    tags = {f"eval_{k}": f"{v:.6g}" for k, v in c.recent.items()}
    tags.update({f"eval_guard_{k}": f"{v:.6g}" for k, v in c.guard.items()})
    tags[registry.TAG_EVAL_DATASET] = decision.dataset_version
    is_champion = decision.champion is not None and c.version == decision.champion.version
    tags[registry.TAG_DECISION] = (
        f"{'champion' if is_champion else 'not promoted'}: {decision.summary}"
    )[:5000]
    for key, value in tags.items():
        client.set_model_version_tag(name, c.version, key, value)


def _push_history(
    client: MlflowClient, name: str, previous: Candidate | None, version: str
) -> None:
    history = champion_history(client, name)
    if not history and previous is not None:
        history = [previous.version]  # a champion from before the history was kept
    if history[-1:] != [version]:
        history.append(version)
    client.set_registered_model_tag(
        name, registry.TAG_CHAMPION_HISTORY, ",".join(history[-HISTORY_LENGTH:])
    )


def champion_history(client: MlflowClient, name: str) -> list[str]:
    """Versions that held the alias, oldest first."""
    text = client.get_registered_model(name).tags.get(registry.TAG_CHAMPION_HISTORY, "")
    return [v for v in text.split(",") if v]


def record(client: MlflowClient, decision: Decision) -> str:
    """A run in "<registered model>/promotions" holding decision.json; returns its id."""
    experiment_id = registry.ensure_experiment(
        client, registry.experiment_name(decision.registered_model, registry.PROMOTIONS)
    )
    winner = decision.champion
    tags = {
        registry.TAG_DATASET: decision.dataset_version,
        "outcome": decision.outcome,
        "changed": str(decision.changed).lower(),
        "champion_version": winner.version if winner else "",
        "champion_folder": winner.model_folder if winner else "",
        "previous_version": decision.previous.version if decision.previous else "",
        "summary": decision.summary[:5000],
        "mlflow.note.content": decision.summary[:5000],
    }
    run = client.create_run(
        experiment_id, run_name=f"promotion-{decision.dataset_version}", tags=tags
    )
    run_id = run.info.run_id
    client.log_dict(run_id, decision.record(), "decision.json")
    if winner is not None and winner.recent:
        for key, value in winner.recent.items():
            client.log_metric(run_id, f"champion_{key}", value)
    if decision.evaluation:
        client.log_metric(run_id, "evaluation_rows", decision.evaluation.get("recent_rows", 0))
    client.set_terminated(run_id)
    return run_id


# -- rollback


def rollback(client: MlflowClient, registered_model: str, dataset_version: str = "") -> Decision:
    """Move the alias back to the version that held it before the current champion."""
    current = registry.champion_version(client, registered_model)
    if current is None:
        raise LookupError(f"{registered_model} has no champion to roll back")
    history = champion_history(client, registered_model)
    while history and history[-1] == str(current.version):
        history.pop()
    if not history:
        raise LookupError(
            f"no earlier champion of {registered_model} is recorded before version "
            f"{current.version}: nothing to roll back to"
        )
    target_version = history[-1]
    back = client.get_model_version(registered_model, target_version)
    client.set_registered_model_alias(registered_model, registry.CHAMPION, target_version)
    client.set_registered_model_tag(
        registered_model, registry.TAG_CHAMPION_HISTORY, ",".join(history)
    )
    client.set_model_version_tag(
        registered_model, current.version, registry.TAG_ROLLED_BACK, "true"
    )
    previous = _candidate_from(current)
    champion = _candidate_from(back)
    summary = (
        f"{champion.label} is champion again, replacing {previous.label} "
        "(rolled back: it is not a candidate again until its folder trains a new version)"
    )
    client.set_model_version_tag(registered_model, current.version, registry.TAG_DECISION, summary)
    decision = Decision(
        registered_model,
        dataset_version or back.tags.get(registry.TAG_EVAL_DATASET, ""),
        ROLLBACK,
        summary,
        previous=previous,
        champion=champion,
        candidates=[previous, champion],
    )
    record(client, decision)
    # The registry changed: the next promotion must judge again, not skip.
    client.set_registered_model_tag(registered_model, registry.TAG_PROMOTION_INPUTS, "")
    log.info("promotion: %s", summary)
    return decision


def _candidate_from(mv: ModelVersion) -> Candidate:
    return Candidate(
        version=str(mv.version),
        model_folder=mv.tags.get(registry.TAG_FOLDER, "unknown"),
        dataset_version=mv.tags.get(registry.TAG_DATASET, "unknown"),
        recent=_tag_metrics(mv.tags, "eval_"),
        guard=_tag_metrics(mv.tags, "eval_guard_"),
    )


def _version(mv: ModelVersion | None) -> str | None:
    return str(mv.version) if mv is not None else None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {(text[0] if text else '')[:300]}"
