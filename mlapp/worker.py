"""gunicorn's gthread worker, keeping a busy keep-alive connection on its thread.

gthread hands every connection back to its main thread after each request: the
socket is re-registered with the poller, the next request wakes the main thread, which
queues the connection for a pool thread again. That is two thread hand-offs, a pipe
write and four system calls per request, about 0.1 ms of CPU, more than the model
itself costs per request of a batch. Clients that send their next request as soon as
they have the answer (webapp's sessions, a load balancer's pooled connections, a load
generator) are instead served again by the same thread when the next request arrives
within NEXT_REQUEST_WAIT (`KEEPALIVE_WAIT_MS`, default 2). A connection that pauses
longer, or has been served MAX_IN_A_ROW requests in a row, goes back to the poller as
before, so a few busy clients cannot hold every thread while new connections (probes,
say) wait.
"""

from __future__ import annotations

import os
import select

from gunicorn.workers.gthread import TConn, ThreadWorker

# Seconds a thread watches an answered connection for its next request (KEEPALIVE_WAIT_MS).
NEXT_REQUEST_WAIT = float(os.environ.get("KEEPALIVE_WAIT_MS", "2")) / 1000
MAX_IN_A_ROW = 16  # requests served on one hand-off before the poller takes it back


class KeepAliveThreadWorker(ThreadWorker):
    def handle(self, conn: TConn) -> object:
        keep = super().handle(conn)
        served = 1
        # `True` only after an HTTP/1.1 request whose connection stays open: deferred
        # new connections, HTTP/2 and closing ones keep gthread's own handling.
        while keep is True and self.alive and served < MAX_IN_A_ROW:
            readable, _, _ = select.select([conn.sock], [], [], NEXT_REQUEST_WAIT)
            if not readable:
                break
            keep = super().handle(conn)
            served += 1
        return keep
