"""Every pymongo call dbapp makes, against the two fixed collections.

The client is created lazily in the process that uses it: gunicorn forks its
workers, and a MongoClient must never cross a fork. Indexes are ensured on the
first successful connection. Each call records its outcome in the metrics, so
mongo_health_status follows the database without a separate poller.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from pymongo import DESCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from dbapp.metrics import DB_ERRORS, MONGO_HEALTH, PoolConnections
from houseprice import mongo
from houseprice.settings import Settings

log = logging.getLogger("dbapp.repository")

Kind = Literal["predictions", "corrections"]
T = TypeVar("T")

# Short, so a request fails in about this long when MongoDB is away, not 30 s.
TIMEOUT_MS = 1500


class Repository:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._client: MongoClient | None = None
        self._pid = 0
        self._indexed = False

    # -- connection -------------------------------------------------------

    def client(self) -> MongoClient:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                # After a fork the parent's client is unusable here: start afresh.
                self._client = mongo.connect(
                    self.settings, timeout_ms=TIMEOUT_MS, event_listeners=[PoolConnections()]
                )
                self._pid = os.getpid()
                self._indexed = False
            return self._client

    def collection(self, kind: Kind) -> Collection:
        client = self.client()
        if not self._indexed:
            self._call("ensure_indexes", lambda: mongo.ensure_indexes(client, self.settings))
            self._indexed = True
        if kind == "predictions":
            return mongo.predictions(client, self.settings)
        return mongo.corrections(client, self.settings)

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    def ping(self) -> None:
        client = self.client()
        self._call("ping", lambda: client.admin.command("ping"))

    # -- documents --------------------------------------------------------

    def insert_once(self, kind: Kind, document: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert unless `request_id` is stored; returns (stored document, inserted?).

        The unique index decides, so two concurrent retries still make one document.
        """
        col = self.collection(kind)
        for _ in range(2):
            with self._recorded("insert"):
                try:
                    col.insert_one(dict(document))  # a copy: insert_one adds `_id`
                    return document, True
                except DuplicateKeyError:
                    pass
            existing = self.get(kind, document["request_id"])
            if existing is not None:
                return existing, False
        raise PyMongoError(f"request_id {document['request_id']!r} is taken but cannot be read")

    def get(self, kind: Kind, request_id: str) -> dict[str, Any] | None:
        col = self.collection(kind)
        return self._call("find", lambda: col.find_one({"request_id": request_id}, {"_id": 0}))

    def page(self, kind: Kind, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        """Newest first; `_id` breaks ties between documents of the same millisecond."""
        col = self.collection(kind)

        def run() -> tuple[list[dict[str, Any]], int]:
            # Collection metadata, not a scan: count_documents({}) costs a full
            # aggregation (over 100 ms at a few hundred documents on nx-27017).
            total = col.estimated_document_count()
            cursor = (
                col.find({}, {"_id": 0})
                .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
                .skip((page - 1) * per_page)
                .limit(per_page)
            )
            return list(cursor), total

        return self._call("find", run)

    # -- review of held corrections ---------------------------------------

    def held_page(self, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        """Held corrections, most recently held first, and how many are held in all."""
        col = self.collection("corrections")

        def run() -> tuple[list[dict[str, Any]], int]:
            cursor = (
                col.find(mongo.HELD, {"_id": 0})
                .sort([("held_at", DESCENDING), ("_id", DESCENDING)])
                .skip((page - 1) * per_page)
                .limit(per_page)
            )
            return list(cursor), col.count_documents(mongo.HELD)

        return self._call("find", run)

    def review(
        self, request_id: str, decision: mongo.Decision, by: str, reason: str
    ) -> tuple[dict[str, Any] | None, bool]:
        """Decide a held correction; (the document after, or as it is if not held; decided?).

        Only a correction still held changes, so two operators deciding at once cannot
        both win: the second one sees it decided. (None, False): no such correction.
        """
        col = self.collection("corrections")
        update = mongo.review_update(decision, by, reason, mongo.utc_now())
        after = self._call(
            "update",
            lambda: col.find_one_and_update(
                {"request_id": request_id, **mongo.HELD},
                update,
                projection={"_id": 0},
                return_document=ReturnDocument.AFTER,
            ),
        )
        if after is not None:
            return after, True
        return self.get("corrections", request_id), False

    # -- bookkeeping ------------------------------------------------------

    def _call(self, operation: str, func: Callable[[], T]) -> T:
        with self._recorded(operation):
            return func()

    @contextmanager
    def _recorded(self, operation: str) -> Iterator[None]:
        try:
            yield
        except DuplicateKeyError:
            MONGO_HEALTH.set(1)  # the server answered; the caller handles the duplicate
            raise
        except ConnectionFailure:
            DB_ERRORS.labels(operation=operation).inc()
            MONGO_HEALTH.set(0)
            raise
        except PyMongoError:
            DB_ERRORS.labels(operation=operation).inc()
            raise
        MONGO_HEALTH.set(1)
