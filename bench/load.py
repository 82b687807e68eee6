"""Load test for issue 7: many real browser sessions on one server, some of them training.

    .venv/bin/python bench/load.py                  # 40 sessions, ~6 minutes
    .venv/bin/python bench/load.py --sessions 10 --duration 30

Starts `streamlit run streamlit_app.py` on 127.0.0.1 with a throwaway models folder, then
opens N sessions (browser contexts) in headless Chromium. Every session draws synthetic
digits (mnist_core.strokes) stroke by stroke, with a short pause between strokes and a
longer one between digits, and times each stroke from mouse-up to the new prediction on
screen. Meanwhile `--trainers` of them press Train (a short run each): the server runs
one at a time per two cores and queues the rest. At the end every trainer's page must show
its run finished and saved, and every saved run must load.

In a workshop each participant's browser runs on their own laptop; here all N share the
server's two cores. So the browsers run at the lowest priority, except `--probes` of the N
sessions: they have a Chromium of their own at normal priority, like a participant's
laptop (though still on the server's cores). The latency target is checked on what the
probes measure, with the server under the whole load; all sessions' figures are printed too.

Prints errors, prediction latency p50/p95 (the probes, everyone, while training ran, the
server's own part), what the queue did, and the server's memory and CPU; exits 1 when a
target is missed (errors > 0, the probes' p95 over --target-p95, a run not saved), 2 when
it ran out of time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.appserver import (  # noqa: E402
    APP,
    CANVAS,
    CHROMIUM_ARGS,
    CLEAR_BUTTON,
    CLEARED_JS,
    ERROR_SELECTOR,
    IDLE,
    ONE_CANVAS_JS,
    PREDICTION,
    STROKE_IN_PAGE_JS,
    VIEWPORT,
    WATCH_SCRIPT,
    AppServer,
    StrokeResult,
    chromium_path,
    copy_shipped_models,
    cpu_seconds,
    mnist_copies,
    process_tree,
    stroke_points,
)
from mnist_core.strokes import drawn_digit_paths  # noqa: E402

# ms for one page step (a stroke's answer, a clear, a tab): the low-priority browsers get
# only the CPU the server and the probes leave, and can take many seconds for one
STEP_TIMEOUT = 60_000
OPEN_TIMEOUT = 120_000  # ms for a session to open (the first waits for TensorFlow)
OPENING_AT_ONCE = 4  # sessions opening at the same time


@dataclass
class Stroke:
    """One timed stroke of one session."""

    session: int
    at: float  # time.time() just after mouse-up
    result: StrokeResult
    probe: bool = False  # drawn in a probe session (its own normal-priority browser)


@dataclass
class Run:
    """What one training session saw of its run."""

    session: int
    clicked: float = 0.0  # time.time() of the Train click
    first_status: str = ""  # "queued (position N)" or "running"
    seen_done: bool = False  # the page showed the run's result
    saved_as: str | None = None
    page_says: str = ""


@dataclass
class Results:
    strokes: list[Stroke] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    evidence: Path = Path(".")  # where screenshots of failures go
    rss: list[tuple[float, float]] = field(default_factory=list)  # (time, MB)
    opened: int = 0
    failed_to_open: int = 0
    unchanged: int = 0  # strokes whose rerun left the page as it was (no new ink to see)
    drawing_seconds: float = 0.0
    server_cpu: float = 0.0  # CPU seconds while the sessions drew
    browser_cpu: float = 0.0  # the same for Chromium, Playwright and this script

    def error(self, session: int, what: str) -> None:
        message = f"session {session}: {what}"
        if message not in self.errors:
            self.errors.append(message)
        print(f"  ERROR {message}", flush=True)


# --- One page, async (bench/appserver.py has the same steps for Playwright's sync API) ---


IDLE_JS = f"() => !!document.querySelector({IDLE!r})"
POLL_MS = 100  # waits poll every 100 ms: with 40 pages, polling every frame costs a core


async def wait_idle(page, timeout: float = STEP_TIMEOUT) -> None:
    await page.wait_for_function(IDLE_JS, timeout=timeout, polling=POLL_MS)


async def canvas_box(page, timeout: float = STEP_TIMEOUT) -> dict:
    await page.wait_for_function(ONE_CANVAS_JS, timeout=timeout, polling=POLL_MS)
    return await page.locator(CANVAS).bounding_box()


async def clear_canvas(page) -> dict:
    await page.locator(CLEAR_BUTTON).click(timeout=STEP_TIMEOUT)
    await page.wait_for_function(CLEARED_JS, arg=PREDICTION, timeout=STEP_TIMEOUT,
                                 polling=POLL_MS)
    await wait_idle(page)
    await asyncio.sleep(0.1)  # the canvas's own send of the empty drawing, if still due
    await wait_idle(page)
    return await canvas_box(page)


async def timed_stroke(page, box: dict, path) -> StrokeResult:
    """A stroke dispatched inside the page (bench/appserver.py: STROKE_IN_PAGE_JS) and
    timed like a mouse stroke: one call per stroke keeps 40 sessions' driver light."""
    points = stroke_points(box, path)
    return StrokeResult.from_js(await page.evaluate(STROKE_IN_PAGE_JS, [points, STEP_TIMEOUT]))


