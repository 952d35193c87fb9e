"""Admin endpoints to review the corrections the data job held as implausible.

Every route needs `Authorization: Bearer <ADMIN_TOKEN>`. Accepting releases a held
correction to the next dataset version; rejecting keeps it out for good, with who and
why. Nothing is deleted. The document shapes are houseprice.mongo's review contract.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from dbapp import api
from dbapp.documents import public, validate_review
from dbapp.records import json_body, repository
from houseprice import mongo
from houseprice.contract import REQUEST_ID, REQUEST_ID_PROBLEM, query_values
from houseprice.web import admin_only, current_request_id, validation_error

log = logging.getLogger("dbapp.review")

bp = Blueprint("review", __name__, url_prefix="/admin/corrections")


@bp.get("/held")
@api.LIST_HELD
@admin_only
def list_held_corrections():
    page, per_page = query_values()["page"], query_values()["per_page"]
    items, total = repository().held_page(page, per_page)
    return jsonify(
        items=[public(item) for item in items], page=page, per_page=per_page, total=total
    )


@bp.post("/<request_id>/accept")
@api.ACCEPT_HELD
@admin_only
def accept_held_correction(request_id: str):
    return _decide(request_id, mongo.ACCEPTED)


@bp.post("/<request_id>/reject")
@api.REJECT_HELD
@admin_only
def reject_held_correction(request_id: str):
    return _decide(request_id, mongo.REJECTED)


def _decide(request_id: str, decision: mongo.Decision):
    if not REQUEST_ID.fullmatch(request_id):
        return validation_error({"request_id": REQUEST_ID_PROBLEM})
    clean, errors = validate_review(json_body(), rejecting=decision == mongo.REJECTED)
    if errors or clean is None:
        return validation_error(errors)
    document, decided = repository().review(request_id, decision, clean["by"], clean["reason"])
    if document is None:
        return jsonify(
            error="not found",
            message=f"no correction has request_id {request_id!r}",
            request_id=current_request_id(),
        ), 404
    if not decided:
        return jsonify(
            error="conflict",
            message=f"correction {request_id!r} is not held for review ({_state(document)})",
            fields={"request_id": "is not held for review"},
            request_id=current_request_id(),
        ), 409
    log.info(
        "request_id=%s correction %s %s by %r: %r",
        current_request_id(),
        request_id,
        decision,
        clean["by"],
        clean["reason"],
    )
    return jsonify(public(document))


def _state(document: dict) -> str:
    review = document.get("review")
    if isinstance(review, dict):
        return f"already {review.get('decision')} by {review.get('by')!r}"
    if document.get("consumed"):
        return f"consumed in {document.get('consumed_in')!r}"
    return "pending, not screened yet"
