"""8 browser sessions press Train (1 epoch) within a second: all done vs one after another.

    .venv/bin/python -m bench.room_browser              # 8 sessions, about 2 minutes
    .venv/bin/python -m bench.room_browser --sessions 4

Starts the real app (default settings: the room's worker processes), measures one session
alone (click -> its result on screen) twice, around N sessions clicking Train together, and
prints the time until all N show their result against N times one alone (goal <= 0.40).

It prints the same ratio as the server saw it too: click -> the server sent the page its
result (bench.traced_streamlit). In a workshop each browser renders on its participant's
laptop; here N Chromiums share the server's 2 cores, niced, and render only once training
leaves them the CPU, so the on-screen figure counts their rendering as well.
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
    AppServer,
    chromium_browser,
    copy_shipped_models,
    lower_browser_autogroup,
    niced_chromium,
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


def train_button(page):
    """The page's Train button, found ahead (the clicks then leave at once)."""
    return page.locator(".st-key-train").get_by_role("button").element_handle()


def press_train(button) -> None:
    """Click it the way the page's own click handler sees a participant's click. Playwright's
    click waits for the button to hold still first: 8 of them took 0.7-2.0 s here, more than
    the second within which the room presses Train."""
    button.evaluate("button => button.click()")


def wait_done(page) -> None:
    page.locator(".st-key-test_accuracy").wait_for(state="visible", timeout=TIMEOUT_MS)


class Stopwatch:
    """Seconds from the first click: until the results were on screen, and until the server
    sent the last of them (the result lines bench.traced_streamlit writes)."""

    def __init__(self, trace: Path) -> None:
        self.trace = trace

    def results_sent(self) -> list[float]:
        """When the server sent each result so far (time.time())."""
        if not self.trace.exists():
            return []
        entries = map(json.loads, self.trace.read_text().splitlines())
        return [entry["t"] for entry in entries if "result" in entry]

    def sent_after(self, clicked: float, count: int, before: int) -> float:
        """Seconds from `clicked` until the server had sent `count` results more than
        `before` (waits a moment for the tracer's last lines)."""
        for _ in range(50):
            sent = self.results_sent()[before:]
            if len(sent) >= count:
                return max(sent[:count]) - clicked
            time.sleep(0.1)
        raise RuntimeError(f"the server traced {len(sent)} of {count} results: is "
                           f"bench.traced_streamlit's hook still there?")


def alone(browser, url: str, watch: Stopwatch) -> tuple[float, float]:
    """One participant by themselves: click -> result on screen, and -> result sent."""
    context, page = open_train_tab(browser, url)
    before = len(watch.results_sent())
    button = train_button(page)
    start, clicked = time.perf_counter(), time.time()
    press_train(button)
    wait_done(page)
    seconds = time.perf_counter() - start
    context.close()
    return seconds, watch.sent_after(clicked, 1, before)


def together(browser, url: str, sessions: int, niceness: int, runs: Path,
             watch: Stopwatch) -> tuple[float, float]:
    """`sessions` participants press Train within a second: click -> all results shown,
    and -> all results sent."""
    opened = [open_train_tab(browser, url) for _ in range(sessions)]
    # The clicks at normal priority (within a second, as a room's are), then the browsers
    # give way (their autogroup niceness), as participants' laptops would not take the
    # server's cores.
    lower_browser_autogroup(0)
    sent_before = len(watch.results_sent())
    buttons = [train_button(page) for _, page in opened]
    start, first_click = time.perf_counter(), time.time()
    for button in buttons:
        press_train(button)
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
    return seconds, watch.sent_after(first_click, sessions, sent_before)


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
        watch = Stopwatch(base / "server-trace.jsonl")
        app = AppServer(copy_shipped_models(base / "models"), base / "server.log", env,
                        trace=watch.trace).start()
        try:
            app.wait_healthy()
            with chromium_browser(chromium) as browser:
                warm, _ = alone(browser, app.url, watch)  # starts the room's workers
                if args.browser_niceness > 0:
                    lower_browser_autogroup(args.browser_niceness)
                solo = [alone(browser, app.url, watch)]
                shown, sent = together(browser, app.url, args.sessions, args.browser_niceness,
                                       app.models / "runs", watch)
                solo.append(alone(browser, app.url, watch))
        finally:
            app.stop()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"[room-browser] {args.sessions} sessions pressing Train (1 epoch) together "
          f"(first run, starting the workers: {warm:.1f} s; load average {load}):")
    for what, together_s, one in (("on screen", shown, median(s for s, _ in solo)),
                                  ("sent by the server", sent, median(s for _, s in solo))):
        print(f"  all results {what} after {together_s:.1f} s; one alone {one:.1f} s -> "
              f"{together_s:.1f} / ({args.sessions} x {one:.1f}) = "
              f"{together_s / (args.sessions * one):.2f} (target <= {TARGET})")


if __name__ == "__main__":
    main()
