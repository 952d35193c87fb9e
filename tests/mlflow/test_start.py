"""mlflow/start.sh starts a real tracking server that refuses unknown Host headers."""

from __future__ import annotations

import os
from pathlib import Path

import requests

from tests.support import servers

SCRIPT = Path(__file__).resolve().parents[2] / "mlflow" / "start.sh"


def test_start_script_serves_the_api_and_checks_the_host_header(tmp_path):
    port = servers.free_port()
    env = {
        "PATH": f"{servers.VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "HOUSEPRICE_DATA_DIR": str(tmp_path / "data"),
        "MLFLOW_PORT": str(port),
        "MLFLOW_ALLOWED_HOSTS": f"127.0.0.1:{port},mlflow.test*",
    }
    proc = servers.start(["sh", str(SCRIPT)], tmp_path / "mlflow.log", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        servers.wait_for_http(f"{url}/health", proc, timeout=300)
        search = f"{url}/api/2.0/mlflow/experiments/search?max_results=5"
        assert requests.get(search, timeout=30).status_code == 200
        other = requests.get(search, headers={"Host": "mlflow.test:80"}, timeout=30)
        assert other.status_code == 200
        refused = requests.get(search, headers={"Host": "evil.example"}, timeout=30)
        assert refused.status_code == 403
        created = requests.post(
            f"{url}/api/2.0/mlflow/experiments/create", json={"name": "start-script"}, timeout=30
        )
        assert created.status_code == 200
    finally:
        servers.stop(proc)
    # Defaults: SQLite and the artifact directory under the data dir.
    assert (tmp_path / "data" / "mlflow" / "mlflow.db").stat().st_size > 0
    assert (tmp_path / "data" / "bucket_3").is_dir()
