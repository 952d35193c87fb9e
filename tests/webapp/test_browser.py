"""A person's path through the real stack in Debian's chromium: price, correction, history.

Screenshots of every step, on a desktop and on a phone-sized viewport, go to
$HOUSEPRICE_TEST_ARTIFACTS for a human look.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.browser import launch

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


def artifacts() -> Path:
    path = Path(os.environ.get("HOUSEPRICE_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_page(browser: Browser, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE)
    page = context.new_page()
    # Script errors, Content-Security-Policy violations and sub-resources that failed to
    # load; a page's own 4xx status (a form with errors) is expected and not counted.
    problems: list[str] = []

    def on_console(message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def on_response(response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            problems.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return page, problems


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(artifacts() / f"webapp-{name}.png"), full_page=True)


def fits_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize(("label", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_price_correction_and_history(browser, stack, label, viewport):
    page, problems = open_page(browser, viewport)
    page.goto(stack.webapp_url)
    expect(page.get_by_role("heading", name="Estimate a house price")).to_be_visible()
    assert fits_width(page)
    shot(page, f"{label}-1-form")

    city = "Bellevue" if label == "desktop" else "Kirkland"
    page.get_by_label("City").fill(city)
    page.get_by_label("State and ZIP").fill("WA 98004" if city == "Bellevue" else "WA 98033")
    page.get_by_label("Living area").fill("2400")
    page.get_by_label("Area above ground").fill("1800")
    page.get_by_label("Basement area").fill("600")
    page.get_by_label("Waterfront").select_option("No")
    page.get_by_role("button", name="Get price").click()

    price = page.locator("#price")
    expect(price).to_have_text(re.compile(r"^\$\d{1,3}(,\d{3})+$"))
    expect(page.locator(".facts").first).to_contain_text(stack.champion.name)
    shown_price = price.inner_text()
    expect(page.get_by_text("Saved history unavailable")).to_have_count(0)
    assert fits_width(page)
    shot(page, f"{label}-2-result")

    page.get_by_label("Correct price").fill("655,000")
    page.get_by_role("button", name="Send correction").click()
    expect(page.get_by_role("heading", name="Correction saved")).to_be_visible()
    expect(page.get_by_text("$655,000")).to_be_visible()
    shot(page, f"{label}-3-corrected")

    page.get_by_role("link", name="History", exact=True).click()
    predictions = page.locator("section", has=page.locator("#predictions-title"))
    corrections = page.locator("section", has=page.locator("#corrections-title"))
    expect(predictions).to_contain_text(city)
    expect(predictions).to_contain_text(shown_price)
    expect(corrections).to_contain_text("$655,000")
    assert fits_width(page)
    shot(page, f"{label}-4-history")
    assert problems == []


def test_an_invalid_value_is_explained_beside_its_field(browser, stack):
    page, problems = open_page(browser, DESKTOP)
    page.goto(stack.webapp_url)
    page.get_by_label("Year built").fill("1700")
    page.get_by_label("Street address").fill("")
    page.get_by_role("button", name="Get price").click()

    year = page.get_by_label("Year built")
    expect(year).to_have_attribute("aria-invalid", "true")
    expect(year).to_have_value("1700")
    expect(page.locator("#error-yr_built")).to_have_text(
        "Error: Year built must be a whole number from 1800 to 2100."
    )
    expect(page.locator("#error-street")).to_contain_text("Street address is required.")
    # The summary takes the focus, and its links lead to the fields.
    assert page.evaluate("document.activeElement.id") == "error-summary"
    shot(page, "desktop-5-invalid")
    page.get_by_role("link", name=re.compile("Year built must be")).click()
    assert page.evaluate("document.activeElement.id") == "field-yr_built"
    assert problems == []


def test_the_skip_link_leads_to_the_content(browser, stack):
    page, _ = open_page(browser, PHONE)
    page.goto(stack.webapp_url)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


# -- the estimate's range, comparable sales and chart; the form's hints; the model page


def fill_house(page: Page, city: str, statezip: str, areas: tuple[int, int, int]) -> None:
    page.get_by_label("City").fill(city)
    page.get_by_label("State and ZIP").fill(statezip)
    labels = ("Living area", "Area above ground", "Basement area")
    for label, value in zip(labels, areas, strict=True):
        page.get_by_label(label).fill(str(value))


def form_record(page: Page) -> dict:
    """The house as the form holds it, as mlapp's JSON (what the webapp sends)."""
    from webapp.forms import read_features

    values = page.eval_on_selector(
        "form[data-zips-by-city]",
        "f => Object.fromEntries(new FormData(f).entries())",
    )
    submission = read_features(values)
    assert submission.ok, submission.errors
    return submission.clean


