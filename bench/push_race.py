"""A push lands while a slowed participant page on the Train tab clicks another tab.

    .venv/bin/python -m bench.push_race            # 16 tries, about 2 minutes
    .venv/bin/python -m bench.push_race --tries 32

The participant's page runs at 1/30 of the CPU (Chromium's throttling, as a starved page in
bench/load.py), so its click can leave before it has drawn the push: that request holds the
sliders it showed and undid the push (21 of 24 followed before ui/presets.restore_push,
24 of 24 after).
Prints how many pages followed the push within 10 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.appserver import (
    VIEWPORT,
    AppServer,
    chromium_browser,
    copy_shipped_models,
    wait_idle,
)
from bench.load_drive import FOLLOWED_JS  # the load test's check of a page's address

SECRET = "push-race-presenter-secret"
EPOCHS = (1, 2, 3, 10, 20)
THROTTLE = 30  # Chromium's CPU slow-down of the participant's page
FOLLOW_SECONDS = 10.0
OPEN_TIMEOUT = 60_000  # ms


def push(console, epochs: int, dropout: str) -> None:
    """The presenter sets epochs and dropout in the console and presses Push."""
    for key, value in (("console_epochs", str(epochs)), ("console_dropout", dropout)):
        console.locator(f".st-key-{key}").get_by_role("radio", name=value, exact=True).click()
        wait_idle(console)
    console.locator(".st-key-presenter_push").get_by_role(
        "button", name="Push to everyone").click()


def followed(page, epochs: int, dropout: str) -> bool:
    """Whether the page's address (which follows its sliders) shows the push in time."""
    try:
        page.wait_for_function(FOLLOWED_JS, arg={"epochs": str(epochs), "dropout": dropout},
                               timeout=FOLLOW_SECONDS * 1000, polling=250)
    except PlaywrightTimeout:
        return False
    return True


def one_try(browser, url: str, console, index: int) -> bool:
    """A fresh participant on the Train tab; a push; its click `delay` s later."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{url}/?tab=train")
    page.locator(".st-key-epochs input[type='range']").wait_for(timeout=OPEN_TIMEOUT)
    wait_idle(page)
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": THROTTLE})
    epochs, dropout = EPOCHS[index % len(EPOCHS)], ("0", "0.5")[index % 2]
    delay = 0.3 * (index % 8)  # around the room timer's 2 s tick
    push(console, epochs, dropout)
    time.sleep(delay)
    page.get_by_role("tab", name="Draw").click()
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    ok = followed(page, epochs, dropout)
    print(f"  try {index}: click {delay:.1f} s after the push: "
          f"{'followed' if ok else 'MISSED ' + page.evaluate('location.search')}", flush=True)
    context.close()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tries", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        env = {"MNIST_PRESENTER_SECRET": SECRET, "MNIST_TRAINING_WORKERS": "0"}
        app = AppServer(copy_shipped_models(base / "models"), base / "server.log", env).start()
        try:
            app.wait_healthy()
            with chromium_browser() as browser:
                console = browser.new_context(viewport=VIEWPORT).new_page()
                console.goto(f"{app.url}/?presenter_key={SECRET}")
                console.locator(".st-key-presenter_push").wait_for(timeout=OPEN_TIMEOUT)
                results = [one_try(browser, app.url, console, i) for i in range(args.tries)]
        finally:
            app.stop()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"[push-race] {sum(results)} of {len(results)} slowed pages followed the push "
          f"within {FOLLOW_SECONDS:.0f} s (load average {load})")


if __name__ == "__main__":
    main()
