"""Every tab fits every screen, in headless Chromium: a projector (1280x720 at 150% zoom,
sidebar open), a tablet (820 px, touch) and a phone (390 px, touch).

One app server for the module (MNIST_TRAIN_LIMIT=2000) and one browser. On each screen the
test draws a digit, then opens every tab (on Train: a run, paused while it is measured, then
stopped) and measures the page with bench/layout_check.js: nothing wider than the screen,
nothing out of its column, no overlaps, no cut-off text or chart labels. Screenshots go to
/tmp/shots/ (MNIST_SHOTS_DIR). Needs Debian's chromium: skipped when it is missing, unless CI
is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from bench.appserver import (
    canvas_box,
    draw_path,
    wait_idle,
)
from bench.screens import (
    SIZES,
    ellipse,
    layout_problems,
    new_page,
    open_tab,
    stop_run,
    train_and_pause,
    wait_charts,
)
from tests.conftest import app_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("MNIST_SHOTS_DIR", "/tmp/shots"))
UI_TIMEOUT = 60_000  # ms; the first page waits for TensorFlow
expect.set_options(timeout=UI_TIMEOUT)
PREDICTION = ".st-key-prediction"


@pytest.fixture(scope="module")
def server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with app_server(tmp_path_factory.mktemp("layout"), {"MNIST_TRAIN_LIMIT": "2000"}) as app:
        yield app


def shot(page, name: str) -> None:
    """A screenshot of what is on the screen, for a human to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"layout-{name}.png"))


def assert_fits(page, where: str) -> None:
    """Nothing on the page sticks out, overlaps or is cut off (bench/layout_check.js)."""
    problems = layout_problems(page)
    assert not problems, f"{where}:\n  " + "\n  ".join(problems)


