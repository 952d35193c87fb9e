"""The local runner's configuration, port checks and Prometheus config."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from houseprice.settings import Settings
from local_runner.config import LocalConfig, LocalConfigError, busy_ports
from local_runner.pipeline import seed_once
from local_runner.prometheus import write_config
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_ports_and_data_dir_come_from_the_environment(tmp_path: Path) -> None:
    config = LocalConfig.from_env({"WEBAPP_PORT": "18000", "HOUSEPRICE_DATA_DIR": str(tmp_path)})
    assert config.ports["webapp"] == 18000
    assert config.ports["mlapp"] == 8001
    env = config.child_env({"PATH": "/usr/bin"})
    assert env["MLAPP_URL"] == "http://127.0.0.1:8001"
    assert env["BUCKET_2"] == str(tmp_path / "bucket_2")
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"  # no process of the platform phones home
    settings = Settings.from_env(env)
    assert settings.MONGO_URI == "mongodb://127.0.0.1:27017"


def test_an_exported_setting_overrides_the_local_default(tmp_path: Path) -> None:
    config = LocalConfig.from_env({"HOUSEPRICE_DATA_DIR": str(tmp_path)})
    env = config.child_env({"BATCH_SIZE": "5", "MONGO_URI": "mongodb://db.example:27017"})
    assert env["BATCH_SIZE"] == "5"
    assert env["MONGO_URI"] == "mongodb://db.example:27017"


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("WEBAPP_PORT", "http", "WEBAPP_PORT='http'"),
        ("MLAPP_PORT", "70000", "MLAPP_PORT"),
        ("PIPELINE_INTERVAL_SECONDS", "0", "PIPELINE_INTERVAL_SECONDS"),
    ],
)
def test_bad_local_values_name_the_variable(var: str, value: str, message: str) -> None:
    with pytest.raises(LocalConfigError, match=message):
        LocalConfig.from_env({var: value})


def test_busy_port_is_detected() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        idle = free_port()
        assert busy_ports({"webapp": taken, "mlapp": idle}) == [("webapp", taken)]


def test_up_refuses_a_port_in_use_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOUSEPRICE_DATA_DIR": str(tmp_path),
            "WEBAPP_PORT": str(taken),
        }
        for var in ("MLAPP_PORT", "DBAPP_PORT", "MLFLOW_PORT", "MONGO_PORT", "PROMETHEUS_PORT"):
            env[var] = str(free_port())
        done = subprocess.run(
            [sys.executable, "-m", "local_runner", "up"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"port {taken} (webapp) is already in use" in done.stderr
    assert "WEBAPP_PORT=<port>" in done.stderr
    assert not (tmp_path / "mongo").exists()  # nothing was started


def test_up_rejects_an_invalid_setting_before_starting(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOUSEPRICE_DATA_DIR": str(tmp_path), "BATCH_SIZE": "abc"}
    done = subprocess.run(
        [sys.executable, "-m", "local_runner", "up"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "BATCH_SIZE='abc'" in done.stderr
    assert "Traceback" not in done.stderr


def test_pipeline_command_says_when_the_platform_is_not_running(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOUSEPRICE_DATA_DIR": str(tmp_path),
        "MLFLOW_PORT": str(free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "local_runner", "pipeline"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "make up" in done.stderr


def test_sample_is_seeded_only_once(tmp_path: Path) -> None:
    config = LocalConfig.from_env({"HOUSEPRICE_DATA_DIR": str(tmp_path)})
    env = config.child_env({})
    assert seed_once(config, env) is True
    seeded = tmp_path / "bucket_1" / config.seed_csv.name
    assert seeded.read_bytes() == config.seed_csv.read_bytes()
    seeded.unlink()  # the data job archives it; a restart must not bring it back
    assert seed_once(config, env) is False
    assert not seeded.exists()


def test_prometheus_config_scrapes_every_service_and_passes_promtool(tmp_path: Path) -> None:
    config = LocalConfig.from_env({"HOUSEPRICE_DATA_DIR": str(tmp_path), "MLAPP_PORT": "18001"})
    path = write_config(config)
    document = yaml.safe_load(path.read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in document["scrape_configs"]
    }
    assert targets["mlapp"] == ["127.0.0.1:18001"]
    assert set(targets) == {"webapp", "mlapp", "dbapp"}
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (make test installs it)"
    check = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_pipeline_order_with_and_without_a_champion(tmp_path: Path, monkeypatch) -> None:
    """The fastest folder starts alongside the data job; then train-all, then promote."""
    from local_runner import pipeline

    config = LocalConfig.from_env({"HOUSEPRICE_DATA_DIR": str(tmp_path)})
    events: list[tuple[str, list[str]]] = []
    waited: list[int] = []

    class Step:
        def __init__(self, name: str, cmd: list[str], code: int) -> None:
            self.name, self.cmd, self.code = name, cmd, code
            events.append(("start", cmd[2:]))

        def wait(self) -> int:
            events.append(("end", self.cmd[2:]))
            return self.code

        def stop(self) -> None:
            events.append(("stopped", self.cmd[2:]))

    first = [
        "training", "train", "log_ridge", "--unless-champion", "--promote",
        "--wait-for-mlflow", "300", "--wait-for-data", "300",
    ]  # fmt: skip
    data_job = ["data_collection_and_versioning"]
    for first_code in (0, pipeline.NO_SHORTCUT):
        events.clear()
        monkeypatch.setattr(
            pipeline,
            "_Step",
            lambda name, cmd, env, code=first_code: Step(name, cmd, code if "train" in cmd else 0),
        )
        assert pipeline.run_pipeline(config, {}, before_training=lambda: waited.append(len(events)))
        assert events == [
            ("start", first),  # before the data job: its imports overlap the data job's
            ("start", data_job),
            ("end", data_job),
            ("end", first),
            ("start", ["training", "train-all"]),
            ("end", ["training", "train-all"]),
            ("start", ["promotion", "promote"]),
            ("end", ["promotion", "promote"]),
        ]
    assert waited == [4, 4]  # MLflow is waited for only before train-all

    # A failed data job stops the first model's process and the run.
    events.clear()
    monkeypatch.setattr(
        pipeline, "_Step", lambda name, cmd, env: Step(name, cmd, 1 if "data_" in cmd[2] else 0)
    )
    assert not pipeline.run_pipeline(config, {})
    assert events == [("start", first), ("start", data_job), ("end", data_job), ("stopped", first)]
    # A failed first model fails the run, but train-all and promotion still run.
    events.clear()
    monkeypatch.setattr(
        pipeline, "_Step", lambda name, cmd, env: Step(name, cmd, 1 if "train" in cmd else 0)
    )
    assert not pipeline.run_pipeline(config, {})
    assert ("end", ["promotion", "promote"]) in events
    assert pipeline.first_folder({"FIRST_CHAMPION_FOLDER": "no_such_folder"}) is None
