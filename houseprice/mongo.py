"""MongoDB access (pymongo only) and the two collections' document shapes.

Production points MONGO_URI at any MongoDB (Atlas, in-cluster); locally and in
tests it points at nx-27017, a MongoDB wire-protocol server on SQLite. Queries
stay portable: explicit values instead of null-matching, nothing server-specific.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection

from houseprice.settings import Settings

# Corrections carry an explicit boolean rather than a null `consumed_in`: the
# data job selects {"consumed": False}, which every Mongo-wire server matches alike.
PENDING = {"consumed": False}


def connect(settings: Settings, timeout_ms: int = 3000, **options: Any) -> MongoClient:
    """A client with bounded timeouts; `options` go to MongoClient (e.g. event_listeners)."""
    return MongoClient(
        settings.MONGO_URI,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms, 10_000),
        tz_aware=True,
        appname="houseprice",
        **options,
    )


def predictions(client: MongoClient, settings: Settings) -> Collection:
    return client[settings.MONGO_DB][settings.COLLECTION_1]


def corrections(client: MongoClient, settings: Settings) -> Collection:
    return client[settings.MONGO_DB][settings.COLLECTION_2]


def ensure_indexes(client: MongoClient, settings: Settings) -> None:
    """Idempotent; called by dbapp at start and by the data job."""
    preds = predictions(client, settings)
    preds.create_index([("request_id", ASCENDING)], unique=True, name="request_id_unique")
    preds.create_index([("created_at", DESCENDING)], name="created_at")
    corr = corrections(client, settings)
    corr.create_index([("request_id", ASCENDING)], unique=True, name="request_id_unique")
    corr.create_index([("created_at", DESCENDING)], name="created_at")
    corr.create_index([("consumed", ASCENDING), ("created_at", ASCENDING)], name="pending")
    corr.create_index([("prediction_id", ASCENDING)], name="prediction_id")
