"""The shared harness: the real app's server, Debian's Chromium, OS priorities, drawing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "streamlit_app.py"
SHIPPED_MODELS = ROOT / "models"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}  # a typical projector
START_TIMEOUT = 60.0  # s for the server to answer its health check


class ServerError(RuntimeError):
    """The app server exited early or never became healthy (message ends with its log)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_path() -> str | None:
    """Debian's chromium (Playwright's own browser download does not work here)."""
    return shutil.which("chromium")


def require_chromium() -> str:
    """Debian's chromium, or RuntimeError saying how to install it."""
    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    return path


def copy_shipped_models(folder: Path) -> Path:
    """A models folder holding copies of the shipped models (and their metadata)."""
    folder.mkdir(parents=True, exist_ok=True)
    for model in SHIPPED_MODELS.glob("*.keras"):
        shutil.copy(model, folder)
        if model.with_suffix(".json").exists():
            shutil.copy(model.with_suffix(".json"), folder)
    return folder


def mnist_copies(pid: int) -> int:
    """How many float32 copies of MNIST's training images (179 MiB) a process holds."""
    # numpy maps an array that large on its own: count resident anonymous mappings of at
    # least that size (two merged neighbours count twice).
    block = 60_000 * 784 * 4 / 2**20  # MiB
    copies, size, anonymous = 0, 0.0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            anonymous = len(fields) == 5  # no path: anonymous memory
        elif fields[:1] == ["Size:"]:
            size = int(fields[1]) / 1024
        elif fields[:1] == ["Rss:"] and anonymous:
            copies += int(min(size, int(fields[1]) / 1024) // (block * 0.99))
    return copies


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (from /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with suppress(OSError):
                todo += [int(child) for child in (task / "children").read_text().split()]
    return found


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by this one process; OSError if it is gone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its live descendants."""
    total = 0.0
    for current in process_tree(pid):
        with suppress(OSError):
            total += process_cpu_seconds(current)
    return total


def rss_mb(pid: int) -> float:
    """Resident memory (MB) of a process and all its descendants, from /proc."""
    total_kb = 0
    for current in process_tree(pid):
        with suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def niced_chromium(niceness: int, folder: Path) -> str:
    """Chromium behind a wrapper script in `folder` that starts it at `niceness`."""
    # The browsers stand for participants' laptops but share the server's cores: at equal
    # priority they would starve the server, and a load test would measure Chromium.
    chromium = require_chromium()
    if niceness <= 0:
        return chromium
    wrapper = folder / "chromium-niced"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {niceness} "{chromium}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def lower_browser_autogroup(niceness: int) -> int:
    """Set the scheduling autogroups of this process's Chromiums to `niceness`; how many."""
    # Chromium calls setsid, and with autogroup scheduling each session gets a fair share
    # whatever its processes' niceness; renderers started later join the same group.
    groups: set[str] = set()
    for pid in process_tree(os.getpid()):
        with suppress(OSError):
            if "chrom" not in Path(f"/proc/{pid}/comm").read_text():
                continue
            autogroup = Path(f"/proc/{pid}/autogroup")
            group = autogroup.read_text().split()[0]
            if group not in groups:
                autogroup.write_text(str(niceness))
                groups.add(group)
    return len(groups)


@dataclass
class AppServer:
    """A `streamlit run streamlit_app.py` process on a free loopback port."""

    models: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)  # on top of os.environ
    app: Path = APP  # another copy of the script can be run (it imports mnist_core from ROOT)
    trace: Path | None = None  # log the server's time per prediction here (traced_streamlit)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    launched: float = 0.0  # time.monotonic() of the launch

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> AppServer:
        """Launch the process (returns at once; see wait_healthy)."""
        env = {
            **os.environ,
            "MNIST_MODELS_DIR": str(self.models),
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **self.env,
        }
        streamlit = [sys.executable, "-m", "streamlit"]
        if self.trace is not None:
            streamlit = [sys.executable, "-m", "bench.traced_streamlit", str(self.trace)]
        command = [
            *streamlit, "run", str(self.app),
            "--server.headless", "true", "--server.port", str(self.port),
            "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
        ]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.launched = time.monotonic()
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT)
        return self

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = START_TIMEOUT, interval: float = 0.05) -> float:
        """Poll /_stcore/health until it answers; returns seconds since launch."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerError(f"streamlit exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        return time.monotonic() - self.launched
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"streamlit did not start:\n{self.log_tail()}")
            time.sleep(interval)

    def rss_mb(self) -> float:
        """Resident memory of the server and its children, in MB."""
        return rss_mb(self.pid)

    def kill(self) -> None:
        """SIGKILL, no clean-up (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Terminate (then kill if it hangs) and reap the process."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def running_app(models: Path, log: Path, env: dict[str, str] | None = None,
                timeout: float = START_TIMEOUT) -> Iterator[AppServer]:
    """A healthy app server for the duration of the block, always stopped afterwards."""
    server = AppServer(models, log, dict(env or {})).start()
    try:
        server.wait_healthy(timeout)
        yield server
    finally:
        server.stop()


