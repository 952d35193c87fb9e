"""Settings and hooks shared by the three services' gunicorn.conf.py files.

Usage in a service: `from houseprice.gunicorn_hooks import *` then override.
"""

from __future__ import annotations

import os

from houseprice.metrics import mark_worker_dead, reset_multiproc_dir

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 10
keepalive = 5
accesslog = None  # the apps log each request themselves, with its request id
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# Streams to the container's stdout, not to a file.
capture_output = True


def on_starting(server) -> None:
    reset_multiproc_dir()


def child_exit(server, worker) -> None:
    mark_worker_dead(worker.pid)
