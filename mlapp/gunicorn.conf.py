"""gunicorn settings for mlapp: the shared base, on port 8001 by default."""

import os

from houseprice.gunicorn_hooks import *  # noqa: F403

bind = os.environ.get("BIND", "0.0.0.0:8001")


def post_worker_init(worker) -> None:
    """Start loading the champion as soon as a worker exists, not on its first request.

    Runs in the worker, after fork: the poller thread lives in the process it serves.
    """
    store = getattr(worker.wsgi, "extensions", {}).get("mlapp.store")
    if store is not None:
        store.ensure_started()
