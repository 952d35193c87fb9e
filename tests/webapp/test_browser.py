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
