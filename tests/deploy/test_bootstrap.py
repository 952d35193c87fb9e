"""The first-deploy bootstrap: seeds only an empty platform, and its Job's containers, run in
order with the commands the manifest gives them, end with a dataset version and trained
models; running the Job again changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from deploy.bootstrap import seed
from houseprice import registry
from houseprice.datasets import committed_versions
from houseprice.settings import Settings
from houseprice.storage import Bucket, open_bucket
from tests.deploy.conftest import ROOT, by_kind
from tests.deploy.dockerfile import command
from tests.support.services import settings_env

SAMPLE = ROOT / "sample_dataset" / "house_sales_2014-05_to_06.csv"
FOLDER = "linear_regression"  # the fastest folder keeps the end-to-end run short


@pytest.fixture(params=["local", "gcs"])
def buckets(request, tmp_path: Path) -> tuple[Bucket, Bucket]:
    if request.param == "local":
        return open_bucket(str(tmp_path / "b1")), open_bucket(str(tmp_path / "b2"))
    request.getfixturevalue("gcs_emulator")
    from houseprice.storage.gcs import make_client

    names = [f"boot-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    for name in names:
        make_client().create_bucket(name)
    return open_bucket(f"gs://{names[0]}/raw"), open_bucket(f"gs://{names[1]}")


def test_seeds_an_empty_platform_once(buckets) -> None:
    raw, datasets = buckets
    assert seed(raw, datasets, SAMPLE).startswith("seeded house_sales")
    assert raw.list() == [f"bootstrap/{SAMPLE.name}"]
    assert raw.read_bytes(raw.list()[0]) == SAMPLE.read_bytes()
    again = seed(raw, datasets, SAMPLE)
    assert again.startswith("not seeding") and "is not empty" in again
    assert raw.list() == [f"bootstrap/{SAMPLE.name}"]


def test_never_seeds_a_platform_that_has_seen_data(buckets) -> None:
    raw, datasets = buckets
    raw.write_bytes("archive/old.csv", b"x")  # consumed long ago
    assert "is not empty" in seed(raw, datasets, SAMPLE)
    raw.delete("archive/old.csv")
    datasets.write_bytes("instream/c1.csv", b"x")
    assert "waiting in instream/" in seed(raw, datasets, SAMPLE)
    datasets.write_bytes("versioned/v3/manifest.json", b"{}")
    assert "versions up to v3" in seed(raw, datasets, SAMPLE)
    assert raw.list() == []


def test_cli_reports_a_missing_sample_or_bad_settings(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "deploy.bootstrap"]
    env = {**os.environ, "HOUSEPRICE_DATA_DIR": str(tmp_path)}
    missing = subprocess.run(
        [*base, str(tmp_path / "none.csv")], cwd=ROOT, env=env, text=True, capture_output=True
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad = subprocess.run(
        [*base, str(SAMPLE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "BATCH_SIZE": "abc"},
    )
    assert bad.returncode == 2 and "BATCH_SIZE" in bad.stderr


# ---- the Job, end to end ----------------------------------------------------------------


@dataclass
class State:
    raw: list[str]
    versions: list[str]
    model_versions: list[str]
    champion: str | None
    logs: list[str]


def job_steps(rendered) -> list[tuple[str, list[str]]]:
    """(container name, argv) of the bootstrap Job, in the order the pod runs them."""
    spec = by_kind(rendered["k8s_ml"], "CronJob")["bootstrap"]["spec"]["jobTemplate"]["spec"]
    pod = spec["template"]["spec"]
    image_target = {"houseprice/bootstrap": "bootstrap", "houseprice/data-job": "data-job"}
    steps = []
    for container in [*pod["initContainers"], *pod["containers"]]:
        argv = container.get("command") or command(image_target[container["image"]])
        steps.append((container["name"], [a.replace("/app/", f"{ROOT}/") for a in argv]))
    return steps


def run_job(steps, env: dict[str, str], until: str | None = None) -> list[str]:
    logs = []
    for name, argv in steps:
        if name == until:
            break
        argv = [sys.executable, *argv[1:]] if argv[0] == "python" else argv
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        logs.append(f"{name}: {done.stdout}{done.stderr}")
        assert done.returncode == 0, logs[-1]
    return logs


def state(settings: Settings, logs: list[str]) -> State:
    client = MlflowClient(settings.MLFLOW_TRACKING_URI)
    name = settings.REGISTERED_MODEL_NAME
    versions = sorted(v.version for v in registry.model_versions(client, name))
    champion = registry.champion_version(client, name)
    return State(
        open_bucket(settings.BUCKET_1).list(),
        committed_versions(open_bucket(settings.BUCKET_2)),
        versions,
        champion.version if champion else None,
        logs,
    )


@pytest.fixture(scope="module")
def bootstrap_runs(rendered, tmp_path_factory, mongo_uri: str, mlflow_uri: str) -> Callable:
    """Runs the Job twice on one empty platform (up to `until`, if given); the two states."""
    results: dict[str | None, tuple[State, State]] = {}

    def runs(until: str | None) -> tuple[State, State]:
        if until in results:
            return results[until]
        workdir = tmp_path_factory.mktemp("bootstrap")
        models = workdir / "models"
        shutil.copytree(ROOT / "models" / FOLDER, models / FOLDER)
        settings = Settings.from_env(
            {
                "HOUSEPRICE_DATA_DIR": str(workdir / "data"),
                "MONGO_URI": mongo_uri,
                "MONGO_DB": f"bootstrap_{uuid.uuid4().hex[:8]}",
                "MLFLOW_TRACKING_URI": mlflow_uri,
                "REGISTERED_MODEL_NAME": f"bootstrap-{uuid.uuid4().hex[:8]}",
            }
        )
        env = {**os.environ, **settings_env(settings), "MODELS_DIR": str(models)}
        env["HOUSEPRICE_DATA_DIR"] = str(workdir / "data")
        steps = job_steps(rendered)
        first = state(settings, run_job(steps, env, until))
        second = state(settings, run_job(steps, env, until))
        results[until] = (first, second)
        return results[until]

    return runs


def test_the_job_runs_seed_data_train_then_promote(rendered) -> None:
    assert [name for name, _ in job_steps(rendered)] == ["seed", "data", "train", "promote"]


def test_first_run_versions_the_seed_and_trains(bootstrap_runs) -> None:
    first, _ = bootstrap_runs("promote")
    assert first.versions == ["v1"]
    assert first.raw and all(key.startswith("archive/") for key in first.raw), first.raw
    assert len(first.model_versions) == 1, first.logs
    assert "seeded house_sales_2014-05_to_06.csv" in first.logs[0]


def test_second_run_changes_nothing(bootstrap_runs) -> None:
    first, second = bootstrap_runs("promote")
    assert second.raw == first.raw
    assert second.versions == first.versions
    assert second.model_versions == first.model_versions
    assert "not seeding" in second.logs[0]


def test_the_job_ends_with_a_champion_and_keeps_it(bootstrap_runs) -> None:
    first, second = bootstrap_runs(None)
    assert first.champion is not None, first.logs
    assert second.champion == first.champion
    assert second.model_versions == first.model_versions
