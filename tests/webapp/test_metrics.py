"""The web app's metrics as Prometheus scrapes them from gunicorn with two workers."""

from __future__ import annotations

import re

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import gunicorn_service, settings_env
from tests.webapp.helpers import closed_url, csrf_token, webapp_settings
from tests.webapp.test_forms import HOUSE


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"{url}/metrics", timeout=5).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def predict(url: str, form: dict[str, str]) -> requests.Response:
    with requests.Session() as browser:  # a new connection, and a new worker, each time
        token = csrf_token(browser.get(f"{url}/", timeout=10).text)
        return browser.post(f"{url}/", data={**form, "csrf_token": token}, timeout=30)


def test_counts_add_up_across_workers_and_the_gauge_shows_the_latest_price(stack):
    url = stack.webapp_url
    before = scrape(url)
    prices = []
    for index in range(8):
        form = {**HOUSE, "sqft_living": str(1500 + 100 * index), "sqft_above": "1500"}
        form["sqft_basement"] = str(100 * index)
        response = predict(url, form)
        assert response.status_code == 200, response.text[:500]
        shown = re.search(r'id="price">\$([\d,]+)<', response.text).group(1)
        prices.append(int(shown.replace(",", "")))
    invalid = predict(url, {**HOUSE, "yr_built": "1700"})
    assert invalid.status_code == 422
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("prediction_requests_total", outcome="ok") == 8
    assert delta("prediction_requests_total", outcome="invalid") == 1
    assert delta("prediction_latency_seconds_count") == 8
    assert delta("prediction_latency_seconds_bucket", le="+Inf") == 8
    # "mostrecent" across processes: the last price shown, whichever worker showed it.
    assert round(value(after, "last_predicted_price")) == prices[-1]
    assert len(set(prices)) > 1


def test_dependency_errors_are_counted_by_dependency(tmp_path):
    settings = webapp_settings(tmp_path, MLAPP_URL=closed_url(), DBAPP_URL=closed_url())
    with gunicorn_service("webapp", settings_env(settings), tmp_path, workers=2) as url:
        for _ in range(4):
            assert predict(url, HOUSE).status_code == 503
        assert requests.get(f"{url}/history", timeout=10).status_code == 503
        samples = scrape(url)
    assert value(samples, "error_count_total", type="unavailable", dependency="mlapp") == 4
    assert value(samples, "error_count_total", type="unavailable", dependency="dbapp") == 1
    assert value(samples, "prediction_requests_total", outcome="failed") == 4
