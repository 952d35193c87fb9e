"""gunicorn's gthread worker, made to share keep-alive connections fairly and cheaply.

Two changes, both for clients that keep their connection open and send requests one
after another (webapp's sessions, a load balancer's pooled connections, a load
generator):

- **Spread over the workers.** With one listening socket the worker that wakes first
  takes a new connection, and keeps it: 8 such clients were seen split 0/8 between two
  workers, one of them idle while the other served at half the machine's throughput.
  Each worker publishes how many connections it holds in a small table shared by the
  master's forks, and leaves a new connection to a live peer that holds fewer.
- **Kept on their thread.** gthread hands every connection back to its main thread
  after each request (re-registered with the poller, woken, queued for a pool thread
  again): two thread hand-offs, a pipe write and four system calls per request. A
  connection whose next request arrives within NEXT_REQUEST_WAIT (`KEEPALIVE_WAIT_MS`,
  default 2) is served again by the same thread. One that pauses longer, or has been
  served MAX_IN_A_ROW requests in a row, goes back to the poller as before, so a few
  busy clients cannot hold every thread while new connections (probes, say) wait.
"""

from __future__ import annotations

import mmap
import os
import select
import socket
import struct
import time
from concurrent.futures import Future

from gunicorn.workers.gthread import TConn, ThreadWorker

# Seconds a thread watches an answered connection for its next request (KEEPALIVE_WAIT_MS).
NEXT_REQUEST_WAIT = float(os.environ.get("KEEPALIVE_WAIT_MS", "2")) / 1000
MAX_IN_A_ROW = 16  # requests served on one hand-off before the poller takes it back

# One slot per worker: (pid, connections held, when published). Created when gunicorn's
# master imports this class, so every worker it forks maps the same memory.
_SLOT = struct.Struct("iid")
_SLOTS = 256
_TABLE = mmap.mmap(-1, _SLOT.size * _SLOTS)
STALE_AFTER = 5.0  # seconds: a peer silent this long (stuck, or gone) is not waited for


class KeepAliveThreadWorker(ThreadWorker):
    def init_process(self) -> None:
        self._slot = _claim_slot(os.getpid())
        self._publish()
        super().init_process()

    # -- spreading connections

    def accept(self, listener: socket.socket) -> None:
        fewest = _fewest_elsewhere(self._slot)
        if fewest is not None and self.nr_conns > fewest:
            # A live peer holds fewer: stop accepting until the next turn of the event
            # loop, so that it takes this connection.
            self.set_accept_enabled(False)
            return
        super().accept(listener)
        self._publish()

    def finish_request(self, conn: TConn, fs: Future) -> None:
        super().finish_request(conn, fs)
        self._publish()

    def murder_keepalived(self) -> None:
        super().murder_keepalived()
        self._publish()

    def notify(self) -> None:  # each turn of the event loop: also says "still alive"
        super().notify()
        self._publish()

    def _publish(self) -> None:
        if getattr(self, "_slot", None) is not None:
            _SLOT.pack_into(_TABLE, self._slot * _SLOT.size, os.getpid(), self.nr_conns,
                            time.monotonic())  # fmt: skip

    # -- keeping a busy connection on its thread

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


def _claim_slot(pid: int) -> int | None:
    """A free slot (never used, or its worker gone) for this worker; None if all taken."""
    for slot in range(_SLOTS):
        owner, _, _ = _SLOT.unpack_from(_TABLE, slot * _SLOT.size)
        if owner == 0 or owner == pid or not _alive(owner):
            _SLOT.pack_into(_TABLE, slot * _SLOT.size, pid, 0, time.monotonic())
            return slot
    return None


def _fewest_elsewhere(mine: int | None) -> int | None:
    """The fewest connections a live, recently heard-from peer holds (None: no peer)."""
    now = time.monotonic()
    fewest = None
    for slot in range(_SLOTS):
        if slot == mine:
            continue
        owner, held, published = _SLOT.unpack_from(_TABLE, slot * _SLOT.size)
        if owner == 0 or now - published > STALE_AFTER or not _alive(owner):
            continue
        fewest = held if fewest is None else min(fewest, held)
    return fewest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
