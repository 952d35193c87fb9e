"""The HTTP clients against a real dbapp, a refused port, a silent socket and a wrong server."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.webapp.helpers import closed_url
from tests.webapp.test_forms import HOUSE
from webapp.clients import DbappClient, DependencyError, MlappClient, Prediction, Rejected
from webapp.forms import read_features

FEATURES = read_features(HOUSE).clean


def _prediction() -> Prediction:
    model = {"name": "house-price", "version": "3", "dataset_version": "v2"}
    return Prediction(uuid.uuid4().hex, 456_789.0, model)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def test_dbapp_stores_a_prediction_and_its_correction_once(dbapp_url, session):
    db = DbappClient(dbapp_url, 5, session)
    prediction = _prediction()
    db.save_prediction(prediction, FEATURES, "req-1")
    db.save_prediction(prediction, FEATURES, "req-1")  # a retry is not an error
    stored = session.get(f"{dbapp_url}/predictions/{prediction.request_id}", timeout=5).json()
    assert stored["price"] == 456_789.0
    assert stored["model_version"] == "3"
    assert stored["features"] == FEATURES

    correction_id = uuid.uuid4().hex
    assert db.save_correction(correction_id, prediction.request_id, FEATURES, 500_000, "r") is True
    assert db.save_correction(correction_id, prediction.request_id, FEATURES, 500_000, "r") is False
    with pytest.raises(DependencyError) as conflict:
        db.save_correction(correction_id, prediction.request_id, FEATURES, 510_000, "r")
    assert conflict.value.kind == "conflict"

    page = db.list("corrections", 1, 100, "r")
    assert [c["corrected_price"] for c in page.items if c["request_id"] == correction_id] == [
        500_000
    ]
    assert page.per_page == 100 and page.total >= 1


def test_dbapp_rejection_names_the_field(dbapp_url, session):
    db = DbappClient(dbapp_url, 5, session)
    with pytest.raises(Rejected) as rejected:
        db.save_correction(uuid.uuid4().hex, "no-such-prediction", FEATURES, 500_000, "r")
    assert "prediction_id" in rejected.value.fields
    assert rejected.value.status == 422


def test_list_pages_count_from_one(dbapp_url, session):
    db = DbappClient(dbapp_url, 5, session)
    for _ in range(3):
        db.save_prediction(_prediction(), FEATURES, "r")
    first = db.list("predictions", 1, 2, "r")
    assert len(first.items) == 2
    assert first.pages == -(-first.total // 2)
    last = db.list("predictions", first.pages, 2, "r")
    assert 1 <= len(last.items) <= 2


def test_request_id_reaches_the_service(dbapp_url, session):
    db = DbappClient(dbapp_url, 5, session)
    response = db.call("GET", "/health", "trace-me-123")
    assert response.headers["X-Request-ID"] == "trace-me-123"


@pytest.mark.parametrize("client_class", [MlappClient, DbappClient])
def test_a_refused_connection_is_unavailable(client_class, session):
    client = client_class(closed_url(), 2, session)
    with pytest.raises(DependencyError) as failure:
        if client_class is MlappClient:
            client.predict(FEATURES, "r")
        else:
            client.list("predictions", 1, 20, "r")
    assert failure.value.kind == "unavailable"
    assert failure.value.dependency == client.name


def test_a_server_that_never_answers_times_out(session):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nothing is ever read
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(DependencyError) as failure:
            MlappClient(url, 0.3, session).predict(FEATURES, "r")
    assert failure.value.kind == "unavailable"
    assert "no answer in 0.3s" in failure.value.detail


def test_a_server_without_the_endpoint_is_a_bad_response(dbapp_url, session):
    # dbapp has no /predict: a real, wrong answer (404) from a real server.
    with pytest.raises(DependencyError) as failure:
        MlappClient(dbapp_url, 5, session).predict(FEATURES, "r")
    assert failure.value.kind == "bad_response"
    assert failure.value.status == 404
