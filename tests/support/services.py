"""Start the platform's own services (webapp, mlapp, dbapp) as real gunicorn processes.

Contract every service follows: `<service>/app.py` defines `create_app(settings=None)`
and `<service>/gunicorn.conf.py` holds its gunicorn settings (BIND from the env).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.servers import VENV_BIN, free_port, start, stop, wait_for_http

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def gunicorn_service(
    service: str,
    env: dict[str, str],
    workdir: Path,
    workers: int = 2,
    port: int | None = None,
) -> Iterator[str]:
    """Run `<service>` under gunicorn on 127.0.0.1; yields its base URL once /health answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    metrics_dir = workdir / f"{service}-prom"
    proc = start(
        [
            str(VENV_BIN / "gunicorn"),
            "-c",
            str(ROOT / service / "gunicorn.conf.py"),
            f"{service}.app:create_app()",
        ],
        workdir / f"{service}.log",
        env={
            **env,
            "BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        },
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", proc, timeout=60)
        # With preload_app a first worker answers within milliseconds of its fork, while
        # gunicorn may not have forked the next one yet: wait for all of them.
        _wait_for_workers(proc.pid, workers)
        yield url
    finally:
        stop(proc)


def _wait_for_workers(master: int, workers: int, timeout: float = 60) -> None:
    children = Path(f"/proc/{master}/task/{master}/children")
    deadline = time.monotonic() + timeout
    while len(children.read_text().split()) < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"gunicorn {master} has not forked {workers} workers")
        time.sleep(0.05)


def settings_env(settings) -> dict[str, str]:
    """The environment that reproduces `settings` in a child process."""
    from dataclasses import asdict

    return {key: str(value) for key, value in asdict(settings).items()}