async def open_tab(page, name: str, timeout: float = STEP_TIMEOUT) -> None:
    await page.get_by_role("tab", name=re.compile(name)).click(timeout=timeout)


async def page_errors(page) -> list[str]:
    texts = await page.locator(ERROR_SELECTOR).all_inner_texts()
    if await page.get_by_text("Connection error").count():
        texts.append("Connection error")
    return [text.strip()[:200] for text in texts]


# --- Sessions --------------------------------------------------------------------------


async def open_session(browser, url: str, index: int, results: Results, gate: asyncio.Semaphore):
    async with gate:
        context = await browser.new_context(viewport=VIEWPORT)
        await context.add_init_script(WATCH_SCRIPT)
        page = await context.new_page()
        page.on("pageerror", lambda error: results.error(index, f"JavaScript: {error}"))
        await page.goto(url, timeout=OPEN_TIMEOUT)
        await open_tab(page, "Draw", OPEN_TIMEOUT)
        await canvas_box(page, OPEN_TIMEOUT)
        await wait_idle(page, OPEN_TIMEOUT)
        results.opened += 1
        return context, page


async def start_training(page, run: Run, epochs: int) -> None:
    """Train tab: epochs slider to `epochs`, press Train, note whether it queued."""
    await open_tab(page, "Train")
    thumb = page.locator(".st-key-epochs input[type='range']")
    await thumb.wait_for(timeout=STEP_TIMEOUT)
    await wait_idle(page)  # the tab switch's rerun has built the Train tab
    await thumb.focus()
    await thumb.press("Home")
    for _ in range(epochs - 1):
        await thumb.press("ArrowRight")
    value = page.locator(".st-key-epochs [data-testid='stSliderThumbValue']")
    await page.wait_for_function(
        "([el, want]) => el && el.textContent.trim() === want",
        arg=[await value.element_handle(), str(epochs)], timeout=STEP_TIMEOUT,
        polling=POLL_MS)
    await wait_idle(page)
    run.clicked = time.time()
    await page.locator(".st-key-train button").click(timeout=STEP_TIMEOUT)
    panel = page.get_by_role("tabpanel", name=re.compile("Train"))
    queued = panel.get_by_text(re.compile(r"Queued, position \d+"))
    running = panel.locator("[data-testid='stProgress'], .st-key-test_accuracy")
    await queued.or_(running).first.wait_for(timeout=STEP_TIMEOUT)
    if await queued.count():
        run.first_status = (await queued.first.inner_text()).strip().splitlines()[0]
    else:
        run.first_status = "started at once"
    await open_tab(page, "Draw")
    await canvas_box(page)


async def finish_training(page, run: Run, timeout_s: float) -> None:
    """Back to the Train tab: wait for the run's result and where it was saved."""
    await open_tab(page, "Train")
    accuracy = page.locator(".st-key-test_accuracy")
    await accuracy.wait_for(state="visible", timeout=timeout_s * 1000)
    run.seen_done = True
    panel = page.get_by_role("tabpanel", name=re.compile("Train"))
    text = await panel.inner_text()
    run.page_says = " ".join(line for line in text.splitlines()
                             if "Finished" in line or "Saved as" in line or "save" in line)
    match = re.search(r"Saved as (\S+)", text)
    run.saved_as = match.group(1).rstrip(".") if match else None


