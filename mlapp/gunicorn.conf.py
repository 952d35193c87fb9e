"""gunicorn settings for mlapp: the shared base, on port 8001 by default."""

import os

from houseprice.gunicorn_hooks import *  # noqa: F403

bind = os.environ.get("BIND", "0.0.0.0:8001")
# Threads, so that concurrent requests of a worker wait together and are predicted as
# one batch (mlapp.batching); a sync worker would serve them one after another. gthread,
# with a busy keep-alive connection served again by its thread (mlapp/worker.py).
worker_class = "mlapp.worker.KeepAliveThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
# Import the app (MLflow, scikit-learn: about 2.5 s of CPU) once, in the master, and fork
# the workers from it, rather than once per worker. The model store, its poller and the
# batcher start after the fork, in each worker (post_worker_init).
preload_app = True


def on_starting(server) -> None:
    """Nothing more: with preload_app the app (and its metric files) exists before this
    hook runs, so stale samples were wiped already, when this file was read (below)."""


reset_multiproc_dir()  # noqa: F405 (from the shared hooks)

# One OpenMP thread per worker: the workers already use the cores, and thread pools
# spun up for a one-row prediction (e.g. gradient-boosted trees) cost more than the
# work (measured about 4x slower per request). Set before any worker imports numpy.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def post_worker_init(worker) -> None:
    """Start loading the champion (and the batcher) as soon as a worker exists.

    Runs in the worker, after fork: the poller thread lives in the process it serves.
    """
    extensions = getattr(worker.wsgi, "extensions", {})
    for part in ("mlapp.store", "mlapp.batcher"):
        if extensions.get(part) is not None:
            extensions[part].ensure_started()
