"""The load test's sessions: N browser sessions drawing, some training, on one server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.appserver import (
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
    cpu_seconds,
    lower_browser_autogroup,
    niced_chromium,
    require_chromium,
    stroke_points,
)
from mnist_core.strokes import drawn_digit_paths

# ms for one page step (a stroke's answer, a clear, a tab): a low-priority browser gets only
# the CPU the server and the probes leave, and can take many seconds for one.
STEP_TIMEOUT = 60_000
OPEN_TIMEOUT = 120_000  # ms for a session to open (the first waits for TensorFlow)
OPENING_AT_ONCE = 4  # sessions opening at the same time
PRESENTER_SECRET = "load-test-presenter-secret"  # the server gets it as MNIST_PRESENTER_SECRET
PUSH = {"dropout": "0.5", "epochs": "3"}  # what the presenter pushes to the room
FOLLOWED_JS = ("(want) => { const q = new URLSearchParams(location.search); "
               "return Object.entries(want).every(([k, v]) => q.get(k) === v); }")
BOARD_RUNS_JS = ("() => { const m = document.querySelector('.st-key-room_board "
                 "[data-testid=stMetricValue]'); return m ? parseInt(m.innerText) : 0; }")
# Each trainer's settings, in turn: (dropout, training images), so the board fills a sweep.
MIXED = ((0.0, "1,000"), (0.5, "1,000"), (0.2, "10,000"), (0.0, "10,000"), (0.5, "10,000"),
         (0.2, "1,000"))


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
    dropout: float = 0.2
    images: str = "60,000"
    clicked: float = 0.0  # time.time() of the Train click
    first_status: str = ""  # "Queued: next in line" or "started at once"
    seen_done: bool = False  # the page showed the run's result
    saved_as: str | None = None
    page_says: str = ""


@dataclass
class Results:
    """Everything the sessions saw, for the report."""

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
    board_seen: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # (time, runs)
    pushed_at: float = 0.0  # time.time() when the presenter pressed Push
    followed: dict[int, float | None] = field(default_factory=dict)  # seconds after the push

    def error(self, session: int, what: str) -> None:
        """Note an error once, and print it at once."""
        message = f"session {session}: {what}"
        if message not in self.errors:
            self.errors.append(message)
        print(f"  ERROR {message}", flush=True)


# --- One page, async: appserver.py's steps and scripts for Playwright's async API ---

IDLE_JS = f"() => !!document.querySelector({IDLE!r})"
POLL_MS = 100  # waits poll every 100 ms: with 40 pages, polling every frame costs a core


async def wait_idle(page, timeout: float = STEP_TIMEOUT) -> None:
    """Wait until no script run is going for the page."""
    await page.wait_for_function(IDLE_JS, timeout=timeout, polling=POLL_MS)


async def canvas_box(page, timeout: float = STEP_TIMEOUT) -> dict:
    """The drawing surface's bounding box, once one fresh canvas is up."""
    await page.wait_for_function(ONE_CANVAS_JS, timeout=timeout, polling=POLL_MS)
    return await page.locator(CANVAS).bounding_box()


async def clear_canvas(page) -> dict:
    """Press Clear; wait for the hint and an idle page; return the canvas's box."""
    await page.locator(CLEAR_BUTTON).click(timeout=STEP_TIMEOUT)
    await page.wait_for_function(CLEARED_JS, arg=PREDICTION, timeout=STEP_TIMEOUT,
                                 polling=POLL_MS)
    await wait_idle(page)
    await asyncio.sleep(0.1)  # the canvas's own send of the empty drawing, if still due
    await wait_idle(page)
    return await canvas_box(page)


async def timed_stroke(page, box: dict, path) -> StrokeResult:
    """One stroke drawn and timed inside the page (STROKE_IN_PAGE_JS): one call per stroke."""
    points = stroke_points(box, path)
    return StrokeResult.from_js(await page.evaluate(STROKE_IN_PAGE_JS, [points, STEP_TIMEOUT]))


async def open_tab(page, name: str, timeout: float = STEP_TIMEOUT) -> None:
    """Click a tab by its name."""
    await page.get_by_role("tab", name=re.compile(name)).click(timeout=timeout)


