"""Screenshots of every tab at every screen size (desktop, projector, tablet, phone), light
and dark, for a human to look at; and the page measurements tests/test_layout_browser.py
checks (nothing wider than the screen, sticking out, overlapping or cut off).

    .venv/bin/python -m bench.screens [--out /tmp/shots] [--sizes phone,projector] [--dark]

Starts the app on a free port with a throwaway models folder (or uses --url), draws a digit,
trains a short run, and saves <size>[-dark]-<tab>.png (the whole page) in --out.
"""

from __future__ import annotations

import argparse
import math
import re
import tempfile
from pathlib import Path
from typing import Any

from bench.appserver import canvas_box, copy_shipped_models, running_app, wait_idle

# Playwright contexts for each screen. The projector is 1280x720 at 150% browser zoom:
# 853x480 CSS px on 1.5 device px each.
SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1400, "height": 900}},
    "projector": {"viewport": {"width": 853, "height": 480}, "device_scale_factor": 1.5},
    "tablet": {"viewport": {"width": 820, "height": 1180}, "device_scale_factor": 2,
               "has_touch": True},
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3,
              "is_mobile": True, "has_touch": True},
}
TABS = ("Draw", "Learn", "Train", "Evaluate")
UI_TIMEOUT = 60_000  # ms

# What a human would call a broken layout, measured in the page: a function returning a
# list of problems (strings), [] when there are none.
LAYOUT_JS = (Path(__file__).parent / "layout_check.js").read_text()



def new_page(browser: Any, url: str, size: str, dark: bool = False,
             owner: str | None = None) -> tuple[Any, Any]:
    """A new browser context of this size on the app (its session cookie `owner`'s, if
    given); (context, page), loaded."""
    context = browser.new_context(**SIZES[size], color_scheme="dark" if dark else "light")
    if owner is not None:
        from ui.session import OWNER_COOKIE

        context.add_cookies([{"name": OWNER_COOKIE, "value": owner, "url": url}])
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    page.goto(url)
    page.get_by_role("heading", name="MNIST Studio").first.wait_for(state="attached")
    wait_idle(page, UI_TIMEOUT)
    return context, page


def open_tab(page: Any, name: str) -> None:
    """Click a tab; wait for its content (and any loading note to go)."""
    tab = page.get_by_role("tab", name=re.compile(name))
    tab.click()
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('[role=tab]')].some("
        "t => t.innerText.includes(name) && t.getAttribute('aria-selected') === 'true')",
        arg=name)
    wait_idle(page, UI_TIMEOUT)
    page.wait_for_function(
        "() => !document.querySelector(\"[role='tabpanel']:not([hidden]) "
        "[data-testid='stAlertContentInfo']\")?.innerText.includes('Loading TensorFlow')",
        timeout=UI_TIMEOUT)
    wait_idle(page, UI_TIMEOUT)
    wait_charts(page)


def ellipse(cx: float, cy: float, rx: float, ry: float, count: int = 24) -> list[tuple]:
    """Points around an ellipse (fractions of the canvas), closed."""
    angles = [2 * math.pi * i / count for i in range(count + 1)]
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def draw(page: Any, points: list[tuple[float, float]]) -> None:
    """One stroke through points given as fractions of the canvas, then wait for the answer."""
    box = canvas_box(page, UI_TIMEOUT)
    xs = [box["x"] + fx * box["width"] for fx, _ in points]
    ys = [box["y"] + fy * box["height"] for _, fy in points]
    page.mouse.move(xs[0], ys[0])
    page.wait_for_timeout(300)  # the canvas's toolbar hides once the pointer has hovered
    page.mouse.down()
    for x, y in zip(xs[1:], ys[1:], strict=True):
        page.mouse.move(x, y, steps=4)
    page.mouse.up()
    page.wait_for_function(
        "() => /^\\s*\\d\\s/.test(document.querySelector('.st-key-prediction')?.innerText || '')",
        timeout=UI_TIMEOUT)
    wait_idle(page, UI_TIMEOUT)
    page.wait_for_timeout(300)


def draw_zero(page: Any) -> None:
    """A big "0" on the Draw tab's canvas."""
    draw(page, ellipse(0.5, 0.5, 0.22, 0.33))


def set_epochs(page: Any, key: str) -> None:
    """Move the Epochs slider with one key press (Home: 1, End: 20)."""
    thumb = page.locator(".st-key-epochs input[type='range']")
    thumb.focus()
    thumb.press(key)
    wait_idle(page, UI_TIMEOUT)


