"""In headless Chromium: label a drawing in one tap, see it kept, delete it; Evaluate shows
how the model reads the room's drawings. Needs Debian's chromium (skipped without it)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bench.appserver import VIEWPORT, AppServer, draw_digit, install_watch, wait_idle
from mnist_core.drawings import DrawingStore
from tests.conftest import app_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser
UI_TIMEOUT = 30_000
expect.set_options(timeout=UI_TIMEOUT)
ONE = [[(140, 40), (140, 240)]]  # a "1", big, in canvas pixels
SEVEN = [[(60, 50), (220, 50), (110, 240)]]  # a bar and a diagonal


@pytest.fixture(scope="module")
def server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app with a throwaway models folder (its drawings/ inside)."""
    with app_server(tmp_path_factory.mktemp("drawings"), {"MNIST_STATUS_SECONDS": "3600"}) as app:
        yield app


@pytest.fixture
def page(browser, server: AppServer):
    context = browser.new_context(viewport=VIEWPORT)
    install_watch(context)  # draw_digit waits for each stroke's answer
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    page.goto(server.url)
    expect(page.get_by_role("heading", name="MNIST Studio")).to_be_visible()
    page.get_by_role("tab", name=re.compile("Draw")).click()
    wait_idle(page)
    yield page
    context.close()


def right_button(page):
    """The visible "Right, it is a N" button (a help tooltip doubles keyed buttons)."""
    right = page.locator(".st-key-label_right").get_by_role(
        "button", name=re.compile(r"Right, it is a \d")).last
    expect(right).to_be_visible()
    return right


def test_label_a_drawing_in_one_tap_then_delete_it(page, server: AppServer) -> None:
    store = DrawingStore(server.models / "drawings")
    draw_digit(page, SEVEN)
    label_row = page.locator(".st-key-draw_label")
    right = right_button(page)
    guess = int(re.search(r"\d", right.inner_text())[0])
    other = 7 if guess != 7 else 1
    label_row.get_by_role("radio", name=str(other), exact=True).click()  # "It was a 7"
    expect(label_row).to_contain_text(f"Saved as a {other}")
    expect(page.locator(".st-key-prediction")).to_contain_text("Draw a digit")  # cleared
    saved = store.list()
    assert [info.label for info in saved] == [other]
    drawing = store.load(saved[0].id)
    assert drawing.guess == guess and drawing.image.max() > 200
    assert drawing.strokes["objects"] and drawing.strokes["objects"][0]["type"].lower() == "path"

    draw_digit(page, ONE)  # "Right" keeps the model's own answer
    right = right_button(page)
    guess = int(re.search(r"\d", right.inner_text())[0])
    right.click()
    expect(label_row).to_contain_text(f"Saved as a {guess}")
    assert sorted(info.label for info in store.list()) == sorted([other, guess])

    page.locator(".st-key-my_drawings_open").get_by_text("My labelled drawings").click()
    mine = page.locator(".st-key-my_drawings")
    expect(mine.get_by_role("button", name="Delete")).to_have_count(2)
    mine.get_by_role("button", name="Delete").first.click()
    expect(mine.get_by_role("button", name="Delete")).to_have_count(1)
    assert len(store.list()) == 1

    page.get_by_role("tab", name=re.compile("Evaluate")).click()
    gap = page.locator(".st-key-room_gap")
    expect(gap).to_contain_text("The room's 1 drawing")
    expect(gap).to_contain_text("MNIST test accuracy")
