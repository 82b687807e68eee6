"""8 browser sessions press Train (1 epoch) within a second: all done vs one after another.

    .venv/bin/python -m bench.room_browser              # 8 sessions, about 2 minutes
    .venv/bin/python -m bench.room_browser --sessions 4

Starts the real app (default settings: the room's worker processes), measures one session
alone (click -> its result on screen) twice, around N sessions clicking Train together, and
prints the time until all N show their result against N times one alone (goal <= 0.40).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from statistics import median

from bench.appserver import (
    VIEWPORT,
    chromium_browser,
    copy_shipped_models,
    lower_browser_autogroup,
    niced_chromium,
    running_app,
)

TARGET = 0.40
TIMEOUT_MS = 300_000


def open_train_tab(browser, url: str):
    """A fresh participant on the Train tab, 1 epoch (a workshop link's preset)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{url}/?epochs=1&tab=train")
    page.locator(".st-key-train").get_by_role("button").wait_for()
    return context, page


def press_train(page) -> None:
    page.locator(".st-key-train").get_by_role("button").click()


def wait_done(page) -> None:
    page.locator(".st-key-test_accuracy").wait_for(state="visible", timeout=TIMEOUT_MS)


def alone(browser, url: str) -> float:
    """One participant by themselves: click -> result on screen, in seconds."""
    context, page = open_train_tab(browser, url)
    start = time.perf_counter()
    press_train(page)
    wait_done(page)
    seconds = time.perf_counter() - start
    context.close()
    return seconds


def together(browser, url: str, sessions: int, niceness: int, runs: Path) -> float:
    """`sessions` participants press Train within a second: click -> all results shown."""
    opened = [open_train_tab(browser, url) for _ in range(sessions)]
    # The clicks at normal priority (within a second, as a room's are), then the browsers
    # give way (their autogroup niceness), as participants' laptops would not take the
    # server's cores.
    lower_browser_autogroup(0)
    start = time.perf_counter()
    for _, page in opened:
        press_train(page)
    clicks = time.perf_counter() - start
    if niceness > 0:
        lower_browser_autogroup(niceness)
    clicked = time.time()
    before = set(runs.glob("*.json"))
    for _, page in opened:
        wait_done(page)
    seconds = time.perf_counter() - start
    # When the server saved each run, and how long its worker trained it: what the rest of
    # the time was (the page's polling, the server's saves).
    saved = sorted((path.stat().st_mtime - clicked + clicks,
                    json.loads(path.read_text()).get("seconds", 0.0))
                   for path in set(runs.glob("*.json")) - before)
    print("  saved at (s after the first click) / trained (s): " + ", ".join(
        f"{at:.1f}/{trained:.1f}" for at, trained in saved), flush=True)
    for context, _ in opened:
        context.close()
    print(f"  {sessions} clicks within {clicks:.2f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8, help="sessions pressing Train (8)")
    parser.add_argument("--browser-niceness", type=int, default=19,
                        help="Chromium's autogroup niceness while runs train: the browsers "
                             "stand for participants' laptops, not the server's cores (19)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        env = {"MNIST_TRAINING_WORKERS": os.environ.get("MNIST_TRAINING_WORKERS", "")}
        chromium = niced_chromium(0, base)  # niced by autogroup only: see together()
        with running_app(copy_shipped_models(base / "models"), base / "server.log",
                         env=env) as app, chromium_browser(chromium) as browser:
            warm = alone(browser, app.url)  # starts the room's workers: not counted
            if args.browser_niceness > 0:
                lower_browser_autogroup(args.browser_niceness)
            solo = [alone(browser, app.url)]
            all_done = together(browser, app.url, args.sessions, args.browser_niceness,
                                app.models / "runs")
            solo.append(alone(browser, app.url))
    one = median(solo)
    ratio = all_done / (args.sessions * one)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"[room-browser] {args.sessions} sessions pressing Train (1 epoch) together: all "
          f"results on screen after {all_done:.1f} s; one alone {one:.1f} s (first, starting "
          f"the workers: {warm:.1f} s) -> {all_done:.1f} / ({args.sessions} x {one:.1f}) = "
          f"{ratio:.2f} (target <= {TARGET}); load average {load}")


if __name__ == "__main__":
    main()
