"""8 browser sessions press Train (1 epoch) within a second: all done vs one after another.

    .venv/bin/python -m bench.room_browser              # 8 sessions, about 2 minutes
    .venv/bin/python -m bench.room_browser --sessions 4

Starts the real app (default settings: the room's worker processes), measures one session
alone (click -> its result on screen) twice, around N sessions clicking Train together, and
prints the time until all N show their result against N times one alone (goal <= 0.40).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from statistics import median

from bench.appserver import VIEWPORT, chromium_browser, copy_shipped_models, running_app

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


def together(browser, url: str, sessions: int) -> float:
    """`sessions` participants press Train within a second: click -> all results shown."""
    opened = [open_train_tab(browser, url) for _ in range(sessions)]
    start = time.perf_counter()
    for _, page in opened:
        press_train(page)
    clicks = time.perf_counter() - start
    for _, page in opened:
        wait_done(page)
    seconds = time.perf_counter() - start
    for context, _ in opened:
        context.close()
    print(f"  {sessions} clicks within {clicks:.2f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8, help="sessions pressing Train (8)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        env = {"MNIST_TRAINING_WORKERS": os.environ.get("MNIST_TRAINING_WORKERS", "")}
        with running_app(copy_shipped_models(base / "models"), base / "server.log",
                         env=env) as app, chromium_browser() as browser:
            warm = alone(browser, app.url)  # starts the room's workers: not counted
            solo = [alone(browser, app.url)]
            all_done = together(browser, app.url, args.sessions)
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
