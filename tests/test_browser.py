"""The real app in headless Chromium: train from the UI, draw digits stroke by stroke.

Starts `streamlit run streamlit_app.py` on a free port with a throwaway models folder
and a small training set, then drives it with Playwright. Screenshots go to
/tmp/shots/ (override with MNIST_SHOTS_DIR). Needs Debian's chromium: skipped when it
is missing, unless CI is set.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.appserver import (
    VIEWPORT,
    AppServer,
    copy_shipped_models,
    running_app,
    wait_idle,
)
from tests.conftest import app_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("MNIST_SHOTS_DIR", "/tmp/shots"))
UI_TIMEOUT = 30_000  # ms for ordinary page updates (the first one waits for TensorFlow)
TRAIN_TIMEOUT = 120_000  # ms for a short training run to finish
expect.set_options(timeout=UI_TIMEOUT)

Server = AppServer  # a running app: .url, .models (its models folder), .log


@pytest.fixture(scope="module")
def server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`streamlit run streamlit_app.py` on a free port (bench/appserver.py); always
    terminated afterwards."""
    # All of MNIST: a 20-epoch run takes ~6-10 s in the compiled loop. Idle pages never
    # tick (their timer's reruns would count as messages in the tests that count a
    # stroke's messages).
    env = {"MNIST_TRAIN_LIMIT": "", "MNIST_STATUS_SECONDS": "3600"}
    with app_server(tmp_path_factory.mktemp("browser"), env) as app:
        yield app


@pytest.fixture
def page(browser, server: Server):
    """A fresh browser session on the app, loaded."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    page.goto(server.url)
    expect(page.get_by_role("heading", name="MNIST Studio")).to_be_visible()
    yield page
    context.close()


@pytest.fixture
def watched_page(browser, server: Server):
    """Like `page`, with bench.appserver's stroke watcher installed (window.__drawWatch
    stamps mouse-ups, websocket sends and answers on screen), on the Draw tab."""
    from bench.appserver import install_watch

    context = browser.new_context(viewport=VIEWPORT)
    install_watch(context)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    page.goto(server.url)
    open_tab(page, "Draw")
    yield page
    context.close()


def messages_sent(page) -> int:
    """Websocket messages the page has sent so far (needs `watched_page`)."""
    return page.evaluate("() => window.__drawWatch.sends.length")


def shot(page, name: str) -> None:
    """Save a screenshot for a human to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def button(page, key: str):
    """The (visible) button with this key."""
    return page.locator(f".st-key-{key}").get_by_role("button")


def open_tab(page, name: str) -> None:
    """Click a tab by its name; wait for the rerun that builds its content."""
    tab = page.get_by_role("tab", name=re.compile(name))
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    wait_idle(page)


def set_slider(page, key: str, presses: list[str]) -> None:
    """Move a slider with the keyboard (Home, ArrowRight, ...)."""
    thumb = page.locator(f".st-key-{key} input[type='range']")
    thumb.focus()
    for key_name in presses:
        thumb.press(key_name)


def canvas_box(page) -> dict:
    """The drawing surface's bounding box, once the canvas component is up."""
    # After Clear the old canvas lingers, marked stale, until the rerun ends.
    expect(page.locator(".st-key-canvas [data-stale='true']")).to_have_count(0)
    surface = page.locator(".st-key-canvas canvas.upper-canvas")
    expect(surface).to_have_count(1)
    expect(surface).to_be_visible()
    return surface.bounding_box()


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Draw one stroke through points given as fractions of the canvas size."""
    box = canvas_box(page)
    xs = [box["x"] + fx * box["width"] for fx, _ in points]
    ys = [box["y"] + fy * box["height"] for _, fy in points]
    page.mouse.move(xs[0], ys[0])
    page.mouse.down()
    for x, y in zip(xs[1:], ys[1:], strict=True):
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


Point = tuple[float, float]


def ellipse(cx: float, cy: float, rx: float, ry: float, count: int = 24) -> list[Point]:
    """Points around an ellipse (fractions of the canvas), closed."""
    angles = [2 * math.pi * i / count for i in range(count + 1)]
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def prediction(page):
    """The element showing the predicted digit (or the hint)."""
    return page.locator(".st-key-prediction")


def expect_digit(page, digit: int) -> None:
    """The prediction element's text starts with this digit."""
    expect(prediction(page)).to_have_text(re.compile(rf"^\s*{digit}\s"), use_inner_text=True)