def stroke(page, points: list[tuple[float, float]], touch: bool) -> None:
    """One stroke through points given as fractions of the canvas: with a finger (touch
    events, as a phone sends them) or with the mouse."""
    canvas_box(page, UI_TIMEOUT)
    page.locator(".st-key-canvas").scroll_into_view_if_needed()
    box = canvas_box(page, UI_TIMEOUT)
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    if touch:
        cdp = page.context.new_cdp_session(page)
        try:
            for kind, (x, y) in [("touchStart", xy[0]), *(("touchMove", p) for p in xy[1:])]:
                cdp.send("Input.dispatchTouchEvent",
                         {"type": kind, "touchPoints": [{"x": x, "y": y}]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        finally:
            cdp.detach()
        return
    # The mouse: bench.appserver waits for the start point to be on the drawing surface
    # (the canvas's toolbar covers its top until the pointer has hovered).
    draw_path(page, box, [(fx * 280, fy * 280) for fx, fy in points], timeout=UI_TIMEOUT)


# What shows that a tab is all there (its slow parts come last).
TAB_DONE = {
    "Learn": ".st-key-learn_loss_trained [data-testid='stMetricValue']",
    "Evaluate": ".st-key-confusion [data-testid='stVegaLiteChart'] svg.marks",
}


def open_whole_tab(page, name: str) -> None:
    """Open a tab and wait until all of it is drawn, charts included."""
    open_tab(page, name)
    if name in TAB_DONE:
        page.locator(TAB_DONE[name]).last.wait_for(timeout=UI_TIMEOUT)
    wait_idle(page, UI_TIMEOUT)
    wait_charts(page)


def expect_digit(page, digit: int) -> None:
    expect(page.locator(PREDICTION)).to_have_text(re.compile(rf"^\s*{digit}\s"),
                                                  use_inner_text=True)
    wait_idle(page, UI_TIMEOUT)
    wait_charts(page)


ANSWER_ON_SCREEN_JS = """(block) => {
  document.querySelector(".st-key-canvas").scrollIntoView({block});
  const inside = (selector) => {
    const r = document.querySelector(selector).getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth;
  };
  return {digit: inside(".st-key-prediction h1"), sure: inside(".st-key-prediction h4"),
          canvas: inside(".st-key-drawing_canvas")};  // (its surface is in a shadow root)
}"""


@pytest.mark.parametrize("size", ["projector", "tablet", "phone"])
def test_every_tab_fits_the_screen(browser, server, size: str) -> None:
    touch = bool(SIZES[size].get("has_touch"))
    context, page = new_page(browser, server.url, size)
    try:
        open_tab(page, "Draw")
        if size == "projector":  # the whole canvas is on the screen as the page opens
            box = canvas_box(page, UI_TIMEOUT)
            assert box["y"] >= 0 and box["y"] + box["height"] <= SIZES[size]["viewport"]["height"]
        stroke(page, ellipse(0.5, 0.5, 0.22, 0.33), touch)  # a "0"
        expect_digit(page, 0)
        surface = canvas_box(page, UI_TIMEOUT)  # drawn at its real size: strokes map 1:1
        assert round(surface["width"]) == round(surface["height"]) == 280
        assert_fits(page, f"{size}, Draw")
        if size == "phone":  # the answer stays in view while drawing, wherever the canvas is
            for block in ("start", "center", "end"):
                seen = page.evaluate(ANSWER_ON_SCREEN_JS, block)
                assert seen == {"digit": True, "sure": True, "canvas": True}, (block, seen)
        shot(page, f"{size}-draw")

        open_whole_tab(page, "Learn")
        assert_fits(page, f"{size}, Learn")
        shot(page, f"{size}-learn")

        open_tab(page, "Train")
        train_and_pause(page)  # the live panel: progress, figures, Stop, charts
        assert_fits(page, f"{size}, Train (running)")
        shot(page, f"{size}-train-running")
        stop_run(page)
        assert_fits(page, f"{size}, Train (stopped)")

        open_whole_tab(page, "Evaluate")
        assert_fits(page, f"{size}, Evaluate")
        shot(page, f"{size}-evaluate")
    finally:
        context.close()


CONTRAST_JS = """() => {
  const rgb = (color) => color.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const luminance = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  const page = luminance(rgb(getComputedStyle(document.querySelector(".stApp")).backgroundColor));
  const ratio = (color) => {
    const l = luminance(rgb(color));
    return (Math.max(l, page) + 0.05) / (Math.min(l, page) + 0.05);
  };
  const body = ratio(getComputedStyle(document.querySelector("[data-testid='stMain'] p")).color);
  const charts = [];
  for (const svg of document.querySelectorAll(
      "[role='tabpanel']:not([hidden]) [data-testid='stVegaLiteChart'] svg.marks")) {
    // Titles and axis labels: what is drawn on the page's background.
    for (const text of svg.querySelectorAll(".role-title text, .role-axis text")) {
      if (text.textContent) charts.push([text.textContent, ratio(getComputedStyle(text).fill)]);
    }
  }
  return {page, body, charts};
}"""


def test_dark_preference_gives_a_dark_page_with_readable_charts(browser, server) -> None:
    context, page = new_page(browser, server.url, "projector", dark=True)
    try:
        open_tab(page, "Draw")
        stroke(page, [(0.5, 0.15), (0.5, 0.85)], touch=False)  # a "1"
        expect_digit(page, 1)
        seen = page.evaluate(CONTRAST_JS)
        assert seen["page"] < 0.05, seen  # a dark page
        assert seen["body"] >= 7, seen  # high contrast text
        assert seen["charts"] and all(ratio >= 4.5 for _, ratio in seen["charts"]), seen
        # The canvas stays white ink on black, as seen on the screen.
        box = canvas_box(page, UI_TIMEOUT)
        seen_canvas = Image.open(BytesIO(page.screenshot(clip=box))).convert("RGB")
        width, height = seen_canvas.size
        assert seen_canvas.getpixel((width // 10, height // 10)) == (0, 0, 0)
        assert seen_canvas.getpixel((width // 2, height // 2)) == (255, 255, 255)  # the "1"
        assert_fits(page, "projector (dark), Draw")
        shot(page, "projector-dark-draw")
        open_whole_tab(page, "Evaluate")
        seen = page.evaluate(CONTRAST_JS)
        assert seen["charts"] and all(ratio >= 4.5 for _, ratio in seen["charts"]), seen
        shot(page, "projector-dark-evaluate")
    finally:
        context.close()


def test_draw_names_the_model_and_asks_for_a_bigger_digit(browser, server) -> None:
    from mnist_core.naming import model_label
    from mnist_core.store import ModelStore

    store = ModelStore(server.models)
    name = next(model_label(info) for info in store.list_models() if info.ref == "drawing")
    context, page = new_page(browser, server.url, "projector")
    try:
        open_tab(page, "Draw")
        answer = page.locator(".st-key-draw_answer")
        expect(answer).to_contain_text(f"Model: {name}")  # before the first stroke too
        stroke(page, [(0.5, 0.5), (0.52, 0.51)], touch=False)  # a speck
        expect(page.locator(PREDICTION)).to_contain_text("That is very small")
        assert not re.search(r"\d", page.locator(PREDICTION).inner_text())  # no guess
        page.locator(".st-key-clear button").click()
        expect(page.locator(PREDICTION)).to_contain_text("Draw a digit")
        stroke(page, [(0.5, 0.15), (0.5, 0.85)], touch=False)  # a "1", drawn big
        expect_digit(page, 1)
        expect(answer).to_contain_text(f"Guessing: {name}")
        shot(page, "projector-guessing")
    finally:
        context.close()