async def page_errors(page) -> list[str]:
    """Error boxes, exceptions and a lost connection shown in the page, shortened."""
    texts = await page.locator(ERROR_SELECTOR).all_inner_texts()
    if await page.get_by_text("Connection error").count():
        texts.append("Connection error")
    return [text.strip()[:200] for text in texts]


# --- Sessions --------------------------------------------------------------------------


async def open_session(browser, url: str, index: int, results: Results, gate: asyncio.Semaphore,
                       board: bool = False):
    """A new browser context on the app's Draw tab, canvas up and page idle (or on the
    Room tab, the board up)."""
    async with gate:
        context = await browser.new_context(viewport=VIEWPORT)
        await context.add_init_script(WATCH_SCRIPT)
        page = await context.new_page()
        page.on("pageerror", lambda error: results.error(index, f"JavaScript: {error}"))
        await page.goto(url, timeout=OPEN_TIMEOUT)
        if board:
            await open_tab(page, "Room", OPEN_TIMEOUT)
            await page.locator(".st-key-room_board").wait_for(timeout=OPEN_TIMEOUT)
        else:
            await open_tab(page, "Draw", OPEN_TIMEOUT)
            await canvas_box(page, OPEN_TIMEOUT)
        await wait_idle(page, OPEN_TIMEOUT)
        results.opened += 1
        return context, page


async def follow_push(index: int, page, clock: Clock, results: Results) -> None:
    """Once the presenter has pushed: how long until this page's settings (its address,
    which follows its sliders) show the push; None if it never did."""
    await clock.pushed.wait()
    try:
        await page.wait_for_function(FOLLOWED_JS, arg=PUSH, timeout=STEP_TIMEOUT, polling=250)
        results.followed[index] = time.time() - results.pushed_at
    except Exception:
        results.followed[index] = None
        results.error(index, "did not follow the presenter's push within "
                      f"{STEP_TIMEOUT / 1000:.0f} s")


async def watch_board(index: int, page, clock: Clock, results: Results,
                      args: argparse.Namespace) -> None:
    """A page left on the Room tab (the projector): note each time its run count grows."""
    seen = results.board_seen.setdefault(index, [])
    last = await page.evaluate(BOARD_RUNS_JS)
    while time.monotonic() < clock.deadline + args.train_timeout and not clock.done.is_set():
        runs = await page.evaluate(BOARD_RUNS_JS)
        if runs != last:
            seen.append((time.time(), runs))
            last = runs
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(clock.done.wait(), timeout=0.5)


