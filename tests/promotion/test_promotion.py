"""Champion choice: pure rules, then one promotion against a real MLflow registry."""

from __future__ import annotations

import pandas as pd

from houseprice import registry
from houseprice.datasets import Dataset, load_cumulative
from houseprice.storage import open_bucket
from promotion.promotion import Score, _summary, choose, promote
from tests.support.datasets import sample_rows, write_version
from tests.support.model_folders import LINEAR, MEDIAN, write_model
from training import discovery
from training.train import train


def score(version: str, mdape: float, mae: float = 1000.0, error: str = "") -> Score:
    metrics = {} if error else {"mdape": mdape, "mae": mae, "rmse": 0.0, "r2": 0.0}
    return Score(version, f"folder{version}", "v1", metrics, error)


def test_lowest_mdape_wins_and_mae_breaks_ties():
    champion = score("1", 0.20)
    assert choose(champion, [score("2", 0.15), score("3", 0.18)]).version == "2"
    assert choose(champion, [score("2", 0.20, mae=900.0)]).version == "2"
    assert choose(champion, [score("2", 0.25)]).version == "1"


def test_a_full_tie_keeps_the_champion():
    assert choose(score("5", 0.2, 1000.0), [score("2", 0.2, 1000.0)]).version == "5"


def test_first_champion_and_unscorable_models():
    assert choose(None, [score("2", 0.3), score("3", 0.2)]).version == "3"
    broken = score("1", 0.0, error="OSError: artifact gone")
    assert choose(broken, [score("2", 0.3)]).version == "2"
    assert choose(broken, [score("2", 0.0, error="x")]) is None
    assert choose(None, []) is None


def test_summaries_name_both_sides_and_the_margin():
    data = Dataset("v3", pd.DataFrame(), pd.DataFrame({"price": [1.0] * 7}))
    old, new = score("1", 0.20, 2000.0), score("2", 0.15, 1500.0)
    text = _summary(data, old, new, [new])
    assert text.startswith("version 2 (folder2, data v1) beat champion version 1")
    assert "MdAPE 0.1500 vs 0.2000 (margin 0.0500)" in text
    assert "on the v3 validation set (7 rows)" in text
    kept = _summary(data, old, old, [score("3", 0.25)])
    assert "version 1 (folder1, data v1) stays champion" in kept and "margin 0.0500" in kept
    assert "becomes the first champion" in _summary(data, None, new, [new])
    broken = score("1", 0.0, error="OSError: gone")
    assert "could not be scored (OSError: gone)" in _summary(data, broken, new, [new])
    assert "alias unchanged" in _summary(data, None, None, [])


def test_promote_against_the_registry(training_env):
    env = training_env()
    client = env.client()
    write_version(env.bucket, 1, sample_rows().iloc[:500])
    train_rows, valid_rows = load_cumulative(open_bucket(env.bucket))
    data = Dataset("v1", train_rows, valid_rows)
    assert promote(client, env.registered, data) is None  # nothing registered yet

    for name, source in (("median", MEDIAN), ("linear", LINEAR)):
        folder = discovery.ModelFolder(name, write_model(env.models_dir, name, source))
        train(discovery.load(folder), data, client=client, registered_model=env.registered)

    # Only the weak folder competes: it becomes the first champion.
    first = promote(client, env.registered, data, folders={"median"})
    assert first.changed and first.champion.model_folder == "median"
    assert [s.model_folder for s in first.scores] == ["median"]
    # Then everyone: the better model takes the alias, scored on the same rows.
    second = promote(client, env.registered, data)
    assert second.changed
    assert second.previous.model_folder == "median"
    assert second.champion.model_folder == "linear"
    assert second.champion.metrics["mdape"] < second.previous.metrics["mdape"]
    assert second.evaluation_rows == len(valid_rows)
    champion = registry.champion_version(client, env.registered)
    assert champion.version == second.champion.version
    assert champion.tags["promotion"].startswith("champion: ")
    assert float(champion.tags["eval_mdape"]) > 0
    # Nothing better: deciding again keeps the alias where it is.
    third = promote(client, env.registered, data)
    assert not third.changed and third.champion.version == champion.version
