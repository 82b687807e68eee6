"""Start the real app (`streamlit run streamlit_app.py`) and Debian's Chromium, and draw
on the app's canvas: shared by tests/test_browser.py, bench/run.py and bench/load.py.

Everything stays on 127.0.0.1. Playwright is imported only by the functions that need it.
"""

from __future__ import annotations

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


def copy_shipped_models(folder: Path) -> Path:
    """A models folder holding copies of the shipped models (and their metadata)."""
    folder.mkdir(parents=True, exist_ok=True)
    for model in SHIPPED_MODELS.glob("*.keras"):
        shutil.copy(model, folder)
        if model.with_suffix(".json").exists():
            shutil.copy(model.with_suffix(".json"), folder)
    return folder


def mnist_copies(pid: int) -> int:
    """How many float32 copies of MNIST's training images (179 MiB) a process holds.

    numpy gives an array that large its own anonymous memory mapping: count the resident
    anonymous mappings of at least that size (two merged neighbours count twice).
    """
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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its live descendants."""
    total = 0
    for current in process_tree(pid):
        with suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory (MB) of a process and all its descendants, from /proc."""
    total_kb = 0
    for current in process_tree(pid):
        with suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


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
            streamlit = [sys.executable, str(ROOT / "bench" / "traced_streamlit.py"),
                         str(self.trace)]
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

    executable = executable or chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
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