async def keep_evidence(page, index: int, results: Results) -> None:
    """A screenshot and the stroke watcher's log of a session that went wrong."""
    folder = results.evidence
    with contextlib.suppress(Exception):
        await page.screenshot(path=str(folder / f"session-{index}.png"))
        log = await page.evaluate(
            "() => { const w = window.__drawWatch; return JSON.stringify({now: performance.now(),"
            " ups: w.ups.slice(-3), sends: w.sends.slice(-5), recvs: w.recvs.slice(-5),"
            " marks: w.marks.slice(-6)}); }")
        (folder / f"session-{index}.json").write_text(log)
        print(f"  evidence: {folder}/session-{index}.png", flush=True)


@dataclass
class Clock:
    """The phases of the test: sessions arrive, then all N draw for --duration."""

    all_open: asyncio.Event = field(default_factory=asyncio.Event)
    all_open_at: float = 0.0  # time.time() when the last session opened
    deadline: float = float("inf")  # time.monotonic() when everyone stops drawing
    open_cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (monotonic, server, all CPU-s)


async def draw_until(index: int, page, clock: Clock, results: Results,
                     args: argparse.Namespace, rng: random.Random) -> None:
    """Draw digit after digit, each stroke timed, until the deadline."""
    for _, strokes in drawn_digit_paths(400, seed=1000 + index):
        if time.monotonic() > clock.deadline:
            return
        box = await clear_canvas(page)
        for path in strokes:
            try:
                result = await timed_stroke(page, box, path)
            except Exception:
                await keep_evidence(page, index, results)
                raise
            if result.by == "none" and re.match(r"\d", result.text):
                results.unchanged += 1  # e.g. a stroke off the canvas: nothing new to show
            elif not re.match(r"\d", result.text):
                results.error(index, f"no digit shown after a stroke: {result.text!r}")
                await keep_evidence(page, index, results)
            else:
                results.strokes.append(Stroke(index, time.time(), result,
                                              probe=index in args.probe_sessions))
            await asyncio.sleep(rng.uniform(*args.stroke_pause))
        for problem in await page_errors(page):
            results.error(index, problem)
        await asyncio.sleep(rng.uniform(*args.digit_pause))


async def session(index: int, browser, url: str, clock: Clock, results: Results,
                  run: Run | None, gate: asyncio.Semaphore, args: argparse.Namespace) -> None:
    """One participant: open the app and wait for the others (a workshop starts once everyone
    is in), then (maybe start a run,) draw until the deadline, (see the run end)."""
    rng = random.Random(index)
    try:
        _, page = await open_session(browser, url, index, results, gate)
    except Exception as e:
        results.failed_to_open += 1
        results.error(index, f"could not open: {type(e).__name__}: {str(e).splitlines()[0]}")
        return
    await clock.all_open.wait()
    try:
        if run is not None:  # "now press Train": the trainers within 2 s, so runs queue
            await asyncio.sleep(rng.uniform(0, 2))
            await start_training(page, run, args.epochs)
        else:  # the others start drawing over one digit's pause: not all at the same moment
            await asyncio.sleep(rng.uniform(0, args.digit_pause[1]))
        await draw_until(index, page, clock, results, args, rng)
    except Exception as e:  # a timeout: a prediction (or a page) never came
        results.error(index, f"{type(e).__name__}: {str(e).splitlines()[0]}")
    try:
        if run is not None and run.clicked:
            await finish_training(page, run, args.train_timeout)
        for problem in await page_errors(page):
            results.error(index, problem)
    except Exception as e:
        results.error(index, f"{type(e).__name__}: {str(e).splitlines()[0]}")


def niced_chromium(niceness: int, folder: Path) -> str:
    """Chromium started at a lower OS priority (a wrapper script in `folder`).

    The N browsers stand for the participants' own laptops but share this machine's cores
    with the server: at equal priority, 40 busy renderer processes would starve the server
    and the test would measure Chromium. Their CPU use is reported either way. (With
    autogroup scheduling this alone does not do it: see lower_browser_autogroup.)
    """
    chromium = chromium_path()
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    if niceness <= 0:
        return chromium
    wrapper = folder / "chromium-niced"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {niceness} "{chromium}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def lower_browser_autogroup(niceness: int) -> int:
    """Give Chromium's scheduling group the same low priority; how many groups were set.

    Chromium starts its own session (setsid), and with Linux's autogroup scheduling
    (/proc/sys/kernel/sched_autogroup_enabled) each session shares the CPU with the others
    as one group, whatever its processes' own niceness: the 40 browsers then got half of
    the machine no matter what. A group's niceness is set through any member's
    /proc/PID/autogroup; the renderers started later join the same group.
    """
    groups: set[str] = set()
    for pid in process_tree(os.getpid()):
        with contextlib.suppress(OSError):
            if "chrom" not in Path(f"/proc/{pid}/comm").read_text():
                continue
            autogroup = Path(f"/proc/{pid}/autogroup")
            group = autogroup.read_text().split()[0]
            if group not in groups:
                autogroup.write_text(str(niceness))
                groups.add(group)
    return len(groups)


