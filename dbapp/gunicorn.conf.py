"""gunicorn settings for dbapp: the platform's shared hooks, on port 8002."""

import os
import tempfile

# Metrics from several workers are only summed in multiprocess mode, which
# prometheus-client picks when it is first imported (by the hooks below). Containers
# set the directory; a bare `gunicorn` run gets a private one rather than wrong numbers.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), f"dbapp-metrics-{os.getpid()}")
)

from houseprice.gunicorn_hooks import *  # noqa: F403

bind = os.environ.get("BIND", "0.0.0.0:8002")

# Threads: a request waits on MongoDB; other requests are served meanwhile.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
