"""Admin review of held corrections, against nx-27017: token, list, accept, reject, bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from pymongo import MongoClient

from houseprice import mongo
from houseprice.settings import Settings
from tests.dbapp.conftest import prediction_body
from tests.support.openapi import conforms, served_document

ADMIN = {"Authorization": "Bearer local-admin-token"}  # the local default ADMIN_TOKEN
SCREEN = {"max_ratio": 3.0, "ratio_to_prediction": 40.0, "dataset_version": "v1"}


@pytest.fixture
def corrections(settings: Settings):
    client = MongoClient(settings.MONGO_URI, tz_aware=True)
    yield mongo.corrections(client, settings)
    client.close()


def store_correction(client: FlaskClient, price: float = 12_000_000.0) -> str:
    prediction = prediction_body()
    assert client.post("/predictions", json=prediction).status_code == 201
    request_id = f"corr-{uuid.uuid4().hex[:12]}"
    body = {
        "request_id": request_id,
        "prediction_id": prediction["request_id"],
        "corrected_price": price,
    }
    assert client.post("/corrections", json=body).status_code == 201
    return request_id


def hold(corrections, request_id: str) -> None:
    """What the data job's screen does to an implausible correction."""
    update = mongo.hold_update("far_from_prediction_and_zip", SCREEN)
    assert corrections.update_one({"request_id": request_id}, update).modified_count == 1


def held_ids(client: FlaskClient, **params: Any) -> list[str]:
    answer = client.get("/admin/corrections/held", headers=ADMIN, query_string=params)
    assert answer.status_code == 200, answer.json
    return [item["request_id"] for item in answer.json["items"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/admin/corrections/held"),
        ("post", "/admin/corrections/x/accept"),
        ("post", "/admin/corrections/x/reject"),
    ],
)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "local-admin-token"}]
)
def test_every_review_endpoint_needs_the_admin_token(client, method, path, headers) -> None:
    answer = getattr(client, method)(path, headers=headers, json={"by": "x", "reason": "y"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_held_corrections_are_listed_with_what_decided(client, corrections) -> None:
    pending = store_correction(client, 310_000.0)
    first, second = store_correction(client), store_correction(client, 7_500.0)
    hold(corrections, first)
    hold(corrections, second)
    answer = client.get("/admin/corrections/held", headers=ADMIN)
    assert answer.status_code == 200
    body = answer.json
    assert body["total"] == 2 and (body["page"], body["per_page"]) == (1, 20)
    assert {item["request_id"] for item in body["items"]} == {first, second}
    assert pending not in held_ids(client)
    item = body["items"][0]
    assert item["held"] is True and item["consumed_in"] == "held:far_from_prediction_and_zip"
    assert item["screen"] == SCREEN
    assert item["held_at"].endswith("Z")
    assert conforms(served_document(client), body, "CorrectionPage") == []
    assert held_ids(client, per_page=1, page=2) and len(held_ids(client, per_page=1)) == 1


def test_accept_releases_a_held_correction_to_the_next_version(client, corrections) -> None:
    request_id = store_correction(client)
    hold(corrections, request_id)
    answer = client.post(
        f"/admin/corrections/{request_id}/accept",
        headers=ADMIN,
        json={"by": "dana", "reason": "the owner confirmed the sale"},
    )
    assert answer.status_code == 200, answer.json
    assert (answer.json["held"], answer.json["consumed"], answer.json["consumed_in"]) == (
        False,
        False,
        "",
    )
    review = answer.json["review"]
    assert (review["decision"], review["by"], review["reason"]) == (
        "accepted",
        "dana",
        "the owner confirmed the sale",
    )
    assert conforms(served_document(client), answer.json, "Correction") == []
    stored = corrections.find_one({"request_id": request_id})
    assert mongo.released_by_review(corrections, [stored["_id"]]) == {stored["_id"]}
    assert corrections.count_documents({"request_id": request_id, **mongo.PENDING}) == 1
    assert held_ids(client) == []
    # Decided once: a second decision is refused and changes nothing.
    again = client.post(
        f"/admin/corrections/{request_id}/reject", headers=ADMIN, json={"by": "eve", "reason": "no"}
    )
    assert again.status_code == 409
    assert "already accepted by 'dana'" in again.json["message"]
    assert corrections.find_one({"request_id": request_id})["review"]["by"] == "dana"


def test_reject_records_who_and_why_and_keeps_the_correction(client, corrections) -> None:
    request_id = store_correction(client)
    hold(corrections, request_id)
    answer = client.post(
        f"/admin/corrections/{request_id}/reject",
        headers=ADMIN,
        json={"by": "dana", "reason": "price typed with two extra zeros"},
    )
    assert answer.status_code == 200
    stored = corrections.find_one({"request_id": request_id})
    assert (stored["held"], stored["consumed"], stored["consumed_in"]) == (
        False,
        True,
        "rejected:price typed with two extra zeros",
    )
    assert stored["review"]["decision"] == "rejected" and stored["review"]["by"] == "dana"
    assert stored["review"]["at"].tzinfo is not None
    assert answer.json["review"]["at"].endswith("Z")
    assert held_ids(client) == []


def test_only_held_corrections_can_be_decided(client) -> None:
    pending = store_correction(client, 310_000.0)
    answer = client.post(f"/admin/corrections/{pending}/accept", headers=ADMIN, json={"by": "a"})
    assert answer.status_code == 409
    assert answer.json["fields"] == {"request_id": "is not held for review"}
    missing = client.post("/admin/corrections/nope/accept", headers=ADMIN, json={"by": "a"})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/admin/corrections/bad$id/accept", {"by": "a"}, "request_id"),
        ("/admin/corrections/x/accept", {}, "by"),
        ("/admin/corrections/x/accept", {"by": "  "}, "by"),
        ("/admin/corrections/x/accept", {"by": "a", "extra": 1}, "extra"),
        ("/admin/corrections/x/reject", {"by": "a"}, "reason"),
        ("/admin/corrections/x/reject", {"by": "a", "reason": 5}, "reason"),
        ("/admin/corrections/x/reject", {"by": {"$ne": ""}, "reason": "r"}, "by"),
        ("/admin/corrections/x/accept", [], "body"),
    ],
)
def test_bad_review_input_is_a_422_naming_the_field(client, path, body, field) -> None:
    answer = client.post(path, headers=ADMIN, json=body)
    assert answer.status_code == 422
    assert field in answer.json["fields"]


def test_bad_page_and_body_types_are_refused(client) -> None:
    answer = client.get("/admin/corrections/held", headers=ADMIN, query_string={"page": "0"})
    assert answer.status_code == 422 and "page" in answer.json["fields"]
    plain = client.post(
        "/admin/corrections/x/accept", headers=ADMIN, data="by=a", content_type="text/plain"
    )
    assert plain.status_code == 415


def test_the_review_endpoints_are_documented_as_admin_only(client) -> None:
    spec = served_document(client)
    for path in (
        "/admin/corrections/held",
        "/admin/corrections/{request_id}/accept",
        "/admin/corrections/{request_id}/reject",
    ):
        (operation,) = spec["paths"][path].values()
        assert operation["security"] == [{"adminToken": []}]
        assert "401" in operation["responses"]
    assert spec["components"]["securitySchemes"]["adminToken"]["scheme"] == "bearer"
