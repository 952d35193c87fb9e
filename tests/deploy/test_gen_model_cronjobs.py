"""Every model folder gets a training CronJob, generated, never hand-written; the promotion
runs once per pipeline from its own CronJob, after the trainings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy import gen_model_cronjobs as gen
from tests.deploy.conftest import ROOT, by_kind, kustomize_build
from training.discovery import discover

GENERATOR = [sys.executable, "-m", "deploy.gen_model_cronjobs"]


def _model(models_dir: Path, name: str) -> None:
    (models_dir / name).mkdir(parents=True)
    (models_dir / name / "model.py").write_text("def build_model():\n    return None\n")


def test_committed_manifests_are_up_to_date() -> None:
    """Fails when a model folder was added or removed without running the generator."""
    changes = gen.differences(ROOT / "models", ROOT / "k8s_ml" / "models")
    assert changes == [], f"the training CronJobs are stale: run `{gen.REGENERATE}`"


def test_the_regenerate_command_is_the_makefile_target_the_readmes_name() -> None:
    assert gen.REGENERATE == "make manifests"
    makefile = (ROOT / "Makefile").read_text()
    assert "\nmanifests: install\n\t$(BIN)/python -m deploy.gen_model_cronjobs\n" in makefile
    for readme in ("README.md", "models/README.md", "docs/deployment.md"):
        assert "make manifests" in (ROOT / readme).read_text(), readme


def test_every_model_folder_has_a_cronjob_in_the_built_namespace(rendered) -> None:
    folders = [folder.name for folder in discover(ROOT / "models")]
    assert folders, "no model folder found"
    cronjobs = by_kind(rendered["k8s_ml"], "CronJob")
    for name in folders:
        job = gen.TrainingJob(name)
        assert job.name in cronjobs, f"models/{name} has no CronJob (run `make manifests`)"
        pod = cronjobs[job.name]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == "houseprice/training"
        # Training only: the promotion is the promotion CronJob's.
        assert container["command"] == ["python", "-m", "training", "train", name]
        assert pod["serviceAccountName"] == "training"
    training = {
        n
        for n, c in cronjobs.items()
        if c["metadata"]["labels"].get("app.kubernetes.io/component") == "training"
    }
    assert training == {gen.TrainingJob(name).name for name in folders}


def test_folder_rule_is_training_discovery_s(tmp_path: Path) -> None:
    models = tmp_path / "models"
    for name in ("alpha", "beta_2", "_private", "Upper", "with-dash"):
        _model(models, name)
    (models / "no_model_py").mkdir()
    (models / "README.md").write_text("not a folder")
    expected = [folder.name for folder in discover(models)]
    assert gen.model_folders(models) == expected == ["alpha", "beta_2"]
    # Used, not restated: no pattern of its own in the generator or any deploy script.
    for path in (ROOT / "deploy").iterdir():
        if path.suffix in (".py", ".sh"):
            text = path.read_text()
            assert "[a-z0-9_]" not in text and "FOLDER_NAME" not in text, path


def test_promotion_runs_once_after_every_training(rendered) -> None:
    cronjobs = by_kind(rendered["k8s_ml"], "CronJob")
    promotion = cronjobs["promotion"]
    minute = int(promotion["spec"]["schedule"].split()[0])
    assert minute == gen.PROMOTION_MINUTE
    assert promotion["spec"]["concurrencyPolicy"] == "Forbid"
    trainings = [c for n, c in cronjobs.items() if n.startswith("train-")]
    assert trainings
    for cronjob in trainings:
        assert int(cronjob["spec"]["schedule"].split()[0]) < minute
    data_job = int(cronjobs["data-job"]["spec"]["schedule"].split()[0])
    assert data_job < gen.FIRST_TRAINING_MINUTE
    promoters = [
        name
        for name, c in cronjobs.items()
        if "promotion"
        in c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0].get("command", [])
    ]
    assert sorted(promoters) == ["bootstrap", "promotion"]


def test_a_new_folder_gets_its_cronjob_without_hand_edits(tmp_path: Path) -> None:
    """Copy k8s_ml, add a model folder, run the generator: the build has one more CronJob."""
    k8s = tmp_path / "k8s_ml"
    shutil.copytree(ROOT / "k8s_ml", k8s)
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models)
    _model(models, "gradient_boosting_v2")

    check = [
        *GENERATOR,
        "--models-dir",
        str(models),
        "--out-dir",
        str(k8s / "models"),
    ]
    stale = subprocess.run([*check, "--check"], capture_output=True, text=True, cwd=ROOT)
    assert stale.returncode == 1
    assert "missing" in stale.stdout and "gradient-boosting-v2.yaml" in stale.stdout

    subprocess.run(check, check=True, capture_output=True, cwd=ROOT)
    assert subprocess.run([*check, "--check"], capture_output=True, cwd=ROOT).returncode == 0

    cronjobs = by_kind(kustomize_build(k8s), "CronJob")
    job = cronjobs["train-gradient-boosting-v2"]
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert job["metadata"]["namespace"] == "ml"
    assert pod["containers"][0]["image"] == "houseprice/training"
    assert pod["containers"][0]["command"][-1] == "gradient_boosting_v2"
    # The settings ConfigMap reference got the generated, hashed name like the others.
    config_ref = pod["containers"][0]["envFrom"][0]["configMapRef"]["name"]
    assert config_ref.startswith("houseprice-config-")


def test_a_removed_folder_loses_its_generated_cronjob(tmp_path: Path) -> None:
    models, out = tmp_path / "models", tmp_path / "out"
    _model(models, "first")
    _model(models, "second")
    gen.write(models, out)
    hand_written = out / "extra.yaml"
    hand_written.write_text("apiVersion: v1\nkind: ConfigMap\n")
    shutil.rmtree(models / "second")

    assert gen.differences(models, out) == [
        f"outdated {out / 'kustomization.yaml'}",
        f"stale {out / 'second.yaml'}",
    ]
    gen.write(models, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "extra.yaml",
        "first.yaml",
        "kustomization.yaml",
    ]
    assert yaml.safe_load((out / "kustomization.yaml").read_text())["resources"] == ["first.yaml"]


def test_no_model_folder_gives_an_empty_but_valid_kustomization(tmp_path: Path) -> None:
    gen.write(tmp_path / "models", tmp_path / "out")
    assert yaml.safe_load((tmp_path / "out" / "kustomization.yaml").read_text())["resources"] == []


@pytest.mark.parametrize("name", ["ends_with_", "x" * 47])
def test_names_kubernetes_cannot_hold_are_refused(tmp_path: Path, name: str) -> None:
    _model(tmp_path / "models", name)
    with pytest.raises(gen.ModelFolderNameError, match=name[:20]):
        gen.training_jobs(tmp_path / "models")
    done = subprocess.run(
        [
            *GENERATOR,
            "--models-dir",
            str(tmp_path / "models"),
            "--out-dir",
            str(tmp_path / "out"),
            "--check",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "error:" in done.stderr


def _schedule(out: Path, slug: str) -> str:
    return yaml.safe_load((out / f"{slug}.yaml").read_text().split("\n", 1)[1])["spec"]["schedule"]


def test_schedules_are_stable_and_before_the_promotion(tmp_path: Path) -> None:
    """Adding a folder never moves another model's schedule; all run after minute 0."""
    alone, crowd = tmp_path / "alone", tmp_path / "crowd"
    _model(alone / "models", "linear_regression")
    for name in ("aaa", "linear_regression", "zzz"):
        _model(crowd / "models", name)
    gen.write(alone / "models", alone / "out")
    gen.write(crowd / "models", crowd / "out")
    schedule = _schedule(alone / "out", "linear-regression")
    assert schedule == _schedule(crowd / "out", "linear-regression")
    for slug in ("aaa", "linear-regression", "zzz"):
        minute, *rest = _schedule(crowd / "out", slug).split()
        first, spread = gen.FIRST_TRAINING_MINUTE, gen.TRAINING_SPREAD
        assert first <= int(minute) < first + spread and rest == ["*", "*", "*", "*"]