def expect_model_view(page) -> None:
    """The enlarged 28x28 image the model saw is shown (and loaded)."""
    expect(page.locator(".st-key-model_view [data-testid='stImage'] img")).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll(\".st-key-model_view [data-testid='stImage'] img\")]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )


def expect_blank(page) -> None:
    """The hint is shown, and no digit at all."""
    expect(prediction(page)).to_contain_text("Draw a digit")
    assert not re.search(r"\d", prediction(page).inner_text())


def test_draw_digits_stroke_by_stroke_and_clear(page) -> None:
    open_tab(page, "Draw")
    canvas_box(page)
    expect_blank(page)
    shot(page, "draw-blank")

    stroke(page, [(0.5, 0.15), (0.5, 0.85)])  # a "1"
    expect_digit(page, 1)
    expect_model_view(page)
    shot(page, "draw-1")

    button(page, "clear").click()
    expect_blank(page)

    stroke(page, [(0.25, 0.2), (0.75, 0.2)])  # a "7", stroke by stroke: the bar...
    expect(prediction(page)).to_have_text(re.compile(r"^\s*\d\s"), use_inner_text=True)
    stroke(page, [(0.75, 0.2), (0.62, 0.5), (0.45, 0.85)])  # ...then the leg
    expect_digit(page, 7)
    expect_model_view(page)
    shot(page, "draw-7")

    button(page, "clear").click()
    expect_blank(page)
    stroke(page, ellipse(0.5, 0.5, 0.22, 0.33))  # a "0"
    expect_digit(page, 0)
    expect_model_view(page)
    shot(page, "draw-0")

    button(page, "clear").click()
    expect_blank(page)


def test_each_stroke_is_sent_at_once_and_only_once(watched_page) -> None:
    """The canvas waits 200 ms after the pen lifts before sending (streamlit-drawable-canvas
    0.13); the app presses the canvas's own "send now" button instead. Each stroke goes to
    the server once, well before that delay would have ended (it cannot fire earlier)."""
    from bench.appserver import timed_stroke

    page = watched_page
    box = canvas_box(page)
    # The button the app presses (streamlit_app.SEND_BUTTON_LABEL): if a canvas release
    # renames it, this says so.
    send_now = page.locator(".st-key-canvas").get_by_role(
        "button", name="Update the app with this drawing", exact=True)
    expect(send_now).to_have_count(1)
    wait_idle(page)
    strokes = [[(0.5, 0.15), (0.5, 0.85)], [(0.3, 0.3), (0.7, 0.3)],
               [(0.3, 0.7), (0.7, 0.7)]]
    results, sends = [], []
    for points in strokes:
        path = [(fx * 280, fy * 280) for fx, fy in points]
        before = messages_sent(page)
        results.append(timed_stroke(page, box, path))
        wait_idle(page)
        page.wait_for_timeout(300)  # longer than the canvas's own delay: no second send
        sends.append(messages_sent(page) - before)
    assert sends == [1, 1, 1], sends
    delays = sorted(r.send_ms for r in results)
    assert delays[1] < 200, delays  # the median stroke did not wait for the canvas's delay
    assert all(re.match(r"\d", r.text) for r in results), [r.text for r in results]


def test_clear_empties_the_canvas_in_the_page_with_one_message(watched_page) -> None:
    """Clear presses the canvas's own "Reset canvas & history" in the page: the canvas
    sends its empty drawing once, and the app's button never costs a rerun of its own
    (on the server it would cost two: the click, then the canvas sending what it got)."""
    page = watched_page
    # The button the app presses (streamlit_app.RESET_BUTTON_LABEL): if a canvas release
    # renames it, this says so.
    expect(page.locator(".st-key-canvas").get_by_role(
        "button", name="Reset canvas & history", exact=True)).to_have_count(1)
    ink = page.locator(".st-key-canvas canvas.dc-canvas.lower-canvas")  # the drawing
    ink_pixels = """canvas => {
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
      let lit = 0;
      for (let i = 0; i < data.data.length; i += 4) lit += data.data[i] > 0;
      return lit;
    }"""
    for _ in range(2):
        stroke(page, [(0.5, 0.15), (0.5, 0.85)])  # a "1"
        expect_digit(page, 1)
        wait_idle(page)
        page.wait_for_timeout(300)  # the canvas's own delayed send, if any, is over
        assert ink.evaluate(ink_pixels) > 0
        before = messages_sent(page)
        button(page, "clear").click()
        expect_blank(page)
        wait_idle(page)
        page.wait_for_timeout(300)
        assert messages_sent(page) - before == 1
        assert ink.evaluate(ink_pixels) == 0


def test_train_one_run_while_using_the_page(page, server: Server) -> None:
    open_tab(page, "Train")
    set_slider(page, "epochs", ["End"])  # 20 epochs: time to click around while it trains
    set_slider(page, "dropout", ["ArrowRight"])
    expect(page.locator(".st-key-epochs [data-testid='stSliderThumbValue']")).to_have_text("20")
    expect(page.locator(".st-key-dropout [data-testid='stSliderThumbValue']")).to_have_text("0.25")
    button(page, "train").click()

    progress = page.locator("[data-testid='stProgress']")
    expect(progress).to_be_visible()
    expect(button(page, "train")).to_be_disabled()
    charts = page.get_by_role("tabpanel", name=re.compile("Train")).locator(
        "[data-testid='stVegaLiteChart']"
    )
    expect(charts.first).to_be_visible()
    shot(page, "train-during")

    # Use the page while it trains: other tab, draw, a slider (a full rerun).
    open_tab(page, "Draw")
    stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    expect_digit(page, 1)
    expect_model_view(page)
    shot(page, "train-during-draw")
    open_tab(page, "Train")
    expect(progress).to_be_visible()  # still training...
    set_slider(page, "dropout", ["ArrowRight"])  # ...when a slider reruns the whole app
    expect(page.locator(".st-key-dropout [data-testid='stSliderThumbValue']")).to_have_text("0.30")
    expect(progress.or_(page.locator(".st-key-test_accuracy"))).to_be_visible()

    accuracy = page.locator(".st-key-test_accuracy")
    expect(accuracy).to_contain_text(re.compile(r"\d+\.\d%"), timeout=TRAIN_TIMEOUT)
    expect(page.get_by_text(re.compile(r"Finished: 20 epochs in"))).to_be_visible()
    expect(charts).to_have_count(2)
    saved = list((server.models / "runs").glob("mlp-e20-d0.25-*.keras"))
    assert len(saved) == 1  # one run, never restarted by the clicks
    name = saved[0].name.removesuffix(".keras")
    expect(page.get_by_text(f"Saved as {name}")).to_be_visible()
    expect(page.locator("[data-testid='stSidebar']")).to_contain_text("Trainer: idle")
    button(page, "use_model").click()
    picker = page.locator("[data-testid='stSidebar']").get_by_role("combobox")
    label = re.compile(r"★ Run \d+ · 20 epochs · dropout 0\.25 · \d+\.\d%")
    expect(picker).to_have_value(label)
    expect(page.get_by_role("tab", name=re.compile("Draw"))).to_have_attribute(
        "aria-selected", "true")  # "Draw with this model" opens Draw
    canvas_box(page)
    open_tab(page, "Train")
    expect(button(page, "train")).to_be_enabled()
    shot(page, "train-done")


def test_refresh_reattaches_and_stop_keeps_the_model(page, browser, server: Server) -> None:
    open_tab(page, "Train")
    set_slider(page, "epochs", ["End"])  # 20 epochs: it will be stopped
    button(page, "train").click()
    expect(page.locator("[data-testid='stProgress']")).to_be_visible()
    page.locator(".st-key-slow_motion label").click()  # ~15 s an epoch: still going later
    expect(page.locator(".st-key-slow_motion input")).to_be_checked()

    # The exact address, opened in another browser (seen on a projector): a new session.
    other = browser.new_context(viewport=VIEWPORT)
    try:
        stranger = other.new_page()
        stranger.goto(page.evaluate("location.href"))
        open_tab(stranger, "Train")
        expect(stranger.get_by_text("No run yet")).to_be_visible()
        expect(button(stranger, "train")).to_be_enabled()
        expect(stranger.locator(".st-key-stop")).to_have_count(0)
    finally:
        other.close()

    page.reload()  # the session cookie: the page finds the run still going
    open_tab(page, "Train")
    progress = page.locator("[data-testid='stProgress']")
    expect(progress).to_contain_text(re.compile(r"Epoch ([2-9]|1[0-5]) of 20"),
                                     timeout=TRAIN_TIMEOUT)
    shot(page, "stop-before")
    started = time.monotonic()
    button(page, "stop").click()
    expect(page.locator(".st-key-test_accuracy")).to_contain_text("%")
    seconds = time.monotonic() - started
    expect(page.get_by_text(re.compile(r"Stopped at epoch \d+ of 20"))).to_be_visible()
    assert seconds < 4, f"stopping took {seconds:.1f} s"
    saved = list((server.models / "runs").glob("mlp-e*-d0.20-*.keras"))  # the stopped run...
    assert len(saved) == 1 and not saved[0].name.startswith("mlp-e20-")  # ...named as trained
    shot(page, "stop-after")


def test_tab_closed_mid_training_still_saves_and_frees_the_trainer(
        browser, tmp_path: Path) -> None:
    """A participant starts a run and closes the tab: the run finishes and is saved, and
    the server's only training slot is free again for the next participant."""
    import json

    models = copy_shipped_models(tmp_path / "models")
    # The room in a real worker process, started by a Streamlit server (whose __main__ is
    # the app's script: a worker must not import it again).
    env = {"MNIST_TRAIN_LIMIT": "3000", "MNIST_MAX_TRAINING_JOBS": "1",
           "MNIST_TRAINING_WORKERS": "1"}

    def start_run(url: str, epochs_key: str):
        """A new participant: Train tab, epochs slider to one end (Home: 1, End: 20), Train.
        One key press: presses during a slider's rerun can be lost."""
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.set_default_timeout(TRAIN_TIMEOUT)
        page.goto(url)
        open_tab(page, "Train")
        set_slider(page, "epochs", [epochs_key])
        expect(page.locator(".st-key-epochs [data-testid='stSliderThumbValue']")).to_have_text(
            {"Home": "1", "End": "20"}[epochs_key])
        button(page, "train").click()
        return context, page

    with running_app(models, tmp_path / "server.log", env=env) as server:
        context, page = start_run(server.url, "End")  # 20 epochs, ~10 s of training
        page.locator("[data-testid='stProgress']").wait_for()  # training...
        context.close()  # ...when the tab goes away
        deadline = time.monotonic() + 120
        while not list((models / "runs").glob("mlp-e20-*.keras")):
            assert time.monotonic() < deadline, "the closed tab's run was never saved"
            time.sleep(0.5)
        saved = next((models / "runs").glob("mlp-e20-*.json"))
        metadata = json.loads(saved.read_text())
        assert metadata["epochs_completed"] == 20 and not metadata["stopped"]

        context, page = start_run(server.url, "Home")  # the next participant, 1 epoch
        page.locator(".st-key-test_accuracy").wait_for()  # it ran: the slot was free
        assert page.get_by_text(re.compile(r"Saved as mlp-e1-")).is_visible()
        context.close()
    assert len(list((models / "runs").glob("*.keras"))) == 2


def test_the_address_bar_is_a_live_link_of_the_tab_and_settings(browser, server: Server):
    """A link's clamped settings, then each change of tab or slider, show in the address."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)

    def address_has(*parts: str) -> None:  # location.search: page.url lags a step behind
        page.wait_for_function("parts => parts.every(part => location.search.includes(part))",
                               arg=list(parts))

    try:
        page.goto(f"{server.url}/?epochs=50&dropout=0.5&tab=train")
        expect(page.locator(".st-key-train")).to_be_visible()
        address_has("epochs=20", "dropout=0.5", "tab=train")
        set_slider(page, "epochs", ["ArrowLeft"])
        address_has("epochs=19")
        open_tab(page, "Draw")
        address_has("tab=draw", "epochs=19")
        open_tab(page, "Train")
        expect(page.locator(".st-key-epochs input[type='range']")).to_have_value("19")
        address_has("tab=train", "epochs=19", "dropout=0.5")
    finally:
        context.close()


def test_inside_view_follows_the_drawing(page, server: Server) -> None:
    """With "Look inside" on, two different digits give different inside pictures."""
    pictures = page.locator(".st-key-inside [data-testid='stImage'] img")

    def inside_sources() -> list[str]:
        expect(pictures.first).to_be_visible()
        wait_idle(page)
        return [pictures.nth(i).get_attribute("src") for i in range(3)]

    open_tab(page, "Draw")  # the drawing model, a CNN: its first filters
    page.get_by_text("Look inside the network").click()
    stroke(page, [(0.5, 0.15), (0.5, 0.85)])  # a 1
    expect_digit(page, 1)
    expect(page.locator(".st-key-inside")).to_contain_text("filter 1")
    shot(page, "inside-cnn")

    page.goto(f"{server.url}/?model=quickstart&tab=draw")  # the quickstart: its units
    page.get_by_text("Look inside the network").click()
    stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    expect_digit(page, 1)
    first = inside_sources()
    expect(page.locator(".st-key-inside")).to_contain_text("Why 1")
    shot(page, "inside-1")
    button(page, "clear").click()
    expect(prediction(page)).to_contain_text("Draw a digit")
    stroke(page, [(0.2, 0.2), (0.8, 0.2), (0.45, 0.85)])  # a 7
    expect_digit(page, 7)
    expect(page.locator(".st-key-inside")).to_contain_text("Why 7")
    second = inside_sources()
    assert all(a != b for a, b in zip(first, second, strict=True))  # grid and both maps
    shot(page, "inside-7")
