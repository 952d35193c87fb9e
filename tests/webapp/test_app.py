"""The web app through Flask's test client, talking to real dbapp and mlapp processes.

"Dependency down" is a real refused connection (a closed port), never a mock.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path

import pytest
import requests

from houseprice.schema import FEATURE_NAMES
from tests.webapp.helpers import closed_url, csrf_token, webapp_settings
from tests.webapp.test_forms import HOUSE
from webapp.app import create_app
from webapp.metrics import REGISTRY


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def client_for(tmp_path: Path, mlapp_url: str, dbapp_url: str):
    settings = webapp_settings(tmp_path, MLAPP_URL=mlapp_url, DBAPP_URL=dbapp_url)
    return create_app(settings).test_client()


def post_form(client, path: str, data: dict[str, str], page: str = "/", **kwargs):
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token}, **kwargs)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def correction_form(html: str, price: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_token(html),
        "prediction": hidden(html, "prediction"),
        "correction_id": hidden(html, "correction_id"),
        "corrected_price": price,
    }


# -- the form ----------------------------------------------------------------------------


def test_the_form_offers_every_field_with_its_label_and_a_typical_house(tmp_path):
    client = client_for(tmp_path, closed_url(), closed_url())
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for name in FEATURE_NAMES:
        assert f'<label for="field-{name}">' in html
        assert f'id="field-{name}" name="{name}"' in html
        assert f'aria-describedby="hint-{name}"' in html
    assert html.count("<fieldset>") == 4
    assert '<option value="Seattle">' in html and '<option value="WA 98103">' in html
    assert 'id="field-yr_built" name="yr_built" type="number"' in html
    assert 'min="1800" max="2100"' in html
    assert 'href="#main">Skip to main content' in html
    assert 'name="csrf_token"' in html
    assert 'value="Sammamish"' in html  # the typical house of the sample file


def test_pages_send_security_headers(tmp_path):
    client = client_for(tmp_path, closed_url(), closed_url())
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert client.get("/static/style.css").status_code == 200


def test_query_values_prefill_the_form_and_are_escaped(tmp_path):
    client = client_for(tmp_path, closed_url(), closed_url())
    html = client.get("/", query_string={"city": '"><script>x</script>'}).get_data(as_text=True)
    assert "<script>x</script>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in html


def test_invalid_values_are_named_beside_their_field_and_kept(tmp_path):
    client = client_for(tmp_path, closed_url(), closed_url())
    before = metric("prediction_requests_total", outcome="invalid")
    form = {**HOUSE, "sqft_living": "huge", "yr_built": "1700"}
    response = post_form(client, "/", form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    # A word stays visible as typed (a number input would blank it).
    assert re.search(r'id="field-sqft_living" name="sqft_living" type="text" value="huge"', html)
    assert 'aria-describedby="hint-sqft_living error-sqft_living" aria-invalid="true"' in html
    assert 'id="error-yr_built"' in html
    assert "Year built must be a whole number from 1800 to 2100." in html
    assert 'value="1700"' in html and 'value="Sammamish"' in html
    assert 'href="#field-sqft_living"' in html  # the error summary links to the field
    assert "<title>Error: " in html
    assert metric("prediction_requests_total", outcome="invalid") == before + 1


def test_a_post_without_csrf_token_is_refused_with_the_values_kept(tmp_path):
    client = client_for(tmp_path, closed_url(), closed_url())
    before = metric("error_count_total", type="csrf", dependency="webapp")
    response = client.post("/", data=HOUSE)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This form had expired or was not sent from this site" in html
    assert 'value="Sammamish"' in html
    assert metric("error_count_total", type="csrf", dependency="webapp") == before + 1

    other = client.post("/correction", data={"corrected_price": "500000"})
    assert other.status_code == 400
    assert "Form expired" in other.get_data(as_text=True)


# -- mlapp down or without a model --------------------------------------------------------


def test_pricing_service_down_gives_a_503_page_and_keeps_the_values(tmp_path, dbapp_url):
    client = client_for(tmp_path, closed_url(), dbapp_url)
    before = metric("error_count_total", type="unavailable", dependency="mlapp")
    response = post_form(client, "/", {**HOUSE, "city": "Kent"})
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "The pricing service is not answering right now" in html
    assert 'value="Kent"' in html
    assert "Traceback" not in html
    assert metric("error_count_total", type="unavailable", dependency="mlapp") == before + 1


@pytest.fixture(scope="module")
def modelless_mlapp(mongo_uri, mlflow_uri, tmp_path_factory):
    """A real mlapp whose registered model does not exist (nothing trained yet)."""
    from tests.support.services import gunicorn_service, settings_env

    workdir = tmp_path_factory.mktemp("mlapp-no-model")
    settings = webapp_settings(
        workdir,
        MLFLOW_TRACKING_URI=mlflow_uri,
        REGISTERED_MODEL_NAME=f"never-trained-{uuid.uuid4().hex[:6]}",
        HTTP_TIMEOUT_SECONDS="1",
    )
    with gunicorn_service("mlapp", settings_env(settings), workdir, workers=1) as url:
        yield url


def test_no_model_yet_gives_a_503_page_that_says_so(tmp_path, modelless_mlapp, dbapp_url):
    client = client_for(tmp_path, modelless_mlapp, dbapp_url)
    response = post_form(client, "/", HOUSE)
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "No price model is ready yet" in html
    assert 'value="2415 209th Ave NE"' in html


# -- the whole path: price, saved prediction, correction, history --------------------------


def test_a_price_with_its_model_is_shown_and_saved(tmp_path, stack):
    client = client_for(tmp_path, stack.mlapp_url, stack.dbapp_url)
    before = metric("prediction_requests_total", outcome="ok")
    request_id = uuid.uuid4().hex
    response = post_form(client, "/", HOUSE, headers={"X-Request-ID": request_id})
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    price = re.search(r'<p class="price" id="price">\$([\d,]+)</p>', html)
    assert price, html
    assert f"<dd>{stack.champion.name}</dd>" in html
    assert f"<dd>{stack.champion.version}</dd>" in html
    assert "<dd>linear_regression</dd>" in html and "<dd>v1</dd>" in html
    assert "Saved history unavailable" not in html
    # The request id went through mlapp to dbapp: the stored prediction carries it.
    stored = requests.get(f"{stack.dbapp_url}/predictions/{request_id}", timeout=5)
    assert stored.status_code == 200
    assert round(stored.json()["price"]) == int(price.group(1).replace(",", ""))
    assert stored.json()["model_version"] == stack.champion.version
    assert metric("prediction_requests_total", outcome="ok") == before + 1
    assert metric("last_predicted_price") == stored.json()["price"]


def test_a_correction_is_saved_once_even_if_sent_twice(tmp_path, stack):
    client = client_for(tmp_path, stack.mlapp_url, stack.dbapp_url)
    result = post_form(client, "/", HOUSE).get_data(as_text=True)
    form = correction_form(result, "$ 512,000")
    first = client.post("/correction", data=form)
    assert first.status_code == 200
    assert "Correction saved" in first.get_data(as_text=True)
    assert "$512,000" in first.get_data(as_text=True)
    again = client.post("/correction", data=form)
    assert again.status_code == 200
    assert "already been saved" in again.get_data(as_text=True)
    stored = requests.get(
        f"{stack.dbapp_url}/corrections/{form['correction_id']}", timeout=5
    ).json()
    assert stored["corrected_price"] == 512_000
    assert stored["features"]["city"] == "Sammamish"

    changed = client.post("/correction", data={**form, "corrected_price": "520000"})
    html = changed.get_data(as_text=True)
    assert changed.status_code == 409
    assert "This price was NOT saved" in html
    assert hidden(html, "correction_id") != form["correction_id"]


def test_a_bad_correction_price_is_named_beside_the_field(tmp_path, stack):
    client = client_for(tmp_path, stack.mlapp_url, stack.dbapp_url)
    result = post_form(client, "/", HOUSE).get_data(as_text=True)
    response = client.post("/correction", data=correction_form(result, "cheap"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'aria-describedby="hint-corrected_price error-corrected_price" aria-invalid="true"' in (
        html
    )
    assert "Correct price must be a number from 1000 to 1000000000 (US dollars)." in html
    assert 'value="cheap"' in html


def test_an_altered_correction_form_is_refused(tmp_path, stack):
    client = client_for(tmp_path, stack.mlapp_url, stack.dbapp_url)
    result = post_form(client, "/", HOUSE).get_data(as_text=True)
    form = correction_form(result, "500000")
    response = client.post("/correction", data={**form, "prediction": form["prediction"] + "x"})
    assert response.status_code == 400
    assert "was not issued by this site or was altered" in response.get_data(as_text=True)
    response = client.post("/correction", data={**form, "correction_id": "../etc"})
    assert response.status_code == 400


def test_history_down_still_gives_the_price_and_loses_no_correction(tmp_path, stack):
    down = client_for(tmp_path, stack.mlapp_url, closed_url())
    response = post_form(down, "/", HOUSE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<p class="price" id="price">\$[\d,]+</p>', html)
    assert "Saved history unavailable" in html

    form = correction_form(html, "505000")
    unsaved = down.post("/correction", data=form)
    text = unsaved.get_data(as_text=True)
    assert unsaved.status_code == 503
    assert "Your correction was NOT saved" in text
    assert 'value="505000"' in text  # the price is kept for the retry
    assert hidden(text, "correction_id") == form["correction_id"]

    # History is back: the same form saves the correction, and the prediction it corrects.
    up = create_app(
        dataclasses.replace(
            webapp_settings(tmp_path),
            MLAPP_URL=stack.mlapp_url,
            DBAPP_URL=stack.dbapp_url,
        )
    ).test_client()
    retry = {**form, "csrf_token": csrf_token(up.get("/").get_data(as_text=True))}
    saved = up.post("/correction", data=retry)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    correction = requests.get(
        f"{stack.dbapp_url}/corrections/{form['correction_id']}", timeout=5
    ).json()
    prediction = requests.get(
        f"{stack.dbapp_url}/predictions/{correction['prediction_id']}", timeout=5
    )
    assert prediction.status_code == 200
    assert correction["corrected_price"] == 505_000


def test_history_lists_predictions_and_corrections_in_pages(tmp_path, stack):
    client = client_for(tmp_path, stack.mlapp_url, stack.dbapp_url)
    result = post_form(client, "/", {**HOUSE, "city": "Issaquah"}).get_data(as_text=True)
    client.post("/correction", data=correction_form(result, "777000"))
    response = client.get("/history")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Issaquah, WA 98074" in html
    assert "$777,000" in html

    total = requests.get(f"{stack.dbapp_url}/predictions", timeout=5).json()["total"]
    for _ in range(max(0, 21 - total)):  # enough for a second page
        post_form(client, "/", HOUSE)
    total = requests.get(f"{stack.dbapp_url}/predictions", timeout=5).json()["total"]
    first = client.get("/history").get_data(as_text=True)
    assert f"({total})" in first
    assert 'rel="next" href="/history?page=2"' in first
    second = client.get("/history?page=2").get_data(as_text=True)
    rows = second.split('id="predictions-title"')[1].split("</section>")[0].count("<tr>") - 1
    assert rows == min(20, total - 20)
    assert 'rel="prev" href="/history?page=1"' in second


@pytest.mark.parametrize("page", ["0", "abc", "-1", "100001", "1.5"])
def test_a_bad_history_page_is_a_400_page(tmp_path, page):
    client = client_for(tmp_path, closed_url(), closed_url())
    response = client.get("/history", query_string={"page": page})
    assert response.status_code == 400
    assert "page must be a whole number" in response.get_data(as_text=True)


def test_history_down_shows_a_notice(tmp_path):
    client = client_for(tmp_path, closed_url(), closed_url())
    response = client.get("/history")
    assert response.status_code == 503
    assert "Saved history is unavailable" in response.get_data(as_text=True)


# -- operations and errors ----------------------------------------------------------------


def test_health_ready_and_metrics(tmp_path):
    client = client_for(tmp_path, closed_url(), closed_url())
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    for name in (
        "prediction_requests_total",
        "correction_requests_total",
        "prediction_latency_seconds_bucket",
        "last_predicted_price",
    ):
        assert name in text


def test_unknown_pages_and_methods_get_html_error_pages(tmp_path):
    client = client_for(tmp_path, closed_url(), closed_url())
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.mimetype == "text/html"
    assert "Not Found" in missing.get_data(as_text=True)
    wrong_method = client.put("/")
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert wrong_method.mimetype == "text/html"


def test_an_unexpected_error_is_a_500_page_without_a_trace(tmp_path):
    app = create_app(webapp_settings(tmp_path))

    @app.get("/fails")
    def fails():
        raise RuntimeError("secret internals")

    before = metric("error_count_total", type="internal", dependency="webapp")
    response = app.test_client().get("/fails")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in html
    assert "secret internals" not in html and "Traceback" not in html
    assert metric("error_count_total", type="internal", dependency="webapp") == before + 1