@contextmanager
def chromium_browser(executable: str | None = None) -> Iterator[Any]:
    """One headless Chromium (Debian's) driven by Playwright; closed afterwards."""
    from playwright.sync_api import sync_playwright

    executable = executable or require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- Drawing on the app's canvas -------------------------------------------------------

CANVAS = ".st-key-canvas canvas.upper-canvas"
PREDICTION = ".st-key-prediction"
MODEL_VIEW = "[data-testid='stImage'] img"
ERROR_SELECTOR = "[data-testid='stException'], [data-testid='stAlertContentError']"

# The stroke watcher, in one place for the sync (tests, run.py) and async (load.py) drivers.
WATCH_JS = Path(__file__).with_name("draw_watch.js").read_text()
WATCH_SCRIPT = f"({WATCH_JS})({json.dumps(PREDICTION)}, {json.dumps(MODEL_VIEW)});"
STROKE_IN_PAGE_JS = "([points, timeout]) => window.__drawWatch.stroke(points, timeout)"

# Whether a page point lands on the drawing surface (inside the component's shadow roots).
HITS_CANVAS = """([x, y]) => {
  let e = document.elementFromPoint(x, y);
  while (e && e.shadowRoot) {
    const inner = e.shadowRoot.elementFromPoint(x, y);
    if (!inner || inner === e) break;
    e = inner;
  }
  return !!e && e.classList.contains("upper-canvas");
}"""


def install_watch(context_or_page: Any) -> None:
    """Add the stroke watcher to a browser context (or page) before it loads the app."""
    context_or_page.add_init_script(WATCH_SCRIPT)


# One fresh drawing surface: after a rerun that rebuilt the canvas, the old one lingers.
ONE_CANVAS_JS = """() => {
  if (document.querySelector(".st-key-canvas [data-stale='true']")) return false;
  const surfaces = [];
  const walk = (root) => {
    for (const e of root.querySelectorAll("*")) {
      if (e.tagName === "CANVAS" && e.classList.contains("upper-canvas")) surfaces.push(e);
      if (e.shadowRoot) walk(e.shadowRoot);
    }
  };
  const box = document.querySelector(".st-key-canvas");
  if (box) walk(box);
  return surfaces.length === 1 && surfaces[0].getBoundingClientRect().width > 0;
}"""


def canvas_box(page: Any, timeout: float = 30_000) -> dict:
    """The drawing surface's bounding box, once the canvas component is up (and fresh)."""
    page.wait_for_function(ONE_CANVAS_JS, timeout=timeout, polling=50)
    return page.locator(CANVAS).bounding_box()


def open_draw_tab(page: Any) -> None:
    """Click the Draw tab."""
    page.get_by_role("tab", name="Draw").click()


def coarse(path: Sequence[Sequence[float]], max_points: int = 24) -> list[tuple[float, float]]:
    """At most `max_points` points of a dense pen path (keeps both ends)."""
    points = [(float(x), float(y)) for x, y in path]
    if len(points) <= max_points:
        return points
    step = (len(points) - 1) / (max_points - 1)
    return [points[round(i * step)] for i in range(max_points)]


def stroke_points(box: dict, path: Sequence[Sequence[float]],
                  size: float = 280) -> list[tuple[float, float]]:
    """Page coordinates of a stroke given in canvas pixels (a 280 px canvas)."""
    scale_x, scale_y = box["width"] / size, box["height"] / size
    return [(box["x"] + x * scale_x, box["y"] + y * scale_y) for x, y in coarse(path)]


