"""MongoDB access (pymongo only) and the two collections' document shapes.

Production points MONGO_URI at any MongoDB (Atlas, in-cluster); locally and in
tests it points at nx-27017, a MongoDB wire-protocol server on SQLite. Queries
stay portable: explicit values instead of null-matching, nothing server-specific.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection

from houseprice.settings import Settings

# Corrections carry an explicit boolean rather than a null `consumed_in`: the
# data job selects {"consumed": False}, which every Mongo-wire server matches alike.
PENDING = {"consumed": False}

# -- held corrections and their review (one contract for the data job, dbapp, metrics) --------
# The screen holds an implausible correction: consumed (so no run takes it) but marked
# `held`, never deleted. An operator's review releases it (pending again, so the next
# run takes it and the screen lets it through) or rejects it for good.
HELD = {"held": True}
HELD_PREFIX = "held:"
REJECTED_PREFIX = "rejected:"
ACCEPTED = "accepted"
REJECTED = "rejected"
Decision = Literal["accepted", "rejected"]


def utc_now() -> datetime:
    """Now in UTC, to the millisecond MongoDB keeps (so what is written reads back equal)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def hold_update(reason: str, screen: dict[str, Any]) -> dict[str, Any]:
    """The update the data job applies to a correction it holds for review.

    `held_at` is the server's clock via $currentDate: nx-27017 0.8.1 stores a top-level
    datetime given to $set as text, and $currentDate is a date on every server. (It also
    hands back a top-level $set boolean as 0/1; queries on True/False still match.)
    """
    return {
        "$set": {
            "consumed": True,
            "consumed_in": f"{HELD_PREFIX}{reason}",
            "held": True,
            "screen": screen,
        },
        "$currentDate": {"held_at": True},
    }


def review_update(decision: Decision, by: str, reason: str, now: datetime) -> dict[str, Any]:
    """The update a review applies to a held correction: released, or rejected for good."""
    review = {"decision": decision, "by": by, "reason": reason, "at": now}
    if decision == ACCEPTED:
        fields = {"held": False, "consumed": False, "consumed_in": "", "review": review}
    else:
        fields = {
            "held": False,
            "consumed": True,
            "consumed_in": f"{REJECTED_PREFIX}{reason}",
            "review": review,
        }
    return {"$set": fields}


def released_by_review(collection: Collection, ids: list[Any]) -> set[Any]:
    """Of these correction ids, those an operator accepted: the screen lets them through."""
    if not ids:
        return set()
    found = collection.find({"_id": {"$in": ids}, "review.decision": ACCEPTED}, {"_id": 1})
    return {doc["_id"] for doc in found}


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
    corr.create_index([("held", ASCENDING), ("held_at", DESCENDING)], name="held")