@pytest.mark.parametrize(("label", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_the_estimate_comes_with_its_range_comparable_sales_and_a_chart(
    browser, stack, label, viewport
):
    import requests

    from tests.support.datasets import sample_rows

    page, problems = open_page(browser, viewport)
    page.goto(stack.webapp_url)
    fill_house(page, "Bellevue", "WA 98004", (2400, 1800, 600))
    record = form_record(page)
    page.get_by_role("button", name="Get price").click()
    expect(page.locator("#price")).to_have_text(re.compile(r"^\$\d{1,3}(,\d{3})+$"))

    # The range is what mlapp answers for this house, or a plain word that there is none.
    answer = requests.post(f"{stack.mlapp_url}/predict", json=record, timeout=30).json()
    interval = answer.get("interval")
    if interval:
        low, high = (f"${interval[k]:,.0f}" for k in ("low", "high"))
        expect(page.locator("#range")).to_have_text(
            f"Likely between {low} and {high} ({interval['level'] * 100:.0f} % range)"
        )
    else:
        expect(page.locator("#range")).to_contain_text("No range for this estimate")

    rows = page.locator("#comparables tbody tr")
    expect(rows).to_have_count(5)
    for i in range(5):
        expect(rows.nth(i)).to_contain_text("WA 98004")
        expect(rows.nth(i).locator("td").first).to_have_text(re.compile(r"^2014-\d\d-\d\d$"))
    zip_sales = int((sample_rows().statezip == "WA 98004").sum())
    chart = page.locator("svg#chart-zip")
    expect(chart).to_be_visible()
    expect(chart.locator("circle.chart-sale")).to_have_count(zip_sales)
    expect(chart.locator("path.chart-house")).to_have_count(1)
    expect(page.locator("figure figcaption")).to_contain_text(f"{zip_sales} sales in WA 98004")
    expect(page.locator("#few-similar")).to_have_count(0)
    assert fits_width(page)
    shot(page, f"{label}-6-range-comparables")
    assert problems == []


def test_a_house_beyond_past_sales_gets_a_few_similar_sales_notice(browser, stack):
    from tests.support.datasets import sample_rows

    page, problems = open_page(browser, PHONE)
    page.goto(stack.webapp_url)
    largest = int(sample_rows().sqft_living.max())
    fill_house(page, "Bellevue", "WA 98004", (20000, 20000, 0))
    page.get_by_role("button", name="Get price").click()
    notice = page.locator("#few-similar")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(
        f"Living area 20,000 sq ft is more than in any sale seen (at most {largest:,} sq ft)."
    )
    assert fits_width(page)
    shot(page, "phone-7-few-similar")
    assert problems == []


@pytest.mark.parametrize(("label", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_the_form_narrows_zip_codes_and_says_which_area_to_fix(browser, stack, label, viewport):
    from tests.conftest import SAMPLE_CSV
    from webapp.forms import load_choices

    bellevue = load_choices(SAMPLE_CSV).zips_by_city["Bellevue"]
    page, problems = open_page(browser, viewport)
    page.goto(stack.webapp_url)
    page.get_by_label("City").fill("Bellevue")
    page.get_by_label("State and ZIP").fill("WA 98133")
    expect(page.locator("#statezips option")).to_have_count(len(bellevue))
    expect(page.locator("#note-statezip")).to_have_text(
        f"ZIP codes seen with Bellevue: {', '.join(bellevue)}. "
        "WA 98133 is not one of them: check the city or the ZIP code."
    )
    page.get_by_label("State and ZIP").fill("WA 98004")
    expect(page.locator("#note-statezip")).not_to_contain_text("not one of them")

    fill_house(page, "Bellevue", "WA 98004", (2500, 1910, 0))
    fix = "set living area to 1,910, or basement area to 590."
    expect(page.locator("#note-sqft_living")).to_contain_text(fix)
    shot(page, f"{label}-8-form-hints")
    page.get_by_role("button", name="Get price").click()
    # The server is the authority: the same advice, beside the field, the value kept.
    expect(page.locator("#error-sqft_living")).to_contain_text(fix)
    expect(page.get_by_label("Living area")).to_have_value("2500")
    page.get_by_label("Basement area").fill("590")
    expect(page.locator("#note-sqft_living")).to_have_text("")
    assert fits_width(page)
    assert problems == []


def champion_facts(stack) -> tuple[str, str, dict]:
    from mlflow import MlflowClient

    from houseprice.registry import PROMOTIONS, experiment_name

    client = MlflowClient(tracking_uri=stack.settings.MLFLOW_TRACKING_URI)
    name = stack.settings.REGISTERED_MODEL_NAME
    champion = client.get_model_version_by_alias(name, "champion")
    experiment = client.get_experiment_by_name(experiment_name(name, PROMOTIONS))
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    moved = [r for r in runs if r.data.tags["changed"] == "true"][-1]
    return str(champion.version), champion.tags["model_folder"], moved.data.tags


@pytest.mark.parametrize(("label", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_the_model_page_shows_the_champion_why_and_the_promotion_history(
    browser, promoted_stack, label, viewport
):
    version, folder, decision = champion_facts(promoted_stack)
    page, problems = open_page(browser, viewport)
    page.goto(promoted_stack.webapp_url)
    page.get_by_role("link", name="Model", exact=True).click()
    expect(page.get_by_role("heading", name="Serving now: the champion")).to_be_visible()
    champion = page.locator("#champion")
    expect(champion).to_contain_text(f"Version{version}")
    expect(champion).to_contain_text(f"models/{folder}")
    expect(page.locator("#champion-why")).to_have_text(decision["summary"])
    expect(champion).to_contain_text(f"on dataset {decision['dataset_version']}")
    chart = page.locator("svg#chart-mdape")
    expect(chart).to_be_visible()
    expect(chart.locator("circle.chart-champion")).to_have_count(2)  # one per dataset version
    expect(chart.locator("polyline")).to_have_count(1)  # linear_regression on v1 and v2
    expect(page.locator("#decisions tbody tr")).to_have_count(2)
    assert fits_width(page)
    shot(page, f"{label}-9-model")
    assert problems == []


def test_one_prediction_is_traced_to_its_model_and_data(browser, promoted_stack, bucket_2):
    import json

    from houseprice.storage import open_bucket

    version, folder, _ = champion_facts(promoted_stack)
    page, problems = open_page(browser, DESKTOP)
    page.goto(promoted_stack.webapp_url)
    fill_house(page, "Kirkland", "WA 98033", (2000, 2000, 0))
    page.get_by_role("button", name="Get price").click()
    prediction_id = page.locator(".facts dd code").first.inner_text()
    page.get_by_role("link", name=re.compile("How this model was chosen")).click()
    trace = page.locator("#trace")
    expect(trace).to_contain_text(prediction_id)
    expect(trace).to_contain_text(f"Model version {version}")
    expect(trace).to_contain_text(f"models/{folder}")
    bucket = open_bucket(bucket_2)
    trained_on = json.loads(bucket.read_text("versioned/v2/manifest.json"))
    expect(trace).to_contain_text("Dataset v2")
    expect(trace).to_contain_text(
        f"{trained_on['rows']['train']} train, {trained_on['rows']['valid']} valid"
    )
    expect(trace).to_contain_text(trained_on["sources"][0])
    expect(trace).to_contain_text("no drift report")
    shot(page, "desktop-10-lineage")

    bucket.write_text("versioned/v2/drift.html", "<h1>Drift of v2</h1><p>share 0.1</p>")
    page.reload()
    page.get_by_role("link", name="drift report of v2").first.click()
    expect(page.get_by_role("heading", name="Drift of v2")).to_be_visible()
    bucket.delete("versioned/v2/drift.html")
    assert problems == []


def test_a_bad_prediction_id_is_explained_beside_its_field(browser, promoted_stack):
    page, problems = open_page(browser, PHONE)
    page.goto(f"{promoted_stack.webapp_url}/model")
    page.get_by_label("Prediction id").fill("not an id!")
    page.get_by_role("button", name="Trace").click()
    expect(page.locator("#error-prediction")).to_contain_text("Prediction id must be")
    page.get_by_label("Prediction id").fill("0" * 32)
    page.get_by_role("button", name="Trace").click()
    expect(page.locator("#error-prediction")).to_contain_text("is not a saved prediction")
    assert fits_width(page)
    assert problems == []
