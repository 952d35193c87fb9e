"""MLflow helpers against a real tracking server."""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import threading
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from houseprice import registry
from tests.support.servers import free_port


@pytest.fixture
def client(mlflow_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)


def test_reachable_server_passes(mlflow_uri):
    registry.check_reachable(mlflow_uri)
    registry.check_reachable("sqlite:///nowhere.db")  # database URIs are not probed


def test_unreachable_server_names_the_address():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(registry.TrackingUnavailable, match=rf"{uri} is unreachable"):
        registry.check_reachable(uri, timeout=2)


def test_a_server_that_is_not_healthy_is_refused():
    class Forbidden(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(403)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_port}"
        with pytest.raises(registry.TrackingUnavailable, match=r"answered 403.*allowed-hosts"):
            registry.check_reachable(uri)
    finally:
        server.shutdown()
        server.server_close()


def test_password_is_not_shown():
    assert registry.redact("postgresql://u:secret@db/x") == "postgresql://u:***@db/x"
    assert registry.redact("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_client_timeouts_default_low_but_stay_overridable(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "")  # recorded, so restored afterwards
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    registry.configure_client_timeouts()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "20"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "5"


def test_ensure_experiment_creates_once_and_restores(client, unique_name):
    name = registry.experiment_name(unique_name, "linear")
    assert name == f"{unique_name}/linear"
    first = registry.ensure_experiment(client, name)
    assert registry.ensure_experiment(client, name) == first
    client.delete_experiment(first)
    assert registry.ensure_experiment(client, name) == first
    assert client.get_experiment(first).lifecycle_stage == "active"


def test_last_dataset_version_counts_finished_runs_only(client, mlflow_uri, unique_name):
    experiment_id = registry.ensure_experiment(client, unique_name)
    assert registry.last_dataset_version(client, experiment_id) is None
    mlflow.set_tracking_uri(mlflow_uri)
    for version in ("v2", "v10", "v9"):
        with mlflow.start_run(experiment_id=experiment_id, tags={"dataset_version": version}):
            pass
    with (
        contextlib.suppress(RuntimeError),
        mlflow.start_run(experiment_id=experiment_id, tags={"dataset_version": "v11"}),
    ):
        raise RuntimeError("training crashed")  # the run ends FAILED
    assert registry.trained_dataset_versions(client, experiment_id) == ["v2", "v9", "v10"]
    assert registry.last_dataset_version(client, experiment_id) == "v10"


def test_git_commit(monkeypatch, tmp_path):
    monkeypatch.setenv("GIT_COMMIT", "abc123")
    assert registry.git_commit() == "abc123"
    monkeypatch.delenv("GIT_COMMIT")
    repo = Path(__file__).resolve().parents[2]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert registry.git_commit(repo) == head
    assert registry.git_commit(tmp_path) == "unknown"  # not a repository


def test_no_champion_before_anything_is_registered(client, unique_name):
    assert registry.champion_version(client, f"absent-{unique_name}") is None
    assert registry.model_versions(client, f"absent-{unique_name}") == []
    assert registry.latest_by_folder(client, f"absent-{unique_name}") == {}


def test_find_champion_and_download_follow_the_alias(client, mlflow_uri, unique_name, tmp_path):
    import mlflow.sklearn
    import numpy as np
    from sklearn.dummy import DummyRegressor

    name = f"contract-{unique_name}"
    assert registry.find_champion(mlflow_uri, name) is None
    mlflow.set_tracking_uri(mlflow_uri)
    with mlflow.start_run(experiment_id=registry.ensure_experiment(client, name)):
        model = DummyRegressor(constant=5.0, strategy="constant").fit([[0.0]], [5.0])
        info = mlflow.sklearn.log_model(model, name="model")
    version = mlflow.register_model(info.model_uri, name, tags={registry.TAG_FOLDER: "dummy"})
    assert registry.find_champion(mlflow_uri, name) is None  # registered, no alias yet
    client.set_registered_model_alias(name, registry.CHAMPION, version.version)
    champion = registry.find_champion(mlflow_uri, name)
    assert champion.version == str(version.version)
    assert champion.tags[registry.TAG_FOLDER] == "dummy" and champion.run_id
    local = registry.download_version(client, name, champion.version, tmp_path)
    assert mlflow.sklearn.load_model(local).predict(np.zeros((1, 1)))[0] == 5.0
