"""`python -m promotion` as real processes: one promoter at a time, clear failures."""

from __future__ import annotations

import os
import subprocess
import sys

from houseprice import registry
from houseprice.storage import Lease, open_bucket
from promotion.cli import LEASE_KEY
from tests.support.datasets import sample_rows, write_version
from tests.support.model_folders import LOG_RIDGE, MEDIAN, write_model
from tests.support.servers import free_port
from training.cli import main as train_main


def command(env: dict[str, str], *args: str) -> list[str]:
    return [sys.executable, "-m", "promotion", *args]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(env, *args), env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )


def decisions(env) -> list[str]:
    experiment = env.client().get_experiment_by_name(f"{env.registered}/promotions")
    if experiment is None:
        return []
    runs = env.client().search_runs([experiment.experiment_id])
    return [r.data.tags["outcome"] for r in runs]


def test_two_promoters_never_interleave(training_env):
    env = training_env()
    write_model(env.models_dir, "median", MEDIAN)
    write_model(env.models_dir, "log_ridge", LOG_RIDGE)
    write_version(env.bucket, 1, sample_rows().iloc[:500])
    assert train_main(["train-all"]) == 0

    # Someone holds the lease: a promoter exits 0, says who, and changes nothing.
    with Lease(open_bucket(env.bucket), LEASE_KEY, ttl=60) as held:
        done = run(env.env, "promote")
    assert done.returncode == 0, done.stderr
    assert f"{LEASE_KEY} is held by run {held.run_id}" in done.stderr
    assert registry.champion_version(env.client(), env.registered) is None

    # Two promoters started together: one decides, the other waits its turn out.
    procs = [
        subprocess.Popen(
            command(env.env, "promote"),
            env={**os.environ, **env.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert decisions(env) == ["first"]  # one decision, not two
    texts = [out + err for out, err in outputs]
    assert sum("first: " in t for t in texts) == 1
    assert sum((f"{LEASE_KEY} is held by" in t) or ("skipped" in t) for t in texts) == 1
    champion = registry.champion_version(env.client(), env.registered)
    assert champion.tags["model_folder"] == "log_ridge"
    assert not open_bucket(env.bucket).exists("leases/promotion.json")  # released


def test_rollback_command_and_unreachable_mlflow(training_env):
    env = training_env()
    write_model(env.models_dir, "median", MEDIAN)
    write_version(env.bucket, 1, sample_rows().iloc[:400])
    assert train_main(["train-all"]) == 0
    assert run(env.env, "promote").returncode == 0
    write_model(env.models_dir, "log_ridge", LOG_RIDGE)
    assert train_main(["train-all"]) == 0
    promoted = run(env.env, "--json", "promote")
    assert promoted.returncode == 0, promoted.stderr
    assert '"outcome": "replaced"' in promoted.stdout

    back = run(env.env, "rollback")
    assert back.returncode == 0, back.stderr
    assert back.stdout.startswith("rollback: version 1 (median, data v1) is champion again")
    assert registry.champion_version(env.client(), env.registered).version == "1"
    again = run(env.env, "rollback")
    assert again.returncode == 1
    assert "nothing to roll back to" in again.stderr.strip().splitlines()[-1]

    down = run({**env.env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}, "promote")
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert "is unreachable" in down.stderr and "the next run retries" in down.stderr
    bad = run({**env.env, "PROMOTION_CONFIDENCE": "2"}, "promote")
    assert bad.returncode == 2 and "PROMOTION_CONFIDENCE='2'" in bad.stderr
