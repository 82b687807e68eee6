"""The room in headless Chromium, two browsers: the presenter pushes, the participant follows.

Needs Debian's chromium: skipped when it is missing, unless CI is set.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from bench.appserver import VIEWPORT, AppServer, wait_idle
from tests.conftest import app_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

SECRET = "browser-room-presenter-secret"
UI_TIMEOUT = 30_000  # ms
FOLLOW_TIMEOUT = 10_000  # ms: "within a few seconds" (the room timer ticks every 2 s)
expect.set_options(timeout=UI_TIMEOUT)


@pytest.fixture(scope="module")
def server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    env = {"MNIST_TRAIN_LIMIT": "2000", "MNIST_PRESENTER_SECRET": SECRET}
    with app_server(tmp_path_factory.mktemp("room"), env) as app:
        yield app


def open_page(browser, url: str):
    """A browser context of its own (a participant's laptop) on `url`; (context, page)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    page.goto(url)
    expect(page.get_by_role("heading", name="MNIST Studio")).to_be_visible()
    wait_idle(page)
    return context, page


def slider(page, key: str):
    return page.locator(f".st-key-{key} input[type='range']")


def slider_value(page, key: str) -> str:
    return slider(page, key).input_value()


def test_presenter_pushes_a_preset_and_the_participants_sliders_follow(browser, server):
    # The presenter first, as in a workshop: pages opened after it follow the room at once
    # (one opened earlier starts following at its status line's next look).
    presenter_context, presenter = open_page(browser, f"{server.url}/?presenter_key={SECRET}")
    participant_context, participant = open_page(browser, f"{server.url}/?tab=draw")
    try:
        expect(presenter.locator(".st-key-presenter_push")).to_be_visible()
        assert SECRET not in presenter.evaluate("location.href")  # gone from the address
        assert SECRET not in presenter.content()  # and from the page

        presenter.locator(".st-key-console_preset_0").get_by_role("button").click()  # Overfit
        # The form shows the preset before Push is pressed (under load the page took its
        # rerun late, and a push sent the form's earlier values: 5 epochs).
        expect(presenter.locator(".st-key-console_epochs").get_by_role(
            "radio", name="20", exact=True)).to_be_checked()
        wait_idle(presenter)
        presenter.locator(".st-key-presenter_push").get_by_role(
            "button", name="Push to everyone").click()
        wait_idle(presenter)
        expect(presenter.get_by_text(re.compile("Push 1 sent"))).to_be_visible()

        # The participant's page follows by itself: the Train tab, the preset's settings.
        expect(participant.get_by_role("tab", name="Train")).to_have_attribute(
            "aria-selected", "true", timeout=FOLLOW_TIMEOUT)
        expect(slider(participant, "epochs")).to_have_value("20", timeout=FOLLOW_TIMEOUT)
        assert slider_value(participant, "dropout") == "0"
        assert re.search(r"train_images=500", participant.evaluate("location.search"))
        assert "presenter_key" not in participant.evaluate("location.search")

        # The participant moves a slider afterwards: the change stays through the timer.
        slider(participant, "dropout").focus()
        slider(participant, "dropout").press("ArrowRight")
        expect(slider(participant, "dropout")).to_have_value("0.05")
        wait_idle(participant)
        time.sleep(5)  # two ticks of the room timer
        assert slider_value(participant, "dropout") == "0.05"
        assert slider_value(participant, "epochs") == "20"
    finally:
        participant_context.close()
        presenter_context.close()


def test_a_wrong_presenter_key_opens_nothing_and_leaves_the_address(browser, server):
    context, page = open_page(browser, f"{server.url}/?presenter_key=not-the-secret-at-all")
    try:
        expect(page.get_by_text(re.compile("presenter link is not valid"))).to_be_visible()
        assert page.get_by_role("tab", name="Console").count() == 0
        assert page.locator(".st-key-presenter_push").count() == 0
        assert "presenter_key" not in page.evaluate("location.search")
    finally:
        context.close()


def test_a_push_that_keeps_the_tab_reaches_a_drawing_page_without_moving_it(browser, server):
    presenter_context, presenter = open_page(browser, f"{server.url}/?presenter_key={SECRET}")
    participant_context, participant = open_page(browser, f"{server.url}/?tab=draw")
    try:
        for key, value in (("console_epochs", "3"), ("console_dropout", "0.5"),
                           ("console_tab", "Their own")):
            presenter.locator(f".st-key-{key}").get_by_role("radio", name=value,
                                                            exact=True).click()
            wait_idle(presenter)
        presenter.locator(".st-key-presenter_push").get_by_role(
            "button", name="Push to everyone").click()
        wait_idle(presenter)
        participant.wait_for_function(
            "() => new URLSearchParams(location.search).get('epochs') === '3'",
            timeout=FOLLOW_TIMEOUT)
        assert "dropout=0.5" in participant.evaluate("location.search")
        expect(participant.get_by_role("tab", name="Draw")).to_have_attribute(
            "aria-selected", "true")  # still drawing
        participant.get_by_role("tab", name="Train").click()
        expect(slider(participant, "epochs")).to_have_value("3")
        assert slider_value(participant, "dropout") == "0.5"
    finally:
        participant_context.close()
        presenter_context.close()