# Installed in every page (window.__drawWatch): stamps each mouse-up, each websocket
# message, and each change of what the prediction element says or of the "what the model
# sees" image with performance.now(). Changes are looked at once per animation frame,
# i.e. when the browser is about to paint them: the stamp is when the answer reaches the
# screen. It also holds the logic that decides when a stroke's answer is there, so that
# the sync (tests, bench/run.py) and async (bench/load.py) drivers share it.
WATCH_SCRIPT = """
(() => {
  if (window.__drawWatch) return;
  const watch = window.__drawWatch = {ups: [], sends: [], recvs: [], marks: [], last: "",
                                      waiters: []};
  const read = () => {
    const p = document.querySelector(%(prediction)r);
    // The model's view: the image nearest the prediction (other tabs show images too).
    let area = p;
    while (area && !area.querySelector(%(view)r) && area.getAttribute("role") !== "tabpanel") {
      area = area.parentElement;
    }
    const img = area ? area.querySelector(%(view)r) : null;
    const text = p ? p.textContent.replace(/\\s+/g, " ").trim() : "";  // no layout
    return [text, img ? img.getAttribute("src") || "" : ""];
  };
  const check = () => {
    const [text, src] = read();
    const key = text + "\\u0000" + src;
    if (key !== watch.last) {
      watch.last = key;
      watch.marks.push({t: performance.now(), text, src});
      watch.waiters = watch.waiters.filter(test => !test());
    }
  };
  // Counts and the last text/src, taken before a stroke.
  watch.state = () => {
    const m = watch.marks[watch.marks.length - 1];
    return {ups: watch.ups.length, sends: watch.sends.length, marks: watch.marks.length,
            text: m ? m.text : "", src: m ? m.src : ""};
  };
  // Whether the stroke after `before` has its answer on screen: the model's view changed.
  watch.strokeDone = (before) => {
    if (watch.ups.length <= before.ups) return false;
    const up = watch.ups[watch.ups.length - 1];
    return watch.marks.slice(before.marks).some(m => m.t >= up && m.src && m.src !== before.src);
  };
  // Whether the stroke's rerun is over without changing the page (a stroke that adds no
  // visible ink, e.g. off the canvas): sent, answered, the app idle for 0.5 s since.
  watch.quietEnd = (before) => {
    if (watch.ups.length <= before.ups) return null;
    const up = watch.ups[watch.ups.length - 1];
    const send = watch.sends.slice(before.sends).find(t => t >= up);
    const recv = send === undefined ? undefined : watch.recvs.filter(t => t >= send).pop();
    const app = document.querySelector(".stApp");
    if (recv === undefined || !app || app.dataset.testScriptState !== "notRunning") return null;
    // Only while a digit is shown: a page still showing the hint is still to update (a
    // busy browser can take seconds), or the stroke was lost (then: no answer, an error).
    if (!/^\\d/.test(watch.last)) return null;
    return performance.now() - recv > 500 ? recv : null;
  };
  // Resolves once strokeDone(before) or quietEnd(before), rejects after timeout ms.
  watch.waitStroke = (before, timeout) => new Promise((resolve, reject) => {
    if (watch.strokeDone(before)) return resolve();
    const done = () => { clearTimeout(timer); clearInterval(quiet); resolve(); };
    const timer = setTimeout(() => {
      clearInterval(quiet);
      reject(new Error(`no answer within ${timeout} ms`));
    }, timeout);
    const quiet = setInterval(() => { if (watch.quietEnd(before) !== null) done(); }, 100);
    watch.waiters.push(() => {
      if (!watch.strokeDone(before)) return false;
      done();
      return true;
    });
  });
  // The stroke's timings: mouse-up -> the prediction's text changed (or, if a stroke left
  // it as it was, the model's view changed); -> the canvas sent its drawing; -> the last
  // server message before the answer showed (the one that carried it).
  watch.result = (before) => {
    const up = watch.ups[watch.ups.length - 1];
    const after = watch.marks.slice(before.marks).filter(m => m.t >= up);
    const byText = after.find(m => m.text !== before.text && /^\\d/.test(m.text));
    const byImage = after.find(m => m.src && m.src !== before.src);
    const hit = byText || byImage;
    if (!hit) {  // the rerun ended without a visible change (watch.quietEnd)
      const end = watch.quietEnd(before);
      return {ms: end === null ? null : end - up, send: null, recv: null, by: "none",
              text: watch.last.split("\u0000")[0]};
    }
    const send = watch.sends.slice(before.sends).find(t => t >= up);
    const recv = watch.recvs.filter(t => t >= up && t <= hit.t).pop();
    return {ms: hit.t - up, send: send === undefined ? null : send - up,
            recv: recv === undefined ? null : recv - up,
            by: byText ? "text" : "image", text: after[after.length - 1].text};
  };
  window.addEventListener("mouseup", () => watch.ups.push(performance.now()), true);
  const send = WebSocket.prototype.send;  // when the canvas's update leaves for the server
  WebSocket.prototype.send = function (data) {
    watch.sends.push(performance.now());
    if (!this.__watched) {
      this.__watched = true;
      this.addEventListener("message", () => watch.recvs.push(performance.now()));
    }
    return send.call(this, data);
  };
  let pending = false;
  const onMutation = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; check(); });
  };
  const start = () => {
    new MutationObserver(onMutation).observe(document.documentElement, {
      subtree: true, childList: true, characterData: true, attributes: true,
      attributeFilter: ["src"],
    });
    check();
  };
  if (document.documentElement) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
""".replace("%(prediction)r", repr(PREDICTION)).replace("%(view)r", repr(MODEL_VIEW))

# A whole stroke inside the page, for many sessions at once (bench/load.py): pointer and
# mouse events dispatched straight to the drawing surface (what the canvas library listens
# to), then wait for the answer; one call instead of one per mouse move and a polling wait.
STROKE_IN_PAGE_JS = """async ([points, timeout]) => {
  const watch = window.__drawWatch;
  const find = (root) => {
    for (const e of root.querySelectorAll("*")) {
      if (e.tagName === "CANVAS" && e.classList.contains("upper-canvas")) return e;
      const inner = e.shadowRoot && find(e.shadowRoot);
      if (inner) return inner;
    }
    return null;
  };
  const surface = find(document.querySelector(".st-key-canvas"));
  if (!surface) throw new Error("no drawing surface");
  const fire = (type, [x, y], buttons) => {
    const init = {bubbles: true, composed: true, cancelable: true, clientX: x, clientY: y,
                  button: 0, buttons, view: window};
    surface.dispatchEvent(new PointerEvent("pointer" + type,
      {...init, pointerId: 1, pointerType: "mouse", isPrimary: true}));
    surface.dispatchEvent(new MouseEvent("mouse" + type, init));
  };
  // Paced like a hand: a few moves per animation frame, not the whole stroke at once.
  const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
  const before = watch.state();
  fire("down", points[0], 1);
  await frame();
  const moves = points.length > 1 ? points.slice(1) : [[points[0][0] + 1, points[0][1] + 1]];
  for (let i = 0; i < moves.length; i++) {
    fire("move", moves[i], 1);
    if (i % 4 === 3) await frame();
  }
  await frame();
  fire("up", moves[moves.length - 1], 0);
  await watch.waitStroke(before, timeout);
  return watch.result(before);
}"""


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