def train_and_pause(page: Any, timeout: float = 120_000) -> None:
    """On the Train tab: start a 20-epoch run, pause it once its charts show (the live panel
    holds still to be measured or photographed)."""
    set_epochs(page, "End")
    page.locator(".st-key-train button").click()
    # The live panel reruns twice a second: a button can be there twice for a moment.
    page.locator(".st-key-pause button:visible").first.click(timeout=timeout)
    page.locator(".st-key-resume button:visible").first.wait_for(timeout=timeout)
    wait_idle(page, UI_TIMEOUT)
    page.locator(".st-key-train_charts [data-testid='stVegaLiteChart']").first.wait_for(
        timeout=timeout)
    wait_charts(page)


def stop_run(page: Any, timeout: float = 120_000) -> None:
    """Stop the running run; wait for its result."""
    page.locator(".st-key-stop button:visible").first.click()
    page.locator(".st-key-test_accuracy").wait_for(timeout=timeout)
    wait_idle(page, UI_TIMEOUT)
    wait_charts(page)


CHARTS_DRAWN_JS = """() => [...document.querySelectorAll(
    "[role='tabpanel']:not([hidden]) [data-testid='stVegaLiteChart']")]
  .every(c => { const svg = c.querySelector('svg.marks');
                return svg && svg.getBoundingClientRect().width > 0; })
  && [...document.querySelectorAll("[role='tabpanel']:not([hidden]) img")]
  .every(img => img.complete)"""


def wait_charts(page: Any) -> None:
    """Until every chart on the open tab is drawn and every picture loaded."""
    page.wait_for_function(CHARTS_DRAWN_JS, timeout=UI_TIMEOUT, polling=100)
    page.wait_for_timeout(300)  # a chart resizing to its column


def full_shot(page: Any, path: Path, max_height: int = 12_000) -> None:
    """A screenshot of the whole main area: the page scrolls inside it, not the document, so
    the viewport is made as tall as its content for the shot (the width stays the same)."""
    viewport = page.viewport_size
    height = page.evaluate(
        "() => document.querySelector(\"[data-testid='stMain']\")?.scrollHeight || 0")
    page.set_viewport_size({"width": viewport["width"],
                            "height": max(viewport["height"], min(height, max_height))})
    page.wait_for_timeout(400)
    page.screenshot(path=str(path))
    page.set_viewport_size(viewport)
    page.wait_for_timeout(200)


def layout_problems(page: Any) -> list[str]:
    """What LAYOUT_JS finds wrong on the page as it is now."""
    return page.evaluate(LAYOUT_JS)


def shoot(page: Any, path: Path, label: str) -> None:
    """A full shot of the page to `path`, then each layout problem printed after `label`."""
    full_shot(page, path)
    for problem in layout_problems(page):
        print(f"{label}: {problem}")


def screens(url: str, out: Path, sizes: list[str], dark: bool, train: bool) -> None:
    """Screenshots of each tab at each size; prints what LAYOUT_JS finds."""
    from bench.appserver import chromium_browser

    out.mkdir(parents=True, exist_ok=True)
    with chromium_browser() as browser:
        for size in sizes:
            for scheme in ([False, True] if dark else [False]):
                context, page = new_page(browser, url, size, scheme)
                tag = f"{size}-dark" if scheme else size
                try:
                    for tab in TABS:
                        open_tab(page, tab)
                        if tab == "Draw":
                            draw_zero(page)
                            page.locator(".st-key-canvas").scroll_into_view_if_needed()
                        if tab == "Train" and train:
                            train_and_pause(page)
                            shoot(page, out / f"{tag}-train-live.png", f"{tag} Train (live)")
                            stop_run(page)
                        page.screenshot(path=str(out / f"{tag}-{tab.lower()}-screen.png"))
                        shoot(page, out / f"{tag}-{tab.lower()}.png", f"{tag} {tab}")
                finally:
                    context.close()
                print(f"{tag}: done", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/shots"))
    parser.add_argument("--url", help="an app already running (else one is started)")
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--dark", action="store_true", help="also in the dark colour scheme")
    parser.add_argument("--no-train", action="store_true", help="do not train a run")
    parser.add_argument("--train-limit", default="10000", help="MNIST_TRAIN_LIMIT")
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    if args.url:
        screens(args.url, args.out, sizes, args.dark, not args.no_train)
        return
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        env = {"MNIST_TRAIN_LIMIT": args.train_limit}
        with running_app(copy_shipped_models(base / "models"), base / "server.log",
                         env=env) as server:
            screens(server.url, args.out, sizes, args.dark, not args.no_train)


if __name__ == "__main__":
    main()
