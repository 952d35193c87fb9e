"""The Dockerfile's mlflow target, run for real: PostgreSQL backend, gs:// artifacts, Host checks.

The image's CMD is taken from the Dockerfile and run as is, except that it listens on
127.0.0.1 and a free port instead of 0.0.0.0:5000. PostgreSQL is Debian's, Cloud Storage is
fake-gcs-server: the same code paths as in the cluster.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import requests

from tests.deploy.dockerfile import command
from tests.support import servers

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def image_command() -> list[str]:
    cmd = command("mlflow")
    assert cmd is not None
    return cmd


def local_command(port: int) -> list[str]:
    shell, flag, script = image_command()
    assert (shell, flag) == ("sh", "-c")
    for fixed, local in (("--host 0.0.0.0", "--host 127.0.0.1"), ("--port 5000", f"--port {port}")):
        assert script.count(fixed) == 1, fixed
        script = script.replace(fixed, local)
    return [shell, flag, script]


@pytest.fixture(scope="module")
def postgres_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.postgres_server(tmp_path_factory.mktemp("postgres")) as uri:
        yield uri


def backend_uri(postgres_uri: str) -> str:
    """The form secret.example.yaml documents: SQLAlchemy 2.1 maps a bare postgresql:// to
    psycopg 3, while the images ship psycopg2-binary."""
    return postgres_uri.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture(scope="module")
def artifact_bucket(gcs_emulator: str) -> str:
    from houseprice.storage.gcs import make_client

    name = f"mlflow-{uuid.uuid4().hex[:10]}"
    make_client().create_bucket(name)
    return f"gs://{name}/artifacts"


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory, postgres_uri: str, artifact_bucket: str) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("mlflow-image")
    port = servers.free_port()
    env = {
        "PATH": f"{servers.VENV_BIN}:{os.environ['PATH']}",
        "MLFLOW_BACKEND_STORE_URI": backend_uri(postgres_uri),
        "BUCKET_3": artifact_bucket,
        "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
        "GOOGLE_CLOUD_PROJECT": "local",
        "HOME": str(workdir),
    }
    proc = servers.start(local_command(port), workdir / "mlflow.log", env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        servers.wait_for_http(f"{url}/health", proc, timeout=180)
        yield url
    finally:
        servers.stop(proc)


API = "/api/2.0/mlflow/experiments/search?max_results=1"


@pytest.mark.parametrize(
    "host",
    [None, "localhost:5000", "mlflow.ml.svc.cluster.local:5000", "mlflow:5000"],
    ids=["default", "localhost", "cluster-dns", "short-name"],
)
def test_allowed_hosts_reach_the_api(mlflow_url: str, host: str | None) -> None:
    headers = {"Host": host} if host else {}
    assert requests.get(f"{mlflow_url}{API}", headers=headers, timeout=10).status_code == 200


def test_an_unknown_host_is_refused_but_health_still_answers(mlflow_url: str) -> None:
    """The API refuses a Host outside --allowed-hosts (DNS rebinding); /health answers any
    Host, which is what the kubelet's probes (Host: the pod IP) rely on."""
    headers = {"Host": "unknown.example:5000"}
    assert requests.get(f"{mlflow_url}{API}", headers=headers, timeout=10).status_code == 403
    assert requests.get(f"{mlflow_url}/health", headers=headers, timeout=10).status_code == 200


def test_runs_are_stored_in_postgresql_and_artifacts_in_the_bucket(
    mlflow_url: str, postgres_uri: str, artifact_bucket: str, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    name = f"image-check-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(tracking_uri=mlflow_url)
    experiment_id = client.create_experiment(name)
    run = client.create_run(experiment_id)
    client.log_text(run.info.run_id, "served through the tracking server", "notes/check.txt")
    client.set_terminated(run.info.run_id)

    # The backend flag was honoured: the experiment is a row in PostgreSQL.
    with psycopg2.connect(postgres_uri) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT experiment_id FROM experiments WHERE name = %s", (name,))
        assert cursor.fetchone() == (int(experiment_id),)

    # The artifact went through the server (clients need no bucket access) into BUCKET_3.
    from houseprice.storage.gcs import make_client

    bucket_name, prefix = artifact_bucket.removeprefix("gs://").split("/", 1)
    blobs = [b.name for b in make_client().list_blobs(bucket_name, prefix=prefix)]
    assert any(b.endswith(f"{run.info.run_id}/artifacts/notes/check.txt") for b in blobs), blobs
    local = client.download_artifacts(run.info.run_id, "notes/check.txt", str(tmp_path))
    assert Path(local).read_text() == "served through the tracking server"


def test_a_missing_backend_uri_stops_the_server_with_its_name(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_BACKEND_STORE_URI"}
    env.update({"PATH": f"{servers.VENV_BIN}:{os.environ['PATH']}", "BUCKET_3": "gs://b"})
    done = subprocess.run(
        local_command(servers.free_port()), env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "MLFLOW_BACKEND_STORE_URI is not set" in done.stderr


def test_the_secret_template_documents_the_psycopg2_scheme() -> None:
    template = (ROOT / "k8s_ml" / "secret.example.yaml").read_text()
    assert "postgresql+psycopg2://USER:PASSWORD@HOST:5432/DATABASE" in template
    assert not re.search(r"postgresql://\w", template), "a bare postgresql:// example"
