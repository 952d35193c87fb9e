"""The held-corrections review page and the correction rate limit, through real gunicorn
processes (dbapp on nx-27017, webapp) and Debian's chromium."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, expect, sync_playwright
from pymongo import MongoClient
from pymongo.collection import Collection

from houseprice import mongo
from houseprice.settings import Settings, SettingsError
from tests.dbapp.conftest import prediction_body
from tests.support.browser import launch
from tests.support.services import gunicorn_service, settings_env
from tests.webapp.test_browser import artifacts
from webapp.app import create_app
from webapp.review import factor

TOKEN = "review-test-admin-token"
SCREEN = {
    "max_ratio": 3.0,
    "predicted_price": 300_000.0,
    "ratio_to_prediction": 40.0,
    "zip_scope": "WA 98103",
    "zip_sales": 57,
    "zip_price_per_sqft": 420.0,
    "expected_from_zip": 630_000.0,
    "ratio_to_zip": 19.0476,
    "dataset_version": "v1",
}


@dataclass(frozen=True)
class Running:
    settings: Settings
    dbapp_url: str
    webapp_url: str
    corrections: Collection


@pytest.fixture(scope="module")
def running(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    workdir = tmp_path_factory.mktemp("review")
    settings = Settings.from_env(
        {
            "HOUSEPRICE_DATA_DIR": str(workdir / "data"),
            "MONGO_URI": mongo_uri,
            "MONGO_DB": f"review_{uuid.uuid4().hex[:8]}",
            "ADMIN_TOKEN": TOKEN,
            "SECRET_KEY": uuid.uuid4().hex,
            "CORRECTION_RATE_LIMIT": "3 per minute",
        }
    )
    client = MongoClient(mongo_uri, tz_aware=True)
    with gunicorn_service("dbapp", settings_env(settings), workdir, workers=1) as dbapp_url:
        settings = dataclasses.replace(settings, DBAPP_URL=dbapp_url)
        with gunicorn_service("webapp", settings_env(settings), workdir, workers=1) as url:
            yield Running(settings, dbapp_url, url, mongo.corrections(client, settings))
    client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


def held_correction(running: Running, price: float) -> str:
    """A correction stored through dbapp, then held as the data job's screen does."""
    prediction = prediction_body()
    assert requests.post(f"{running.dbapp_url}/predictions", json=prediction, timeout=10).ok
    request_id = f"held-{uuid.uuid4().hex[:10]}"
    body = {
        "request_id": request_id,
        "prediction_id": prediction["request_id"],
        "corrected_price": price,
    }
    assert requests.post(f"{running.dbapp_url}/corrections", json=body, timeout=10).ok
    update = mongo.hold_update("far_from_prediction_and_zip", SCREEN)
    assert running.corrections.update_one({"request_id": request_id}, update).modified_count
    return request_id


@pytest.mark.browser
def test_an_operator_reviews_held_corrections_in_the_browser(running, browser) -> None:
    absurd, tiny = held_correction(running, 12_000_000), held_correction(running, 7_500)
    out: Path = artifacts()
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    # A page's own 4xx (a form with errors, a wrong token) is expected and not counted.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )

    page.goto(f"{running.webapp_url}/review/")
    expect(page.get_by_role("heading", name="Review held corrections")).to_be_visible()
    expect(page.get_by_text("$12,000,000")).to_have_count(0)  # nothing shown before sign-in
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the admin token")
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name=re.compile(r"Held \(2\)"))).to_be_visible()
    first = page.locator("section.panel", has_text=absurd)
    expect(first).to_contain_text("$12,000,000 for a house in")
    expect(first).to_contain_text("$300,000 (the correction is 40.0\u00d7 above)")
    expect(first).to_contain_text("$420 per sq ft over 57 sales in WA 98103; the correction")
    expect(first).to_contain_text("19.0\u00d7 above")
    page.screenshot(path=str(out / "review-1-held.png"), full_page=True)

    # Rejecting needs a reason: the page says so next to the field, and nothing changes.
    first.get_by_label("Your name").fill("dana")
    first.get_by_role("button", name="Reject").click()
    first = page.locator("section.panel", has_text=absurd)
    expect(first.locator(".error-message")).to_contain_text("Say why it is rejected")
    assert running.corrections.find_one({"request_id": absurd})["held"]
    first.get_by_label("Reason").fill("two extra zeros")
    first.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Correction {absurd} rejected")
    expect(page.get_by_role("heading", name=re.compile(r"Held \(1\)"))).to_be_visible()

    second = page.locator("section.panel", has_text=tiny)
    expect(second.get_by_label("Your name")).to_have_value("dana")  # remembered
    second.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Correction {tiny} accepted")
    expect(page.get_by_text("No correction is held for review.")).to_be_visible()
    page.screenshot(path=str(out / "review-2-decided.png"), full_page=True)

    rejected = running.corrections.find_one({"request_id": absurd})
    assert (rejected["consumed"], rejected["consumed_in"]) == (True, "rejected:two extra zeros")
    assert (rejected["review"]["decision"], rejected["review"]["by"]) == ("rejected", "dana")
    accepted = running.corrections.find_one({"request_id": tiny})
    assert (accepted["held"], accepted["consumed"], accepted["consumed_in"]) == (False, False, "")
    assert accepted["review"]["decision"] == "accepted"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    assert problems == []