def draw_path(page: Any, box: dict, path: Sequence[Sequence[float]],
              timeout: float = 30_000) -> None:
    """One stroke with the mouse through canvas-pixel points."""
    points = stroke_points(box, path)
    page.mouse.move(*points[0])
    # The canvas's invisible toolbar covers its top-right corner until the pointer has
    # hovered for ~0.2 s: a stroke starting there would be eaten.
    page.wait_for_function(HITS_CANVAS, arg=list(points[0]), polling=50, timeout=timeout)
    page.mouse.down()
    for x, y in points[1:] or [(points[0][0] + 1, points[0][1] + 1)]:
        page.mouse.move(x, y, steps=2)
    page.mouse.up()


@dataclass(frozen=True)
class StrokeResult:
    """What one stroke led to on the page."""

    latency_ms: float | None  # mouse-up -> the prediction (or the model's view) changed on screen
    send_ms: float | None  # mouse-up -> the canvas sent the drawing to the server
    reply_ms: float | None  # mouse-up -> the server's message carrying the answer arrived
    text: str  # what the prediction element says afterwards
    by: str  # "text", "image" (only the model view changed) or "none" (load.py: no change)

    @classmethod
    def from_js(cls, result: dict) -> StrokeResult:
        return cls(result["ms"], result["send"], result["recv"], result["text"], result["by"])


WATCH_STATE_JS = "() => window.__drawWatch.state()"
STROKE_DONE_JS = "(before) => window.__drawWatch.strokeDone(before)"
STROKE_RESULT_JS = "(before) => window.__drawWatch.result(before)"
IDLE = ".stApp[data-test-script-state='notRunning']"  # no script run going for the page


def timed_stroke(page: Any, box: dict, path: Sequence[Sequence[float]],
                 timeout: float = 30_000) -> StrokeResult:
    """Draw a stroke; return the time from mouse-up to its prediction (or model view) on screen."""
    before = page.evaluate(WATCH_STATE_JS)
    draw_path(page, box, path, timeout=timeout)
    page.wait_for_function(STROKE_DONE_JS, arg=before, timeout=timeout, polling=50)
    return StrokeResult.from_js(page.evaluate(STROKE_RESULT_JS, before))


def wait_idle(page: Any, timeout: float = 60_000) -> None:
    """Wait until no script run (full or fragment) is going for this page."""
    page.wait_for_selector(IDLE, timeout=timeout)


def draw_digit(page: Any, strokes: Sequence[Sequence[Sequence[float]]],
               timeout: float = 30_000) -> list[StrokeResult]:
    """Clear, then draw a digit stroke by stroke, each once the last one's answer is shown."""
    box = clear_canvas(page, timeout)
    wait_idle(page, timeout)
    return [timed_stroke(page, box, path, timeout) for path in strokes]


# Clear's rerun has put the hint on the page, with a fresh canvas.
CLEARED_JS = """(prediction) => {
  const c = document.querySelector(".st-key-canvas [class*='st-key-']");
  const p = document.querySelector(prediction);
  return !!c && !document.querySelector(".st-key-canvas [data-stale='true']")
    && !!p && p.textContent.includes("Draw a digit");
}"""
CLEAR_BUTTON = ".st-key-clear button"


def clear_canvas(page: Any, timeout: float = 30_000) -> dict:
    """Press Clear; wait for the hint and an idle page; return the canvas's box."""
    # Clear empties the canvas in place, which then sends the empty drawing: two reruns.
    page.locator(CLEAR_BUTTON).click()
    page.wait_for_function(CLEARED_JS, arg=PREDICTION, timeout=timeout)
    wait_idle(page, timeout)
    page.wait_for_timeout(100)  # the canvas's own send of the empty drawing, if still due
    wait_idle(page, timeout)
    return canvas_box(page, timeout)


def page_errors(page: Any) -> list[str]:
    """Error boxes or exceptions shown in the page (Streamlit's own markup)."""
    return [text.strip() for text in page.locator(ERROR_SELECTOR).all_inner_texts()]