async def open_console(browser, url: str):
    """The presenter's console, opened before the room arrives (as in a workshop)."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    await page.goto(f"{url}/?presenter_key={PRESENTER_SECRET}", timeout=OPEN_TIMEOUT)
    await page.locator(".st-key-presenter_push").wait_for(timeout=OPEN_TIMEOUT)
    await wait_idle(page, OPEN_TIMEOUT)
    return page


async def push_from_console(page, clock: Clock, results: Results,
                            args: argparse.Namespace) -> None:
    """--push-after s after everyone has opened and every trainer has pressed Train (a push
    would move the sliders of one still setting them): push PUSH to the room, leaving each
    page on its tab."""
    await clock.all_open.wait()
    # 36 trainers setting sliders key by key in niced browsers took over a minute: a push
    # that came first moved the sliders of those still setting them.
    deadline = time.monotonic() + 4 * STEP_TIMEOUT / 1000
    while any(not run.first_status for run in results.runs) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    pressed = sum(bool(run.first_status) for run in results.runs)
    print(f"{pressed} of {len(results.runs)} trainers had pressed Train "
          f"{time.time() - clock.all_open_at:.0f} s after all opened", flush=True)
    await asyncio.sleep(args.push_after)
    for key, value in (("console_dropout", PUSH["dropout"]), ("console_epochs", PUSH["epochs"]),
                       ("console_tab", "Their own")):
        await page.locator(f".st-key-{key}").get_by_role("radio", name=value,
                                                           exact=True).click()
        await wait_idle(page)
    await page.locator(".st-key-presenter_push").get_by_role(
        "button", name="Push to everyone").click()
    results.pushed_at = time.time()
    clock.pushed.set()
    print(f"presenter pushed dropout {PUSH['dropout']}, {PUSH['epochs']} epochs", flush=True)


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
    dropout = page.locator(".st-key-dropout input[type='range']")
    await dropout.focus()
    await dropout.press("Home")
    for _ in range(round(run.dropout / 0.05)):
        await dropout.press("ArrowRight")
    await wait_idle(page)
    await page.locator(".st-key-train_images").get_by_role(
        "radio", name=run.images, exact=True).click(timeout=STEP_TIMEOUT)
    await wait_idle(page)
    run.clicked = time.time()
    await page.locator(".st-key-train button").click(timeout=STEP_TIMEOUT)
    panel = page.get_by_role("tabpanel", name=re.compile("Train"))
    queued = panel.get_by_text(re.compile(r"Queued: (next in line|\d+ runs? ahead)"))
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
    pushed: asyncio.Event = field(default_factory=asyncio.Event)  # the presenter pushed
    done: asyncio.Event = field(default_factory=asyncio.Event)  # every participant finished


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
    """One participant: open the app, wait for everyone, (train,) draw, (see the run end)."""
    rng = random.Random(index)
    board = index < args.board
    try:
        _, page = await open_session(browser, url, index, results, gate, board=board)
    except Exception as e:
        results.failed_to_open += 1
        results.error(index, f"could not open: {type(e).__name__}: {str(e).splitlines()[0]}")
        return
    following = asyncio.create_task(follow_push(index, page, clock, results))
    await clock.all_open.wait()
    if board:
        try:
            await watch_board(index, page, clock, results, args)
        except Exception as e:  # the page or its browser went away (out of time)
            results.error(index, f"{type(e).__name__}: {str(e).splitlines()[0]}")
        await following
        return
    try:
        if run is not None:  # "now press Train": the trainers within 2 s, so runs queue
            await asyncio.sleep(rng.uniform(0, 2))
            try:
                await start_training(page, run, args.epochs)
            except Exception:
                await keep_evidence(page, index, results)
                raise
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
    await following


async def sample_rss(server: AppServer, results: Results, stop: asyncio.Event) -> None:
    """The server's memory every 2 s until `stop`."""
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
    """Run every session against the server; fill `results` and the CPU figures."""
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
        probe_browser = await playwright.chromium.launch(executable_path=require_chromium(),
                                                         args=CHROMIUM_ARGS)
        console = await open_console(probe_browser, server.url)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server, results, stop))
        gate = asyncio.Semaphore(OPENING_AT_ONCE)
        started = time.monotonic()
        # Trainers are probes when there are enough: a low-priority browser takes many
        # seconds to reach the Train button, and the runs would never meet in the queue.
        trainers = [index for index in sorted(args.probe_sessions)
                    if index >= args.board][: args.trainers]
        if len(trainers) < args.trainers:  # too few probes: spread over the participants
            pool = list(range(args.board, args.sessions))  # the board pages never train
            trainers = pool[::max(1, len(pool) // max(1, args.trainers))][: args.trainers]
        tasks = []
        for index in range(args.sessions):
            run = None
            if index in trainers:
                dropout, images = MIXED[len(results.runs) % len(MIXED)]
                run = Run(index, dropout=dropout, images=images)
                results.runs.append(run)
            # The board pages stand for the projector: a machine of their own.
            on = probe_browser if index in args.probe_sessions or index < args.board \
                else browser
            tasks.append(session(index, on, server.url, clock, results, run, gate, args))
        console_task = asyncio.create_task(push_from_console(console, clock, results, args))
        arrivals = asyncio.create_task(watch_arrivals(clock, results, args, started,
                                                     server.pid))
        participants = tasks[args.board:]
        boards = [asyncio.create_task(task) for task in tasks[:args.board]]
        await asyncio.gather(*participants)
        clock.done.set()
        await asyncio.gather(*boards)
        await arrivals
        await console_task
        # CPU from the moment all were open (drawing, training) to the end.
        results.drawing_seconds = time.monotonic() - clock.open_cpu[0]
        results.server_cpu = cpu_seconds(server.pid) - clock.open_cpu[1]
        results.browser_cpu = (cpu_seconds(os.getpid()) - clock.open_cpu[2]
                               - results.server_cpu)
        stop.set()
        await sampler
        await browser.close()
        await probe_browser.close()
