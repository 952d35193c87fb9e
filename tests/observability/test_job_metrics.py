"""What the data job, training and promotion push, through their real entry points, and
that a Pushgateway that is down fails none of them."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from pymongo import MongoClient

from data_collection_and_versioning.job import run
from houseprice import registry
from houseprice.datasets import read_manifest
from houseprice.storage import open_bucket
from promotion.cli import main as promotion_main
from tests.conftest import SAMPLE_CSV
from tests.observability.conftest import one, pushed
from tests.support.datasets import sample_rows, write_version
from tests.support.model_folders import LINEAR, MEDIAN, training_env, write_model  # noqa: F401
from tests.support.servers import free_port
from training.cli import main as training_main


def held_correction(settings, n: int) -> None:
    """Corrections the screening held for review (the shape it stores in COLLECTION_2)."""
    with MongoClient(settings.MONGO_URI) as client:
        collection = client[settings.MONGO_DB][settings.COLLECTION_2]
        collection.insert_many(
            [
                {"request_id": uuid.uuid4().hex, "consumed": True, "consumed_in": "held:far"}
                | {"held": True}
                for _ in range(n)
            ]
        )


def test_the_data_job_pushes_rows_version_and_held_corrections(
    make_settings, pushgateway_url: str, tmp_path: Path
) -> None:
    settings = make_settings(PUSHGATEWAY_URL=pushgateway_url)
    Path(settings.BUCKET_1).mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE_CSV, Path(settings.BUCKET_1) / SAMPLE_CSV.name)
    held_correction(settings, 2)
    before = time.time()
    summary = run(settings, emit=lambda line: None)
    assert summary["result"] == "version" and summary["version"] == "v1"
    samples = pushed(pushgateway_url)
    job = {"job": "data-job"}
    manifest = read_manifest(open_bucket(settings.BUCKET_2), "v1")
    lines = len(pd.read_csv(SAMPLE_CSV))
    assert one(samples, "houseprice_data_rows", outcome="read", **job) == lines
    rejected = lines - len(sample_rows())  # the sample's rows the schema refuses
    assert one(samples, "houseprice_data_rows", outcome="rejected", **job) == rejected > 0
    assert (
        one(samples, "houseprice_data_rows", outcome="versioned", **job)
        == (manifest["rows"]["total"])
    )
    assert one(samples, "houseprice_dataset_version", **job) == 1
    assert one(samples, "houseprice_corrections_held", **job) == 2
    assert one(samples, "houseprice_job_last_success_timestamp_seconds", **job) >= before
    assert 0 < one(samples, "houseprice_job_duration_seconds", **job) < 600

    # A run with nothing new still reports itself alive, and keeps the newest version.
    held_correction(settings, 1)
    assert run(settings, emit=lambda line: None)["result"] == "nothing new"
    again = pushed(pushgateway_url)
    assert one(again, "houseprice_data_rows", outcome="versioned", **job) == 0
    assert one(again, "houseprice_dataset_version", **job) == 1
    assert one(again, "houseprice_corrections_held", **job) == 3
    assert one(again, "houseprice_job_last_success_timestamp_seconds", **job) > one(
        samples, "houseprice_job_last_success_timestamp_seconds", **job
    )


def test_the_data_job_succeeds_with_the_pushgateway_down(make_settings, caplog) -> None:
    settings = make_settings(PUSHGATEWAY_URL=f"http://127.0.0.1:{free_port()}")
    Path(settings.BUCKET_1).mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE_CSV, Path(settings.BUCKET_1) / SAMPLE_CSV.name)
    summary = run(settings, emit=lambda line: None)
    assert summary["ok"] and summary["version"] == "v1"
    assert "metrics of data-job not pushed" in caplog.text


@pytest.mark.timeout(600)
def test_training_and_promotion_push_per_folder_and_the_champion(
    training_env,  # noqa: F811
    pushgateway_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = training_env()
    monkeypatch.setenv("PUSHGATEWAY_URL", pushgateway_url)
    write_model(env.models_dir, "linear", LINEAR)
    write_model(env.models_dir, "median", MEDIAN)
    train_rows, valid_rows = write_version(env.bucket, 1, sample_rows().iloc[:1000])
    assert training_main(["train-all"]) == 0
    assert promotion_main(["promote"]) == 0

    samples = pushed(pushgateway_url)
    client = env.client()
    champion = registry.champion_version(client, env.registered)
    assert champion is not None
    for folder in ("linear", "median"):
        labels = {"job": "training", "folder": folder}
        assert one(samples, "houseprice_training_rows", split="train", **labels) == train_rows
        assert one(samples, "houseprice_training_rows", split="valid", **labels) == valid_rows
        assert one(samples, "houseprice_training_dataset_version", **labels) == 1
        (mv,) = [
            m for m in registry.model_versions(client, env.registered)
            if m.tags["model_folder"] == folder
        ]  # fmt: skip
        run_metrics = client.get_run(mv.run_id).data.metrics
        mdape = one(samples, "houseprice_model_mdape", version=str(mv.version), **labels)
        assert mdape == pytest.approx(run_metrics["mdape"])
        for name in ("mae", "rmse", "r2"):
            pushed_value = one(
                samples, "houseprice_training_metric", metric=name, version=mv.version, **labels
            )
            assert pushed_value == pytest.approx(run_metrics[name])
        assert 0 < one(samples, "houseprice_job_duration_seconds", **labels) < 600
    promotion = {"job": "promotion"}
    assert one(samples, "houseprice_champion_version", **promotion) == int(champion.version)
    assert one(samples, "houseprice_champion_dataset_version", **promotion) == 1
    assert one(samples, "houseprice_promotion_changed", **promotion) == 1
    champion_mdape = one(samples, "houseprice_champion_metric", metric="mdape", **promotion)
    assert champion_mdape == pytest.approx(float(champion.tags["eval_mdape"]), rel=1e-4)
    # Both versions were scored on the same rows; the champion's score is the lower one.
    scored = [v for lab, v in samples["houseprice_model_mdape"] if lab["job"] == "promotion"]
    assert len(scored) == 2 and champion_mdape == pytest.approx(min(scored))

    # Nothing new to train: the folders report success without new figures.
    assert training_main(["train-all"]) == 0
    again = pushed(pushgateway_url)
    for folder in ("linear", "median"):
        labels = {"job": "training", "folder": folder}
        assert one(again, "houseprice_job_last_success_timestamp_seconds", **labels) > one(
            samples, "houseprice_job_last_success_timestamp_seconds", **labels
        )
        assert one(again, "houseprice_training_dataset_version", **labels) == 1


def test_a_failing_folder_pushes_its_failure(
    training_env,  # noqa: F811
    pushgateway_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = training_env()
    monkeypatch.setenv("PUSHGATEWAY_URL", pushgateway_url)
    write_model(env.models_dir, "broken", "def build_model():\n    raise ValueError('no')\n")
    write_version(env.bucket, 1, sample_rows().iloc[:300])
    assert training_main(["train-all"]) == 1
    samples = pushed(pushgateway_url)
    labels = {"job": "training", "folder": "broken"}
    assert one(samples, "houseprice_job_last_failure_timestamp_seconds", **labels) > 0
    assert "houseprice_job_last_success_timestamp_seconds" not in samples