async def sample_rss(server: AppServer, results: Results, stop: asyncio.Event) -> None:
    while not stop.is_set():
        results.rss.append((time.monotonic(), server.rss_mb()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2)


async def watch_arrivals(clock: Clock, results: Results, args: argparse.Namespace,
                         started: float, server_pid: int) -> None:
    """Start the clock for --duration once every session has opened (or failed to)."""
    while results.opened + results.failed_to_open < args.sessions:
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # let the last pages settle
    clock.open_cpu = (time.monotonic(), cpu_seconds(server_pid), cpu_seconds(os.getpid()))
    clock.all_open_at = time.time()
    clock.deadline = time.monotonic() + args.duration
    clock.all_open.set()
    print(f"{results.opened} sessions open after {time.monotonic() - started:.0f} s; all "
          f"draw for {args.duration:.0f} s more", flush=True)


async def drive(server: AppServer, args: argparse.Namespace, results: Results,
                clock: Clock) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=niced_chromium(args.browser_niceness, results.evidence),
            args=CHROMIUM_ARGS)
        if args.browser_niceness > 0:
            groups = lower_browser_autogroup(args.browser_niceness)
            print(f"browsers (all but the probes) at niceness {args.browser_niceness}; "
                  f"scheduling autogroups lowered too: {groups}", flush=True)
        # Launched after the others' group was lowered: its own session, normal priority.
        probe_browser = await playwright.chromium.launch(executable_path=chromium_path(),
                                                         args=CHROMIUM_ARGS)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server, results, stop))
        gate = asyncio.Semaphore(OPENING_AT_ONCE)
        started = time.monotonic()
        # Trainers are probes when there are enough: a low-priority browser takes many
        # seconds to reach the Train button, and the runs would never meet in the queue.
        trainers = sorted(args.probe_sessions)[: args.trainers]
        if len(trainers) < args.trainers:  # too few probes: spread over all sessions
            step = max(1, args.sessions // max(1, args.trainers))
            trainers = sorted(range(0, args.sessions, step))[: args.trainers]
        tasks = []
        for index in range(args.sessions):
            run = None
            if index in trainers:
                run = Run(index)
                results.runs.append(run)
            on = probe_browser if index in args.probe_sessions else browser
            tasks.append(session(index, on, server.url, clock, results, run, gate, args))
        arrivals = asyncio.create_task(watch_arrivals(clock, results, args, started,
                                                     server.pid))
        await asyncio.gather(*tasks)
        await arrivals
        # CPU from the moment all were open (drawing, training) to the end.
        results.drawing_seconds = time.monotonic() - clock.open_cpu[0]
        results.server_cpu = cpu_seconds(server.pid) - clock.open_cpu[1]
        results.browser_cpu = (cpu_seconds(os.getpid()) - clock.open_cpu[2]
                               - results.server_cpu)
        stop.set()
        await sampler
        await browser.close()
        await probe_browser.close()


# --- Report ----------------------------------------------------------------------------


CHECK_RUNS = """
import json, sys
from datetime import datetime
from mnist_core.store import ModelStore
store = ModelStore(sys.argv[1])
report = []
for info in store.list_models():
    if info.shipped:
        continue
    entry = {"name": info.ref.removeprefix("runs/"), "metadata": info.metadata is not None}
    if info.metadata is not None:
        entry["saved"] = datetime.fromisoformat(info.metadata.created).timestamp()
        entry["seconds"] = info.metadata.seconds
    try:
        entry["params"] = store.load(info.ref).count_params()
    except Exception as e:
        entry["error"] = str(e)
    report.append(entry)
print(json.dumps(report))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summarize(values: list[float]) -> str:
    if not values:
        return "no strokes"
    return (f"p50 {statistics.median(values):.0f} ms, p95 {percentile(values, 95):.0f} ms, "
            f"max {max(values):.0f} ms ({len(values)} strokes)")


def server_times(trace: Path) -> list[tuple[float, float]]:
    """(wall-clock time, ms) per prediction, as the server timed it (traced_streamlit)."""
    if not trace.exists():
        return []
    return [(entry["t"], entry["ms"]) for entry in map(json.loads, trace.read_text().splitlines())]


def check_runs(models: Path) -> list[dict]:
    """Every run in the models folder: name, when saved, training seconds, whether it loads."""
    checked = subprocess.run([sys.executable, "-c", CHECK_RUNS, str(models)], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=300)
    if checked.returncode != 0:
        print(checked.stderr[-2000:])
        return []
    return json.loads(checked.stdout)


def report(results: Results, models: Path, args: argparse.Namespace, copies: int,
           trace: Path, clock: Clock) -> int:
    """Print the figures; return the exit code."""
    failed = []
    latency = [s.result.latency_ms for s in results.strokes]
    print(f"\nsessions: {results.opened} of {args.sessions} opened; strokes: "
          f"{len(results.strokes)} (pauses: {args.stroke_pause[0]:g}-{args.stroke_pause[1]:g} s "
          f"between strokes, {args.digit_pause[0]:g}-{args.digit_pause[1]:g} s between digits)"
          f"; plus {results.unchanged} that changed nothing on screen (no new ink in the "
          "28x28 view, e.g. off the canvas)")
    print(f"errors: {len(results.errors)}")
    for error in results.errors[:20]:
        print(f"  {error}")
    if results.errors:
        failed.append(f"{len(results.errors)} errors")

    saved = check_runs(models)
    # When training really ran: from each saved run's metadata (saved at, seconds trained).
    training = [(run["saved"] - run["seconds"], run["saved"]) for run in saved
                if run.get("saved") and run.get("seconds") is not None]

    def while_training(at: float) -> bool:
        return any(start <= at <= end for start, end in training)

    print(f"prediction latency, mouse-up -> new prediction on screen: {summarize(latency)}")
    full = [s.result.latency_ms for s in results.strokes if s.at >= clock.all_open_at]
    probes = [s.result.latency_ms for s in results.strokes
              if s.probe and s.at >= clock.all_open_at]
    print(f"  in the {len(args.probe_sessions)} probe sessions (a browser of their own at "
          f"normal priority, like a participant's laptop), all {results.opened} open: "
          f"{summarize(probes)} (target p95 <= {args.target_p95:.0f} ms)")
    print(f"  in all sessions, all {results.opened} open (their browsers sharing this "
          f"machine's cores with the server): {summarize(full)}")
    if not probes or percentile(probes, 95) > args.target_p95:
        failed.append("prediction latency p95")
    if training:
        print("  while a run trained: " + summarize(
            [s.result.latency_ms for s in results.strokes if while_training(s.at)]))
        print("  otherwise:           " + summarize(
            [s.result.latency_ms for s in results.strokes if not while_training(s.at)]))
    served = server_times(trace)
    if served:
        print("the server's part (a stroke's rerun request -> its prediction sent): "
              f"{summarize([ms for _, ms in served])}")
        if training:
            print("  while a run trained: " + summarize(
                [ms for at, ms in served if while_training(at)]))
    parts = {
        "the canvas's own delay before sending": [s.result.send_ms for s in results.strokes],
        "sent -> answer received": [s.result.reply_ms - s.result.send_ms for s in results.strokes
                                    if s.result.reply_ms is not None
                                    and s.result.send_ms is not None],
        "received -> on screen": [s.result.latency_ms - s.result.reply_ms
                                  for s in results.strokes if s.result.reply_ms is not None],
    }
    print("  medians in the browser: " + ", ".join(
        f"{name} {statistics.median([v for v in values if v is not None]):.0f} ms"
        for name, values in parts.items() if any(v is not None for v in values)))

    print("training queue (one run at a time per two cores; the rest wait):")
    if len(results.runs) > 1 and not any("Queued" in run.first_status for run in results.runs):
        print("  (no run had to wait: the queue was not exercised)")
    by_name = {run["name"]: run for run in saved}
    for run in sorted(results.runs, key=lambda run: run.clicked or float("inf")):
        entry = by_name.get(run.saved_as or "")
        loads = entry is not None and "params" in entry
        timing = ""
        if entry is not None and entry.get("saved") and run.clicked:
            began = entry["saved"] - entry["seconds"]
            timing = (f"; began {began - run.clicked:.0f} s after the click, trained "
                      f"{entry['seconds']:.0f} s")
        print(f"  session {run.session}: {run.first_status or 'did not start'}{timing}; "
              f"page: {run.page_says or '-'}; saved file loads: {'yes' if loads else 'NO'}")
        if not (run.seen_done and loads):
            failed.append(f"run of session {run.session}")
    leftovers = list((models / "runs").glob(".tmp-*")) if (models / "runs").is_dir() else []
    loadable = [run for run in saved if "params" in run]
    print(f"  runs/ holds {len(saved)} runs, {len(loadable)} load; temp files left: "
          f"{len(leftovers)}")
    if len(saved) != len(results.runs) or len(loadable) != len(saved) or leftovers:
        failed.append("runs/ folder")

    if results.rss:
        values = [mb for _, mb in results.rss]
        print(f"server memory (RSS): {values[0]:.0f} MB at the start, max {max(values):.0f} MB, "
              f"{values[-1]:.0f} MB at the end; float32 copies of MNIST's training images: "
              f"{copies}")
    if results.drawing_seconds:
        seconds, cores = results.drawing_seconds, os.cpu_count() or 1
        print(f"CPU while drawing ({seconds:.0f} s x {cores} cores = {cores * seconds:.0f} "
              f"CPU-s, from all open to the end): server {results.server_cpu:.0f} CPU-s, "
              f"browser side (Chromium, Playwright, this script) {results.browser_cpu:.0f} "
              "CPU-s")
    print("result: " + ("ALL TARGETS MET" if not failed else "MISSED: " + "; ".join(failed)))
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=40, help="browser sessions (40)")
    parser.add_argument("--trainers", type=int, default=3,
                        help="sessions that also start a training run (3)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run (2)")
    parser.add_argument("--duration", type=float, default=60,
                        help="seconds all sessions keep drawing once all are open (60)")
    parser.add_argument("--stroke-pause", type=float, nargs=2, default=(0.5, 1.5),
                        metavar=("MIN", "MAX"), help="seconds between strokes (0.5 1.5)")
    parser.add_argument("--digit-pause", type=float, nargs=2, default=(10.0, 20.0),
                        metavar=("MIN", "MAX"),
                        help="seconds looking at the answer before the next digit (10 20)")
    parser.add_argument("--probes", type=int, default=8,
                        help="sessions (the last ones) with a browser of their own at normal "
                        "priority, whose latency is checked against the target (8)")
    parser.add_argument("--browser-niceness", type=int, default=19,
                        help="OS niceness of the browsers, which stand for the participants' "
                        "machines (19, the lowest; 0 = same priority as the server)")
    parser.add_argument("--train-timeout", type=float, default=120,
                        help="seconds a run may still take once the drawing stops (120)")
    parser.add_argument("--time-limit", type=float, default=420,
                        help="give up (exit 2) after this many seconds in all (420)")
    parser.add_argument("--target-p95", type=float, default=1000,
                        help="prediction latency p95 target in ms (1000)")
    parser.add_argument("--app", type=Path, default=APP,
                        help="the app script (default streamlit_app.py; another copy of it "
                             "to compare a change before/after)")
    args = parser.parse_args()
    args.probe_sessions = set(range(max(0, args.sessions - args.probes), args.sessions))
    if chromium_path() is None:
        parser.error("chromium is not installed (apt-get install chromium)")

    base = Path(tempfile.mkdtemp(prefix="bench-load-"))
    models = copy_shipped_models(base / "models")
    trace = base / "server-trace.jsonl"
    server = AppServer(models, base / "server.log", app=args.app.resolve(), trace=trace).start()
    results = Results(evidence=base)
    clock = Clock()
    copies, out_of_time = 0, False
    print(f"server log: {server.log}", flush=True)
    try:
        server.wait_healthy()
        asyncio.run(asyncio.wait_for(drive(server, args, results, clock),
                                     timeout=args.time_limit))
    except TimeoutError:
        out_of_time = True
        print(f"RAN OUT OF TIME ({args.time_limit:.0f} s): the figures below are partial")
    try:
        copies = mnist_copies(server.pid)
    finally:
        server.stop()
    code = report(results, models, args, copies, trace, clock)
    return 2 if out_of_time else code


if __name__ == "__main__":
    sys.exit(main())
