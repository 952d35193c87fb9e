"""The range, comparables, charts, form hints and model page, below the browser.

Pages are rendered by the real app; the dependencies are real processes (the `stack`),
or a closed port where one must be down.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import SAMPLE_CSV
from tests.support.services import gunicorn_service, settings_env
from tests.support.stack import wait_until_ready
from tests.webapp.helpers import closed_url, webapp_settings
from tests.webapp.test_app import client_for, post_form
from tests.webapp.test_forms import HOUSE
from webapp import charts
from webapp.app import create_app
from webapp.clients import read_interval
from webapp.comparables import few_similar_reasons
from webapp.forms import area_mismatch, load_choices, read_features
from webapp.model_page import history_chart
from webapp.pages import render_result

SVG = "{http://www.w3.org/2000/svg}"
PREDICTION = {
    "request_id": "a" * 32,
    "price": 510_000.0,
    "model": {
        "name": "house-price",
        "version": "3",
        "model_folder": "log_ridge",
        "dataset_version": "v2",
        "run_id": "r" * 32,
    },
    "features": read_features(HOUSE).clean,
}


def rendered_result(tmp_path, prediction: dict) -> str:
    app = create_app(webapp_settings(tmp_path))
    with app.test_request_context("/", method="POST"):
        return render_result(prediction, "token")


def test_a_range_is_shown_with_its_level(tmp_path):
    interval = {"low": 455_000.0, "high": 570_000.0, "level": 0.8}
    html = rendered_result(tmp_path, {**PREDICTION, "interval": interval})
    text = re.sub(r"<[^>]+>", "", html)
    assert "Likely between $455,000 and $570,000 (80\u00a0% range)" in text
    assert "No range for this estimate" not in text


@pytest.mark.parametrize("interval", [None, {}, {"low": 2.0, "high": 1.0, "level": 0.8}])
def test_a_missing_or_unusable_range_is_said_plainly(tmp_path, interval):
    prediction = {**PREDICTION, "interval": read_interval(interval)}
    html = rendered_result(tmp_path, prediction)
    assert "No range for this estimate" in html
    assert "Likely between" not in html


def test_read_interval_keeps_only_a_coherent_range():
    assert read_interval({"low": 1, "high": 2, "level": 0.9}) == {
        "low": 1.0,
        "high": 2.0,
        "level": 0.9,
    }
    for bad in ({"low": 1, "high": 2}, {"low": 1, "high": 2, "level": 80}, "x", [1, 2]):
        assert read_interval(bad) is None
    assert read_interval({"low": float("nan"), "high": 2, "level": 0.8}) is None


def test_living_area_must_add_up_and_the_message_says_which_field_to_change():
    house = {**HOUSE, "sqft_living": 2500, "sqft_above": 1910, "sqft_basement": 0}
    assert area_mismatch(house) == {
        "sqft_living": "(2,500 sq ft) must equal area above ground plus basement area "
        "(1,910 + 0 = 1,910 sq ft): set living area to 1,910, or basement area to 590"
    }
    smaller = area_mismatch({**house, "sqft_living": 1000, "sqft_above": 1500})
    assert smaller["sqft_living"].endswith(
        "set living area to 1,500, or area above ground to 1,000"
    )
    assert area_mismatch({**house, "sqft_living": 1910}) == {}
    form = {k: str(v) for k, v in house.items()}
    submission = read_features(form)
    assert not submission.ok and set(submission.errors) == {"sqft_living"}


def test_each_city_offers_the_zip_codes_it_was_seen_with():
    choices = load_choices(SAMPLE_CSV)
    assert "WA 98004" in choices.zips_by_city["Bellevue"]
    assert "WA 98133" not in choices.zips_by_city["Bellevue"]
    every = {z for zips in choices.zips_by_city.values() for z in zips}
    assert every == set(choices.statezips)


def test_the_form_carries_the_city_to_zip_map_as_data_not_script(tmp_path):
    html = create_app(webapp_settings(tmp_path)).test_client().get("/").get_data(as_text=True)
    found = re.search(r"data-zips-by-city='([^']*)'", html)
    assert found and "WA 98004" in found.group(1)
    assert "<script>" not in html  # the one script is form.js, from this origin


def test_few_similar_reasons_name_the_value_and_the_range_seen():
    familiarity = {
        "zip_sales": 60,
        "similar_sales": 0,
        "similar_share": 0.3,
        "few_similar": True,
        "outside": [{"field": "sqft_living", "value": 20000, "low": 380.0, "high": 13540.0}],
    }
    assert few_similar_reasons(familiarity, "WA 98004") == [
        "Living area 20,000 sq ft is more than in any sale seen (at most 13,540 sq ft).",
        "No sale in WA 98004 within 30% of this living area.",
    ]
    unseen = {"zip_sales": 0, "similar_sales": 0, "few_similar": True, "outside": []}
    assert few_similar_reasons(unseen, "WA 99999") == ["No sale in WA 99999 has been seen."]
    few = {"zip_sales": 60, "similar_sales": 2, "few_similar": True, "outside": []}
    assert few_similar_reasons(few, "WA 98004") == [
        "Only 2 sales in WA 98004 within 25% of this living area."
    ]
    covered = {"zip_sales": 60, "similar_sales": 22, "few_similar": False, "outside": []}
    assert few_similar_reasons(covered, "WA 98004") == []


def test_the_zip_chart_is_plain_svg_with_every_sale_and_the_house_marked():
    points = [(1000.0, 300_000.0), (2000.0, 600_000.0), (3000.0, 800_000.0)]
    svg = charts.price_by_area(points, (2500.0, 700_000.0), "WA <98004>", (650_000, 750_000))
    root = ET.fromstring(str(svg))  # well-formed XML, data escaped
    assert root.find(f"{SVG}title").text == "Sale price against living area in WA <98004>"
    assert len(root.findall(f".//{SVG}circle[@class='chart-sale']")) == 3
    assert len(root.findall(f".//{SVG}path[@class='chart-house']")) == 1
    assert len(root.findall(f".//{SVG}line[@class='chart-range']")) == 1
    assert not [e for e in root.iter() if "style" in e.attrib]  # the CSP allows no inline style
    assert "<script" not in str(svg)


def test_nice_ticks_cover_the_data_in_round_steps():
    assert charts.nice_ticks(380, 13540) == [0, 5000, 10000, 15000]
    assert charts.nice_ticks(11.0, 20.5) == [10, 12, 14, 16, 18, 20, 22]
    assert charts.money_short(1_500_000) == "$1.5M"
    assert charts.money_short(450_000) == "$450k"


def test_the_history_plot_has_a_point_per_folder_and_version_and_rings_each_champion():
    def score(version, folder, mdape, error=""):
        return {"version": version, "model_folder": folder, "mdape": mdape, "error": error}

    promotions = [
        {"dataset_version": "v1", "champion_version": "1", "scores": [score("1", "lin", 0.2)]},
        {  # the newest decision on a dataset version stands for it
            "dataset_version": "v2",
            "champion_version": "1",
            "scores": [score("1", "lin", 0.5)],
        },
        {
            "dataset_version": "v2",
            "champion_version": "3",
            "scores": [
                score("1", "lin", 0.21),
                score("2", "lin", 0.205),
                score("3", "ridge", 0.11),
                score("4", "broken", None, "ValueError"),
            ],
        },
        {"dataset_version": "v10", "champion_version": "3", "scores": [score("3", "ridge", 0.1)]},
    ]
    root = ET.fromstring(str(history_chart(promotions)))
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert labels.index("v1") < labels.index("v2") < labels.index("v10")  # by number
    assert {"lin", "ridge"} <= set(labels) and "broken" not in labels
    assert len(root.findall(f".//{SVG}circle[@class='chart-champion']")) == 3
    desc = root.find(f"{SVG}desc").text
    assert "lin: v1 20.0% (champion), v2 20.5%" in desc  # version 2, the newest lin
    assert "ridge: v2 11.0% (champion), v10 10.0% (champion)" in desc
    assert history_chart([]) is None


def test_the_model_page_says_when_the_registry_cannot_be_read(tmp_path):
    settings = webapp_settings(tmp_path, MLAPP_URL=closed_url(), DBAPP_URL=closed_url())
    answer = create_app(settings).test_client().get("/model")
    assert answer.status_code == 503
    assert "Model history unavailable" in answer.get_data(as_text=True)


def test_the_result_page_shows_comparables_or_says_why_there_are_none(tmp_path, stack):
    client = client_for(tmp_path, stack.mlapp_url, stack.dbapp_url)
    html = post_form(client, "/", HOUSE).get_data(as_text=True)
    assert html.count("WA 98074</td>") >= 1 and 'id="comparables"' in html
    assert 'id="chart-zip"' in html
    # The same model served by an mlapp whose BUCKET_2 holds no dataset version yet.
    env = {**settings_env(stack.settings), "BUCKET_2": str(tmp_path / "empty")}
    with gunicorn_service("mlapp", env, tmp_path / "bare", workers=1) as bare_mlapp:
        wait_until_ready(f"{bare_mlapp}/ready")
        client = client_for(tmp_path, bare_mlapp, stack.dbapp_url)
        answer = post_form(client, "/", HOUSE)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and 'id="price"' in html
    assert "No past sales are available yet: no dataset version is committed." in html
    assert 'id="comparables"' not in html and 'id="chart-zip"' not in html


def test_a_drift_report_route_refuses_what_is_not_a_version(tmp_path):
    client = create_app(webapp_settings(tmp_path)).test_client()
    assert client.get("/model/drift/latest").status_code == 404
    assert client.get("/model/drift/v1..").status_code == 404
