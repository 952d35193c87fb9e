"""Local ports, paths and the environment every local process receives."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CSV = REPO / "sample_dataset" / "house_sales_2014-05_to_06.csv"

# name -> (environment variable, default port)
PORTS: dict[str, tuple[str, int]] = {
    "webapp": ("WEBAPP_PORT", 8000),
    "mlapp": ("MLAPP_PORT", 8001),
    "dbapp": ("DBAPP_PORT", 8002),
    "mlflow": ("MLFLOW_PORT", 5000),
    "mongo": ("MONGO_PORT", 27017),
    "prometheus": ("PROMETHEUS_PORT", 9090),
    "pushgateway": ("PUSHGATEWAY_PORT", 9091),
}
PUSHGATEWAY_BIN = "prometheus-pushgateway"  # Debian's package of the Prometheus Pushgateway


class LocalConfigError(ValueError):
    pass


@dataclass(frozen=True)
class LocalConfig:
    data_dir: Path
    ports: dict[str, int]
    pipeline_interval: float
    seed_csv: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LocalConfig:
        env = dict(os.environ if environ is None else environ)
        ports = {}
        for name, (var, default) in PORTS.items():
            raw = env.get(var, str(default))
            if not raw.isdigit() or not 1 <= int(raw) <= 65535:
                raise LocalConfigError(f"{var}={raw!r}: must be a port number from 1 to 65535")
            ports[name] = int(raw)
        raw_interval = env.get("PIPELINE_INTERVAL_SECONDS", "300")
        try:
            interval = float(raw_interval)
        except ValueError:
            interval = -1
        if interval <= 0:
            raise LocalConfigError(
                f"PIPELINE_INTERVAL_SECONDS={raw_interval!r}: must be a number of seconds > 0"
            )
        seed = Path(env.get("HOUSEPRICE_SEED_CSV", str(SAMPLE_CSV))).resolve()
        data_dir = Path(env.get("HOUSEPRICE_DATA_DIR", str(REPO / ".data"))).resolve()
        return cls(data_dir=data_dir, ports=ports, pipeline_interval=interval, seed_csv=seed)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def child_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for every local process: DESIGN.md names wired to local ports/paths.

        Values the user already exported win, so any setting can be overridden.
        """
        env = dict(os.environ if base is None else base)
        venv_bin = str(Path(sys.executable).parent)
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
        env["HOUSEPRICE_DATA_DIR"] = str(self.data_dir)
        for name, (var, _) in PORTS.items():
            env[var] = str(self.ports[name])
        defaults = {
            "MONGO_URI": f"mongodb://127.0.0.1:{self.ports['mongo']}",
            "MLFLOW_TRACKING_URI": self.url("mlflow"),
            "MLAPP_URL": self.url("mlapp"),
            "DBAPP_URL": self.url("dbapp"),
            "BUCKET_1": str(self.data_dir / "bucket_1"),
            "BUCKET_2": str(self.data_dir / "bucket_2"),
            "BUCKET_3": str(self.data_dir / "bucket_3"),
            "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{self.data_dir / 'mlflow' / 'mlflow.db'}",
            "MODEL_POLL_SECONDS": "5",
            "PYTHONUNBUFFERED": "1",
            # MLflow's usage telemetry would send requests to mlflow-telemetry.io from
            # every process that imports it: nothing of the platform phones home.
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        if shutil.which(PUSHGATEWAY_BIN):  # the jobs push only where `up` starts one
            defaults["PUSHGATEWAY_URL"] = self.url("pushgateway")
        for key, value in defaults.items():
            env.setdefault(key, value)
        return env

    def make_dirs(self) -> None:
        for sub in (
            "mongo",
            "mlflow",
            "logs",
            "run",
            "prometheus/data",
            "pushgateway",
            "bucket_1",
            "bucket_2",
            "bucket_3",
        ):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)


def busy_ports(ports: dict[str, int]) -> list[tuple[str, int]]:
    """Ports something else already listens on (checked before starting anything)."""
    busy = []
    for name, port in ports.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append((name, port))
    return busy
