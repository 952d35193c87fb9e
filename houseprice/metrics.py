"""Prometheus helpers that stay correct under several gunicorn workers.

With PROMETHEUS_MULTIPROC_DIR set, each worker writes its samples to files there
and `/metrics` aggregates them from a fresh registry; without it (tests, single
process) the default registry is served.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_payload(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The exposition text: every worker's samples, or `registry` in a single process."""
    if os.environ.get(MULTIPROC_ENV):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return generate_latest(collected), CONTENT_TYPE_LATEST
    return generate_latest(registry), CONTENT_TYPE_LATEST


def reset_multiproc_dir() -> None:
    """Wipe samples left by a previous run (called once, before workers fork)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return
    path = Path(directory)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def mark_worker_dead(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
