"""The MLflow database upgrade Job's command (k8s_ml/mlflow-db-upgrade.yaml), run for real:
it creates or migrates the schema to this MLflow's head revision, and a second run is a no-op."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from tests.deploy.conftest import ROOT, by_kind, kustomize_build
from tests.support.servers import VENV_BIN


def upgrade_command(backend_uri: str) -> list[str]:
    resources = kustomize_build(ROOT / "k8s_ml")
    cronjob = by_kind(resources, "CronJob")["mlflow-db-upgrade"]
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    # Kubernetes expands $(NAME) from the container's env, here the Secret's URI.
    return [arg.replace("$(MLFLOW_BACKEND_STORE_URI)", backend_uri) for arg in container["command"]]


def revision(database: Path) -> list[tuple[str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchall()


def test_upgrade_creates_the_schema_then_changes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "mlflow.db"
    argv = upgrade_command(f"sqlite:///{database}")
    assert argv[:3] == ["mlflow", "db", "upgrade"]
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    head = revision(database)
    assert len(head) == 1
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"experiments", "runs", "registered_models", "model_versions"} <= tables
    before = database.read_bytes()
    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr
    assert revision(database) == head
    assert database.read_bytes() == before