def csrf_session(running: Running) -> tuple[requests.Session, str]:
    http = requests.Session()
    form = http.get(f"{running.webapp_url}/review/", timeout=10).text
    return http, re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)


def test_decisions_need_a_signed_in_session_and_a_csrf_token(running) -> None:
    request_id = held_correction(running, 12_000_000)
    http, csrf = csrf_session(running)
    form = {"csrf_token": csrf, "decision": "accept", "by": "mallory"}
    answer = http.post(f"{running.webapp_url}/review/{request_id}", data=form, timeout=10)
    assert answer.status_code == 401 and "Admin token" in answer.text
    signed = http.post(
        f"{running.webapp_url}/review/login", data={"csrf_token": csrf, "token": TOKEN}, timeout=10
    )
    assert signed.status_code == 200 and request_id in signed.text
    no_csrf = {k: v for k, v in form.items() if k != "csrf_token"}
    refused = http.post(f"{running.webapp_url}/review/{request_id}", data=no_csrf, timeout=10)
    assert refused.status_code == 400
    assert running.corrections.find_one({"request_id": request_id})["held"]
    # The session keeps a digest, never the token itself.
    assert TOKEN not in str(http.cookies.get_dict())
    done = http.post(f"{running.webapp_url}/review/{request_id}", data=form, timeout=10)
    assert done.status_code == 200 and f"Correction {request_id} accepted" in done.text


def test_the_correction_rate_limit_answers_a_clear_429_page(running) -> None:
    http, csrf = csrf_session(running)
    statuses = []
    for _ in range(5):
        answer = http.post(
            f"{running.webapp_url}/correction",
            data={"csrf_token": csrf, "prediction": "forged", "corrected_price": "1"},
            timeout=10,
        )
        statuses.append(answer.status_code)
    assert statuses == [400, 400, 400, 429, 429]  # "3 per minute"; the form is refused below it
    assert 1 <= int(answer.headers["Retry-After"]) <= 61
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<h1>Too many corrections</h1>" in answer.text
    assert "This correction was NOT saved" in answer.text and "3 per 1 minute" in answer.text
    # Only corrections are limited: the other pages still answer.
    assert http.get(f"{running.webapp_url}/review/", timeout=10).status_code == 200


def test_signing_in_is_rate_limited_against_guessing_the_token(running) -> None:
    http, csrf = csrf_session(running)
    statuses = []
    for attempt in range(12):
        answer = http.post(
            f"{running.webapp_url}/review/login",
            data={"csrf_token": csrf, "token": f"guess-{attempt}"},
            timeout=10,
        )
        statuses.append(answer.status_code)
    assert set(statuses) == {401, 429}
    first_refusal = statuses.index(429)
    assert 1 <= first_refusal <= 10  # "10 per minute", shared with this module's sign-ins
    assert statuses[first_refusal:] == [429] * (12 - first_refusal)
    assert "<h1>Too many sign-in attempts</h1>" in answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    # Even the right token waits now: guessing gains nothing.
    right = http.post(
        f"{running.webapp_url}/review/login", data={"csrf_token": csrf, "token": TOKEN}, timeout=10
    )
    assert right.status_code == 429


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CORRECTION_RATE_LIMIT": "lots"}, "CORRECTION_RATE_LIMIT='lots': must be a rate"),
        ({"CORRECTION_RATE_LIMIT": ""}, "CORRECTION_RATE_LIMIT=''"),
        ({"RATE_LIMIT_STORAGE_URI": "http://cache"}, "RATE_LIMIT_STORAGE_URI='http://cache'"),
    ],
)
def test_rate_limit_settings_are_checked_at_start(tmp_path: Path, env, message) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({"HOUSEPRICE_DATA_DIR": str(tmp_path), **env})
    password = Settings.from_env(
        {"HOUSEPRICE_DATA_DIR": str(tmp_path), "RATE_LIMIT_STORAGE_URI": "redis://:pw@cache:6379"}
    )
    assert password.public()["RATE_LIMIT_STORAGE_URI"] == "redis://:***@cache:6379"


@pytest.mark.parametrize(
    ("ratio", "said"),
    [(40.0, "40.0\u00d7 above"), (0.01875, "53.3\u00d7 below"), (None, "—"), (0, "—")],
)
def test_ratios_read_as_times_above_or_below(ratio, said) -> None:
    assert factor(ratio) == said


def test_each_client_address_has_its_own_limit(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"HOUSEPRICE_DATA_DIR": str(tmp_path), "CORRECTION_RATE_LIMIT": "2 per minute"}
    )
    app = create_app(settings)
    app.config["WTF_CSRF_ENABLED"] = False  # the limit, not the form, is under test here
    client = app.test_client()

    def post(address: str) -> int:
        return client.post("/correction", environ_base={"REMOTE_ADDR": address}).status_code

    assert [post("203.0.113.1") for _ in range(3)] == [400, 400, 429]
    assert post("203.0.113.2") == 400  # another client is not held back
    assert post("203.0.113.1") == 429
