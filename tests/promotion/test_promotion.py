"""The promotion rule on known errors, then promotions against a real MLflow registry."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from mlflow.exceptions import MlflowException

from houseprice import registry
from houseprice.calibration import Calibration
from houseprice.storage import open_bucket
from promotion import promotion as rule
from promotion import rows
from promotion.config import PromotionConfig
from promotion.promotion import Candidate, decide, promote, rollback
from tests.support.datasets import sample_rows, write_version
from tests.support.model_folders import LOG_RIDGE, MEDIAN, write_model
from training import discovery
from training.train import train

CONFIG = PromotionConfig(bootstrap_samples=300)


# -- the rule on synthetic predictions


def synthetic(rows_count: int = 300) -> rows.EvaluationSet:
    frame = sample_rows().iloc[:rows_count].reset_index(drop=True)
    return rows.build(["v1", "v2"], [frame.iloc[:150], frame.iloc[150:]], 1000, 0, 100)


def candidate(version: str, predictions: np.ndarray, evaluation: rows.EvaluationSet) -> Candidate:
    y = evaluation.valid["price"].to_numpy()
    found = Candidate(version, f"folder{version}", "v2", predictions=predictions)
    found.recent = rule.score(y[evaluation.recent], predictions[evaluation.recent])
    found.guard = rule.score(y[evaluation.guard], predictions[evaluation.guard])
    return found


def noisy(evaluation: rows.EvaluationSet, spread: float, seed: int) -> np.ndarray:
    y = evaluation.valid["price"].to_numpy()
    return y * np.exp(np.random.default_rng(seed).normal(0.0, spread, len(y)))


def test_with_no_champion_the_best_candidate_is_promoted():
    evaluation = synthetic()
    weak = candidate("2", noisy(evaluation, 0.3, 1), evaluation)
    strong = candidate("3", noisy(evaluation, 0.1, 2), evaluation)
    decision = decide("hp", None, [weak, strong], evaluation, CONFIG)
    assert decision.outcome == "first" and decision.champion is strong
    assert "becomes the first champion" in decision.summary
    assert "on 150 recent rows (v2) of dataset v2" in decision.summary


def test_a_clearly_better_challenger_replaces_the_champion():
    evaluation = synthetic()
    champion = candidate("1", noisy(evaluation, 0.3, 1), evaluation)
    challenger = candidate("2", noisy(evaluation, 0.05, 2), evaluation)
    decision = decide("hp", champion, [challenger], evaluation, CONFIG)
    assert decision.outcome == "replaced" and decision.changed
    assert decision.champion is challenger
    assert decision.comparisons[0]["recent"]["better"]
    assert decision.comparisons[0]["guard"]["rows"] == 300


def test_a_challenger_within_noise_is_held_back_with_the_numbers():
    evaluation = synthetic()
    base = noisy(evaluation, 0.2, 1)
    champion = candidate("1", base, evaluation)
    # Same errors, 1% smaller on every row: a real but tiny gain, below the margin.
    y = evaluation.valid["price"].to_numpy()
    challenger = candidate("2", y + (base - y) * 0.99, evaluation)
    decision = decide("hp", champion, [challenger], evaluation, CONFIG)
    assert decision.outcome == "kept" and not decision.changed
    assert decision.champion is champion
    assert "not better beyond noise and margin" in decision.summary
    assert "95% interval" in decision.summary and "margin 0.0020" in decision.summary


def test_the_guard_stops_a_challenger_that_loses_on_the_older_rows():
    frame = sample_rows().iloc[:300].reset_index(drop=True)
    evaluation = rows.build(["v1", "v2"], [frame.iloc[:200], frame.iloc[200:]], 1000, 0, 100)
    y = evaluation.valid["price"].to_numpy()
    champion = candidate("1", noisy(evaluation, 0.2, 1), evaluation)
    # Excellent on the recent rows, terrible on the older ones.
    odd = np.where(evaluation.recent, y * 1.01, y * 2.0)
    decision = decide("hp", champion, [candidate("2", odd, evaluation)], evaluation, CONFIG)
    assert decision.outcome == "kept"
    assert "worse beyond noise on the cumulative guard" in decision.summary


def test_an_unscorable_champion_defers_and_a_refused_one_loses():
    evaluation = synthetic()
    challenger = candidate("2", noisy(evaluation, 0.1, 2), evaluation)
    down = Candidate("1", "f", "v1", error="ConnectionError: refused")
    deferred = decide("hp", down, [challenger], evaluation, CONFIG)
    assert deferred.outcome == "deferred" and not deferred.changed
    assert deferred.champion is down and "the next run retries" in deferred.summary
    broken = Candidate("1", "f", "v1", error="NonFinitePredictions: inf", refused=True)
    replaced = decide("hp", broken, [challenger], evaluation, CONFIG)
    assert replaced.outcome == "replaced" and replaced.champion is challenger
    assert "whose predictions were refused" in replaced.summary


# -- against a real registry


def train_folder(env, data, name: str, source: str) -> str:
    folder = discovery.ModelFolder(name, write_model(env.models_dir, name, source))
    result = train(
        discovery.load(folder), data, client=env.client(), registered_model=env.registered
    )
    return result.model_version


def setup(env, count: int = 600):
    write_version(env.bucket, 1, sample_rows().iloc[:count])
    evaluation = rows.load(open_bucket(env.bucket), "v1", CONFIG.recent_min_rows)
    data = rule_dataset(env)
    return evaluation, data


def rule_dataset(env):
    from houseprice.datasets import Dataset, load_cumulative

    train_rows, valid_rows = load_cumulative(open_bucket(env.bucket))
    return Dataset("v1", train_rows, valid_rows)


def promotion_runs(env) -> list:
    experiment = env.client().get_experiment_by_name(f"{env.registered}/promotions")
    if experiment is None:
        return []
    return env.client().search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time ASC"]
    )


def test_promotions_against_the_registry(training_env, monkeypatch, caplog):
    env = training_env()
    client = env.client()
    evaluation, data = setup(env)
    assert promote(client, env.registered, evaluation, CONFIG).outcome == "nothing"

    median = train_folder(env, data, "median", MEDIAN)
    first = promote(client, env.registered, evaluation, CONFIG)
    assert first.outcome == "first" and first.champion.version == median
    assert first.champion.reused  # training recorded its predictions: no download
    champion = registry.champion_version(client, env.registered)
    assert champion.version == median
    calibration = Calibration.from_tags(champion.tags)
    assert calibration is not None and calibration.rows == evaluation.guard.sum()
    assert calibration.level == 0.8 and calibration.log_low < 0 < calibration.log_high

    # Unchanged inputs: skipped, nothing downloaded or scored.
    loads = []
    original_load = registry.load_version
    monkeypatch.setattr(registry, "load_version", lambda *a: loads.append(a) or original_load(*a))
    caplog.clear()
    caplog.set_level(logging.INFO, logger="promotion")
    skipped = promote(client, env.registered, evaluation, CONFIG)
    assert skipped.outcome == "skipped" and skipped.champion_version == median
    assert "inputs unchanged since the last decision" in caplog.text

    # A much better model replaces it; a copy of the median model is held back.
    linear = train_folder(env, data, "log_ridge", LOG_RIDGE)
    train_folder(env, data, "median_copy", MEDIAN)
    second = promote(client, env.registered, evaluation, CONFIG)
    assert second.outcome == "replaced" and second.champion.version == linear
    assert second.champion_metrics["mdape"] < second.previous.recent["mdape"]
    assert loads == []  # every version was scored once, at training
    copy = next(c for c in second.comparisons if c["model_folder"] == "median_copy")
    assert copy["verdict"] == "not better beyond noise and margin on the recent rows"
    assert registry.champion_version(client, env.registered).version == linear

    # The decision record: outcome, numbers and corrections seen.
    runs = promotion_runs(env)
    assert [r.data.tags["outcome"] for r in runs] == ["first", "replaced"]
    path = client.download_artifacts(runs[-1].info.run_id, "decision.json")
    with open(path) as handle:
        record = json.load(handle)
    assert record["champion"]["version"] == linear
    assert record["evaluation"]["corrections"]["recent"] == {"kept": 0, "left_out": 0}
    assert record["calibration"]["interval_rows"] == str(int(evaluation.guard.sum()))

    # Rollback returns to the median model; the rolled-back version stops competing.
    back = rollback(client, env.registered)
    assert back.outcome == "rollback" and back.champion.version == median
    assert registry.champion_version(client, env.registered).version == median
    assert client.get_model_version(env.registered, linear).tags["rolled_back"] == "true"
    after = promote(client, env.registered, evaluation, CONFIG)
    assert after.champion_version == median
    assert linear not in {c.version for c in after.candidates}
    with pytest.raises(LookupError, match="nothing to roll back to"):
        rollback(client, env.registered)
    assert [r.data.tags["outcome"] for r in promotion_runs(env)][-2:] == ["rollback", "kept"]


def test_a_failed_alias_write_is_retried_not_skipped(training_env, monkeypatch):
    env = training_env()
    client = env.client()
    evaluation, data = setup(env, 400)
    median = train_folder(env, data, "median", MEDIAN)
    promote(client, env.registered, evaluation, CONFIG)
    better = train_folder(env, data, "log_ridge", LOG_RIDGE)

    def refuse(*args, **kwargs):
        raise MlflowException("injected: the registry refused the alias write")

    with monkeypatch.context() as patch:
        patch.setattr(client, "set_registered_model_alias", refuse)
        with pytest.raises(MlflowException, match="injected"):
            promote(client, env.registered, evaluation, CONFIG)
    assert registry.champion_version(client, env.registered).version == median
    tags = client.get_model_version(env.registered, better).tags
    assert "promotion" not in tags  # no verdict written before the alias moved
    again = promote(client, env.registered, evaluation, CONFIG)
    assert again.outcome == "replaced" and again.champion.version == better
    assert registry.champion_version(client, env.registered).version == better


def test_mlflow_stopping_mid_scoring_changes_nothing(training_env, tmp_path, monkeypatch):
    from tests.support import servers
    from tests.support.servers import free_port, mlflow_server

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    port = free_port()
    workdir = tmp_path / "own-mlflow"
    with mlflow_server(workdir, port=port) as uri:
        env = training_env(tracking_uri=uri)
        client = env.client()
        evaluation, data = setup(env, 400)
        median = train_folder(env, data, "median", MEDIAN)
        promote(client, env.registered, evaluation, CONFIG)
        train_folder(env, data, "log_ridge", LOG_RIDGE)
        original = registry.recorded_predictions

        def stop_then_read(*args, **kwargs):
            servers.stop(servers.MLFLOW_PROCESSES[uri])  # the real server goes away mid-scoring
            return original(*args, **kwargs)

        monkeypatch.setattr(registry, "recorded_predictions", stop_then_read)
        decision = promote(client, env.registered, evaluation, CONFIG)
        monkeypatch.setattr(registry, "recorded_predictions", original)
    assert decision.outcome == "deferred" and not decision.changed
    assert "could not be scored" in decision.summary

    with mlflow_server(workdir, port=port):  # back, same store
        assert registry.champion_version(client, env.registered).version == median
        assert len(promotion_runs(env)) == 1  # the deferred run wrote nothing
        retried = promote(client, env.registered, evaluation, CONFIG)
        assert retried.outcome == "replaced"