# True once exactly one drawing surface is on the page and nothing is stale: after a
# rerun that rebuilt the canvas, the old one lingers for a moment.
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
    # The canvas's toolbar sits invisible (opacity 0) over the top-right corner of the
    # canvas until the pointer has hovered the canvas for ~0.2 s: wait until the start
    # point really hits the drawing surface, or the stroke would be eaten.
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
    by: str  # "text" (the prediction's text changed), "image" (only the model view did) or
    # "none" (bench/load.py only: the stroke's rerun ended with the page as it was)

    @classmethod
    def from_js(cls, result: dict) -> StrokeResult:
        return cls(result["ms"], result["send"], result["recv"], result["text"], result["by"])


WATCH_STATE_JS = "() => window.__drawWatch.state()"
STROKE_DONE_JS = "(before) => window.__drawWatch.strokeDone(before)"
STROKE_RESULT_JS = "(before) => window.__drawWatch.result(before)"
IDLE = ".stApp[data-test-script-state='notRunning']"  # no script run going for the page


def timed_stroke(page: Any, box: dict, path: Sequence[Sequence[float]],
                 timeout: float = 30_000) -> StrokeResult:
    """Draw a stroke; wait until its prediction is on screen; return the latency.

    The latency runs from the mouse-up event in the page to the first change of the
    prediction element's text after it, or, when a stroke leaves the text as it was,
    to the change of the model's-view image (drawn by the same script run).
    """
    before = page.evaluate(WATCH_STATE_JS)
    draw_path(page, box, path, timeout=timeout)
    page.wait_for_function(STROKE_DONE_JS, arg=before, timeout=timeout, polling=50)
    return StrokeResult.from_js(page.evaluate(STROKE_RESULT_JS, before))


def wait_idle(page: Any, timeout: float = 60_000) -> None:
    """Wait until no script run (full or fragment) is going for this page."""
    page.wait_for_selector(IDLE, timeout=timeout)


def draw_digit(page: Any, strokes: Sequence[Sequence[Sequence[float]]],
               timeout: float = 30_000) -> list[StrokeResult]:
    """Clear the canvas, let the page settle, then draw a digit stroke by stroke, each
    stroke timed (as a user would: the next stroke once the answer is there)."""
    box = clear_canvas(page, timeout)
    wait_idle(page, timeout)
    return [timed_stroke(page, box, path, timeout) for path in strokes]


# True once Clear's rerun has put the hint on the page, with the canvas up (not stale).
CLEARED_JS = """(prediction) => {
  const c = document.querySelector(".st-key-canvas [class*='st-key-']");
  const p = document.querySelector(prediction);
  return !!c && !document.querySelector(".st-key-canvas [data-stale='true']")
    && !!p && p.textContent.includes("Draw a digit");
}"""
CLEAR_BUTTON = ".st-key-clear button"


def clear_canvas(page: Any, timeout: float = 30_000) -> dict:
    """Press Clear; wait for the hint and an idle page; return the canvas's box.

    Clear empties the same canvas in place (it loads an empty drawing, then sends it): the
    page is idle once that second rerun is over too.
    """
    page.locator(CLEAR_BUTTON).click()
    page.wait_for_function(CLEARED_JS, arg=PREDICTION, timeout=timeout)
    wait_idle(page, timeout)
    page.wait_for_timeout(100)  # the canvas's own send of the empty drawing, if still due
    wait_idle(page, timeout)
    return canvas_box(page, timeout)


def page_errors(page: Any) -> list[str]:
    """Error boxes or exceptions shown in the page (Streamlit's own markup)."""
    return [text.strip() for text in page.locator(ERROR_SELECTOR).all_inner_texts()]
