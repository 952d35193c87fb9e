"""The training CLI end to end against a real MLflow server and real dataset versions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from houseprice import registry
from houseprice.datasets import load_cumulative
from houseprice.evaluation import evaluate
from houseprice.schema import FEATURE_NAMES
from houseprice.storage import open_bucket
from promotion.cli import main as promotion_main
from tests.support.datasets import sample_rows, write_version
from tests.support.model_folders import LINEAR, LOG_RIDGE, MEDIAN, write_model
from tests.support.servers import free_port
from training import NO_SHORTCUT
from training.cli import main


def train_and_promote() -> None:
    """What one pipeline run does after the data job."""
    assert main(["train-all"]) == 0
    assert promotion_main(["promote"]) == 0


def versions_of(env, dataset_version: str | None = None):
    found = registry.model_versions(env.client(), env.registered)
    if dataset_version:
        found = [mv for mv in found if mv.tags[registry.TAG_DATASET] == dataset_version]
    return found


def best_on_evaluation_set(env, versions) -> str:
    """Score every version ourselves on the newest cumulative validation set."""
    _, valid = load_cumulative(open_bucket(env.bucket))
    scores = {
        mv.version: evaluate(registry.load_version(env.client(), env.registered, mv.version), valid)
        for mv in versions
    }
    return min(scores, key=lambda v: (scores[v]["mdape"], scores[v]["mae"]))


def test_continuous_training_and_promotion(training_env, caplog):
    env = training_env()
    client = env.client()
    rows = sample_rows()
    write_model(env.models_dir, "linear", LINEAR)
    write_model(env.models_dir, "median", MEDIAN)
    v1_train, v1_valid = write_version(env.bucket, 1, rows.iloc[:1000])

    # 1. Two folders train on v1; the better one becomes champion.
    assert main(["train-all"]) == 0
    assert registry.champion_version(client, env.registered) is None  # training only trains
    assert promotion_main(["promote"]) == 0
    first = versions_of(env)
    assert sorted(mv.tags["model_folder"] for mv in first) == ["linear", "median"]
    for mv in first:
        assert mv.tags["dataset_version"] == "v1"
        assert mv.tags["train_rows"] == str(v1_train)
        assert mv.tags["git_commit"] == "0123456789abcdef"
        run = client.get_run(mv.run_id)
        assert run.data.tags["dataset_version"] == "v1"
        assert run.data.metrics["train_rows"] == v1_train
        assert set(run.data.metrics) >= {"mae", "rmse", "r2", "mdape"}
        experiment = client.get_experiment(run.info.experiment_id)
        assert experiment.name == f"{env.registered}/{mv.tags['model_folder']}"
    champion = registry.champion_version(client, env.registered)
    assert champion.version == best_on_evaluation_set(env, first)
    assert champion.tags["model_folder"] == "linear"
    assert "becomes the first champion" in champion.tags["promotion"]

    # 2. Re-running trains nothing.
    caplog.clear()
    assert main(["train-all"]) == 0
    assert len(versions_of(env)) == 2
    assert "linear: already trained on v1" in caplog.text
    assert "median: already trained on v1" in caplog.text

    # 3. v2 appears: both retrain on v1+v2; the alias moves only on evidence.
    v1_champion = champion
    v2_train, v2_valid = write_version(env.bucket, 2, rows.iloc[1000:1800])
    train_and_promote()
    second = versions_of(env, "v2")
    assert sorted(mv.tags["model_folder"] for mv in second) == ["linear", "median"]
    for mv in second:
        assert mv.tags["train_rows"] == str(v1_train + v2_train)
        assert mv.tags["valid_rows"] == str(v1_valid + v2_valid)
        assert client.get_run(mv.run_id).data.metrics["train_rows"] == v1_train + v2_train
    champion = registry.champion_version(client, env.registered)
    linear_v2 = next(mv for mv in second if mv.tags["model_folder"] == "linear")
    assert champion.version in (v1_champion.version, linear_v2.version)
    assert champion.tags["eval_dataset_version"] == "v2"
    median = next(mv for mv in second if mv.tags["model_folder"] == "median")
    median = client.get_model_version(env.registered, median.version)
    assert median.tags["promotion"].startswith("not promoted")

    # 4. A third folder, and nothing else changed: it trains on v2 and competes.
    previous = champion
    write_model(env.models_dir, "log_ridge", LOG_RIDGE)
    caplog.clear()
    train_and_promote()
    assert "linear: already trained on v2" in caplog.text
    third = [mv for mv in versions_of(env, "v2") if mv.tags["model_folder"] == "log_ridge"]
    assert len(third) == 1 and third[0].tags["train_rows"] == str(v1_train + v2_train)
    champion = registry.champion_version(client, env.registered)
    assert champion.version == best_on_evaluation_set(env, [previous, *third])
    assert champion.tags["model_folder"] == "log_ridge"
    assert f"replaces champion version {previous.version}" in champion.tags["promotion"]
    assert "better beyond noise" in champion.tags["promotion"]
    assert "margin" in champion.description

    # 5. A deliberately weak challenger does not replace the champion.
    write_model(env.models_dir, "median_again", MEDIAN)
    train_and_promote()
    weak = [mv for mv in versions_of(env) if mv.tags["model_folder"] == "median_again"]
    assert len(weak) == 1
    assert registry.champion_version(client, env.registered).version == champion.version
    assert "stays champion" in caplog.text

    # Every decision is kept as decision.json in the promotions experiment.
    promotions = client.get_experiment_by_name(f"{env.registered}/promotions")
    runs = client.search_runs([promotions.experiment_id], order_by=["attributes.start_time ASC"])
    replaced_in_v2 = previous.version != v1_champion.version
    assert [r.data.tags["changed"] for r in runs] == [
        "true",
        str(replaced_in_v2).lower(),
        "true",
        "false",
    ]
    path = client.download_artifacts(runs[-1].info.run_id, "decision.json")
    with open(path) as handle:
        decision = json.load(handle)
    assert decision["champion"]["version"] == champion.version
    assert decision["dataset_version"] == "v2"
    # The champion first, then the newest version of every folder.
    assert [(s["model_folder"], s["version"]) for s in decision["candidates"]] == [
        ("log_ridge", champion.version),
        *sorted(
            (
                (mv.tags["model_folder"], mv.version)
                for mv in versions_of(env, "v2")
                if mv.version != champion.version
            ),
            key=lambda pair: int(pair[1]),
        ),
    ]

    # The champion, loaded as mlapp loads it, predicts a NumPy object row like a DataFrame.
    served = registry.load_version(env.client(), env.registered, champion.version)
    import mlflow.sklearn

    by_alias = mlflow.sklearn.load_model(f"models:/{env.registered}@champion")
    frame = rows.loc[:, list(FEATURE_NAMES)].iloc[1800:1810].reset_index(drop=True)
    for i in range(len(frame)):
        row = np.array([frame.iloc[i].tolist()], dtype=object)
        assert by_alias.predict(row)[0] == served.predict(frame.iloc[[i]])[0]
    np.testing.assert_allclose(
        by_alias.predict(frame.to_numpy(dtype=object)), served.predict(frame), rtol=1e-12
    )

    # The leaderboard lists every folder's newest version and marks the champion.
    caplog.clear()
    assert main(["leaderboard"]) == 0


def test_leaderboard_table(training_env, capsys):
    env = training_env()
    write_model(env.models_dir, "linear", LINEAR)
    write_model(env.models_dir, "median", MEDIAN)
    write_version(env.bucket, 1, sample_rows().iloc[:600])
    assert main(["leaderboard"]) == 0
    assert "no versions" in capsys.readouterr().out
    train_and_promote()
    capsys.readouterr()
    assert main(["leaderboard"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["folder", "version", "data", "mdape"]
    body = {line.split()[0]: line for line in lines[2:]}
    assert set(body) == {"linear", "median"}
    assert body["linear"].rstrip().endswith("champion")
    assert "champion" not in body["median"]


def test_a_broken_folder_is_reported_and_the_others_still_train(training_env, caplog):
    env = training_env()
    write_model(env.models_dir, "linear", LINEAR)
    write_model(env.models_dir, "a_syntax_error", "def build_model(:\n    pass\n")
    write_model(env.models_dir, "b_no_estimator", "def build_model():\n    return 42\n")
    write_model(env.models_dir, "c_no_build", "PARAMS = {}\n")
    write_model(
        env.models_dir,
        "d_fails_to_fit",
        "from sklearn.linear_model import LinearRegression\n\n"
        "def build_model():\n    return LinearRegression()  # cannot take raw text columns\n",
    )
    (env.models_dir / "_template").mkdir()
    (env.models_dir / "_template" / "model.py").write_text("raise SystemExit('ignored')\n")
    (env.models_dir / "notes").mkdir()  # no model.py: ignored
    write_version(env.bucket, 1, sample_rows().iloc[:600])

    assert main(["train-all"]) == 1
    assert promotion_main(["promote"]) == 0
    assert [mv.tags["model_folder"] for mv in versions_of(env)] == ["linear"]
    assert registry.champion_version(env.client(), env.registered).tags["model_folder"] == "linear"
    log = caplog.text
    assert "model folder 'a_syntax_error' is broken: importing model.py raised SyntaxError" in log
    assert "model folder 'b_no_estimator' is broken: build_model() returned int" in log
    assert "model folder 'c_no_build' is broken: model.py does not define build_model()" in log
    assert "model folder 'd_fails_to_fit' is broken: fitting or scoring raised" in log
    assert "4 of 5 model folders failed" in log
    assert "_template" not in log and "notes" not in log


def test_train_one_folder_then_promote(training_env, caplog):
    env = training_env()
    write_model(env.models_dir, "log_ridge", LOG_RIDGE)
    write_model(env.models_dir, "median", MEDIAN)
    write_version(env.bucket, 1, sample_rows().iloc[:600])
    assert main(["train", "median", "--unless-champion", "--wait-for-mlflow", "5"]) == 0
    assert registry.champion_version(env.client(), env.registered) is None
    assert main(["promote"]) == 0  # the alias of `python -m promotion promote`
    assert registry.champion_version(env.client(), env.registered).tags["model_folder"] == "median"
    assert main(["train", "log_ridge", "--unless-champion"]) == NO_SHORTCUT  # trains nothing
    assert len(versions_of(env)) == 1
    assert main(["train", "log_ridge"]) == 0
    assert registry.champion_version(env.client(), env.registered).tags["model_folder"] == "median"
    assert promotion_main(["promote"]) == 0
    champion = registry.champion_version(env.client(), env.registered)
    assert champion.tags["model_folder"] == "log_ridge"
    assert main(["train", "nonexistent"]) == 1
    assert promotion_main(["promote"]) == 0  # unchanged inputs: skipped
    assert registry.champion_version(env.client(), env.registered).version == champion.version


def test_first_model_waits_for_its_data_then_trains_and_promotes(training_env):
    """The first-start shortcut: started before the data job commits, it waits for v1."""
    env = training_env()
    write_model(env.models_dir, "median", MEDIAN)
    late = threading.Timer(1.5, write_version, (env.bucket, 1, sample_rows().iloc[:600]))
    late.start()
    try:
        code = main(["train", "median", "--unless-champion", "--promote", "--wait-for-data", "60"])
    finally:
        late.join()
    assert code == 0
    champion = registry.champion_version(env.client(), env.registered)
    assert champion is not None and champion.tags["model_folder"] == "median"
    assert champion.tags["dataset_version"] == "v1"
    # With a champion, the same command trains nothing.
    assert main(["train", "median", "--unless-champion", "--promote"]) == NO_SHORTCUT
    assert len(versions_of(env)) == 1


def test_no_data_within_the_wait_is_one_clear_failure(training_env, capsys):
    env = training_env()
    write_model(env.models_dir, "median", MEDIAN)
    assert main(["train", "median", "--wait-for-data", "0.5"]) == 1
    assert "no dataset version in" in capsys.readouterr().err
    assert versions_of(env) == []


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_unreachable_mlflow_is_one_clear_line(training_env):
    env = training_env(tracking_uri=f"http://127.0.0.1:{free_port()}")
    write_version(env.bucket, 1, sample_rows().iloc[:100])
    done = run_cli(env.env, "train-all")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: MLflow tracking server {env.env['MLFLOW_TRACKING_URI']}")
    assert "is unreachable" in last


def test_no_dataset_version_is_one_clear_line(training_env):
    env = training_env()
    write_model(env.models_dir, "linear", LINEAR)
    done = run_cli(env.env, "train-all")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: no dataset version in {open_bucket(env.bucket).url} yet: run the data job first"
    )


def test_bad_configuration_exits_2(training_env):
    env = training_env()
    done = run_cli({**env.env, "MLFLOW_TRACKING_URI": "ftp://nowhere"}, "promote")
    assert done.returncode == 2
    assert "MLFLOW_TRACKING_URI" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.postgres
def test_console_script_on_a_postgresql_backed_server(training_env, tmp_path):
    from tests.support.servers import mlflow_server, postgres_server

    with postgres_server(tmp_path / "pg") as database:
        backend = database.replace("postgresql://", "postgresql+psycopg2://", 1)  # pinned driver
        with mlflow_server(tmp_path / "mlflow", backend_uri=backend) as uri:
            _train_against(training_env(tracking_uri=uri))


def _train_against(env) -> None:
    """Train, re-run and list through the console script, as an operator would."""
    write_model(env.models_dir, "linear", LINEAR)
    write_model(env.models_dir, "median", MEDIAN)
    write_version(env.bucket, 1, sample_rows().iloc[:600])
    script = str(Path(sys.executable).parent / "houseprice-train")
    done = subprocess.run(
        [script, "train-all"],
        env={**os.environ, **env.env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    promoted = subprocess.run(
        [str(Path(sys.executable).parent / "houseprice-promote"), "promote"],
        env={**os.environ, **env.env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert promoted.returncode == 0, promoted.stderr
    assert "becomes the first champion" in promoted.stdout
    champion = registry.champion_version(env.client(), env.registered)
    assert champion.tags["model_folder"] == "linear"
    assert champion.tags["dataset_version"] == "v1"
    again = run_cli(env.env, "train-all")
    assert again.returncode == 0
    assert "already trained on v1" in again.stderr
    board = run_cli(env.env, "leaderboard")
    assert board.returncode == 0
    assert "champion" in next(x for x in board.stdout.splitlines() if x.startswith("linear"))
    model = registry.load_version(env.client(), env.registered, champion.version)
    row = sample_rows().loc[:, list(FEATURE_NAMES)].iloc[[0]]
    assert model.predict(row.to_numpy(dtype=object))[0] == model.predict(row)[0]
