"""gunicorn settings for webapp: the shared hooks (multiprocess metrics), bound to $BIND."""

import os

from houseprice.gunicorn_hooks import *  # noqa: F403

bind = os.environ.get("BIND", "0.0.0.0:8000")

# Threads: a page waits on mlapp and dbapp; other pages are served meanwhile.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
