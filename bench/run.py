"""Benchmarks: each figure against a baseline measured in the same run, or against its target."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

from bench.appserver import (
    ROOT,
    VIEWPORT,
    AppServer,
    canvas_box,
    chromium_browser,
    copy_shipped_models,
    draw_digit,
    install_watch,
    mnist_copies,
    open_draw_tab,
    running_app,
    wait_idle,
)
from bench.stats import percentile

PYTHON = sys.executable
QUIET_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
EPILOG = """\
A and B alternate and medians are taken: the machines are shared and noisy. [1] train,
[2] charts and [3] draw run in this process; [3b] browser, [4] startup and [5] memory start
the real app on 127.0.0.1 and drive it with Debian's headless Chromium (bench/appserver.py).

    .venv/bin/python -m bench.run                 # everything (about 8 minutes)
    .venv/bin/python -m bench.run --only train    # one section (or several, comma-separated)
"""


def timed_process(args: list[str]) -> tuple[float, str]:
    """Run a whole Python process; return (seconds, stdout)."""
    start = time.perf_counter()
    result = subprocess.run(args, cwd=ROOT, env=QUIET_ENV, capture_output=True,
                            text=True, check=True)
    return time.perf_counter() - start, result.stdout


def accuracy_in(output: str) -> float:
    return float(re.search(r"test accuracy ([\d.]+)%", output).group(1))


def alternate(a: Callable[[], float], b: Callable[[], float], rounds: int) -> tuple[list, list]:
    """Run a, b, a, b, ... and return both lists of timings."""
    times_a, times_b = [], []
    for _ in range(rounds):
        times_a.append(a())
        times_b.append(b())
    return times_a, times_b


def bench_train(rounds: int) -> None:
    """Target 1: `python -m mnist_core train` vs the seed's code, whole processes."""
    out = Path("/tmp/bench-quickstart.keras")
    accuracies: dict[str, list[float]] = {"seed": [], "project": []}

    def seed() -> float:
        seconds, output = timed_process([PYTHON, "-m", "bench.seed_quickstart"])
        accuracies["seed"].append(accuracy_in(output))
        return seconds

    def project() -> float:
        seconds, output = timed_process(
            [PYTHON, "-m", "mnist_core", "train", "--epochs", "5", "--dropout", "0.2",
             "--out", str(out)])
        accuracies["project"].append(accuracy_in(output))
        return seconds

    seed_times, project_times = alternate(seed, project, rounds)
    ratio = median(project_times) / median(seed_times)
    print(f"[1] training, 5 epochs, whole process: seed {median(seed_times):.1f}s, "
          f"project {median(project_times):.1f}s -> ratio {ratio:.2f} (target <= 0.50); "
          f"test accuracy seed {min(accuracies['seed']):.2f}%, "
          f"project {min(accuracies['project']):.2f}% (target >= 97.5%)")


def bench_charts(rounds: int) -> None:
    """Target 2: the app's worker publishing progress while a poller reads it, vs headless."""
    import threading

    from mnist_core.config import TrainConfig
    from mnist_core.data import load_mnist
    from mnist_core.jobs import JobManager
    from mnist_core.store import ModelStore
    from mnist_core.training import train

    data = load_mnist()
    config = TrainConfig(epochs=2)
    store = ModelStore(Path("/tmp/bench-models"))

    def headless() -> float:
        start = time.perf_counter()
        train(config, data)
        return time.perf_counter() - start

    def through_worker() -> float:
        manager = JobManager(store, max_jobs=1, data_loader=lambda: data)
        start = time.perf_counter()
        job_id = manager.submit(config)
        polls = 0

        def poll() -> None:  # what the UI's fragment does every 0.5 s
            nonlocal polls
            while not manager.snapshot(job_id).status.done:
                polls += 1
                time.sleep(0.5)

        poller = threading.Thread(target=poll)
        poller.start()
        manager.wait(job_id)
        elapsed = time.perf_counter() - start
        poller.join()
        return elapsed

    headless_times, worker_times = alternate(headless, through_worker, rounds)
    ratio = median(worker_times) / median(headless_times)
    print(f"[2] live progress, 2 epochs: headless {median(headless_times):.1f}s, "
          f"worker + polling + save {median(worker_times):.1f}s -> ratio {ratio:.2f} "
          f"(target <= 1.10)")


def bench_draw(strokes: int) -> None:
    """Target 3 (server side): canvas RGBA -> preprocess -> predict -> probabilities."""
    import numpy as np

    from mnist_core.evaluate import predict_proba
    from mnist_core.numerics import softmax
    from mnist_core.preprocess import canvas_to_mnist
    from mnist_core.store import ModelStore
    from mnist_core.strokes import render_drawn_digits

    canvases, _ = render_drawn_digits(strokes, seed=1)  # (N, 280, 280, 4) uint8
    store = ModelStore()

    def per_stroke_ms(model, canvas: np.ndarray, naive: bool) -> float:
        start = time.perf_counter()
        image = canvas_to_mnist(canvas)  # (28, 28) float32 or None
        if image is not None and naive:
            softmax(model.predict(image[None], verbose=0))
        elif image is not None:
            predict_proba(model, image)
        return (time.perf_counter() - start) * 1000

    for ref in [info.ref for info in store.list_models() if info.shipped]:
        model = store.load(ref)
        predict_proba(model, np.zeros((28, 28), np.float32))  # warm up
        ours_ms, naive_ms = [], []
        for canvas in canvases:
            ours_ms.append(per_stroke_ms(model, canvas, naive=False))
            naive_ms.append(per_stroke_ms(model, canvas, naive=True))
        print(f"[3] drawing, server side per stroke ({ref}, {strokes} strokes): "
              f"median {median(ours_ms):.1f} ms, p95 {percentile(ours_ms, 95):.1f} ms "
              f"(target p95 <= 30 ms); with model.predict: median {median(naive_ms):.1f} ms, "
              f"p95 {percentile(naive_ms, 95):.1f} ms")


# --- In the real app, in a real browser ------------------------------------------------

DRAW_TARGET_MS = 300  # median, mouse-up -> new prediction on screen
STARTUP_TARGET_S = 8.0  # launch -> first page with its canvas
SESSION_TARGET_MB = 20.0  # server memory per extra open session


def scratch_dir(name: str) -> Path:
    """A fresh folder for one benchmark's models folder and server log."""
    return Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))


def open_canvas(browser, url: str):
    """A new browser session (context) on the app's Draw tab, canvas up and page idle."""
    context = browser.new_context(viewport=VIEWPORT)
    install_watch(context)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    open_draw_tab(page)
    canvas_box(page)
    wait_idle(page, timeout=120_000)  # the first page of a server waits for TensorFlow
    return page


def timed_digits(page, strokes: int) -> list:
    """Draw synthetic digits until `strokes` strokes are timed (after one warm-up digit,
    whose first prediction also loads the model)."""
    from mnist_core.strokes import drawn_digit_paths

    warm_up, *digits = drawn_digit_paths(40, seed=7)
    draw_digit(page, warm_up[1])
    results = []
    for _, paths in digits:
        results += draw_digit(page, paths)
        if len(results) >= strokes:
            break
    return results


def bench_browser(strokes: int) -> None:
    """Target 3 in a real browser: mouse-up -> new prediction on screen, synthetic digits."""

    base = scratch_dir("browser")
    with running_app(copy_shipped_models(base / "models"), base / "server.log") as server, \
            chromium_browser() as browser:
        page = open_canvas(browser, server.url)
        results = timed_digits(page, strokes)
    latency = [r.latency_ms for r in results]
    send = [r.send_ms for r in results if r.send_ms is not None]
    server_part = [r.reply_ms - r.send_ms for r in results
                   if r.reply_ms is not None and r.send_ms is not None]
    render = [r.latency_ms - r.reply_ms for r in results if r.reply_ms is not None]
    verdict = "ok" if median(latency) <= DRAW_TARGET_MS else "MISSED"
    print(f"[3b] drawing in Chromium, mouse-up -> new prediction on screen ({len(results)} "
          f"strokes): median {median(latency):.0f} ms, p95 {percentile(latency, 95):.0f} ms "
          f"(target median <= {DRAW_TARGET_MS} ms: {verdict}); of which the canvas "
          f"component's own delay before sending {median(send):.0f} ms, sent -> answer "
          f"received {median(server_part):.0f} ms, received -> on screen {median(render):.0f} ms")


def startup_seconds(browser) -> tuple[float, float]:
    """Launch the app; (seconds to a healthy server, seconds to the canvas on screen)."""
    base = scratch_dir("startup")
    server = AppServer(copy_shipped_models(base / "models"), base / "server.log").start()
    try:
        healthy = server.wait_healthy(interval=0.02)
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(server.url)
        page.locator(".st-key-canvas canvas").first.wait_for(state="attached", timeout=60_000)
        if not page.locator(".st-key-canvas canvas").first.is_visible():
            open_draw_tab(page)  # the Draw tab is not the one shown first
        page.locator(".st-key-canvas canvas").first.wait_for(state="visible", timeout=60_000)
        seconds = time.monotonic() - server.launched
        context.close()
        return healthy, seconds
    finally:
        server.stop()


def bench_startup(rounds: int) -> None:
    """Target 4: launch -> first page with its canvas; TensorFlow's import, for scale."""

    def tensorflow() -> float:
        return timed_process([PYTHON, "-c", "import tensorflow"])[0]

    def bare() -> float:
        return timed_process([PYTHON, "-c", "pass"])[0]

    with chromium_browser() as browser:
        startup_seconds(browser)  # warm the disk cache, as a second start would find it
        runs = [startup_seconds(browser) for _ in range(rounds)]
    tf_times, bare_times = alternate(tensorflow, bare, rounds)
    healthy, canvas = median([h for h, _ in runs]), median([c for _, c in runs])
    verdict = "ok" if canvas <= STARTUP_TARGET_S else "MISSED"
    print(f"[4] start-up, `streamlit run` -> canvas on screen: median {canvas:.1f} s "
          f"(target <= {STARTUP_TARGET_S:.0f} s: {verdict}; server answering after "
          f"{healthy:.1f} s); `import tensorflow` alone takes "
          f"{median(tf_times) - median(bare_times):.1f} s (process {median(tf_times):.1f} s "
          f"minus bare python {median(bare_times):.2f} s), loaded after the page is up")


def settled_rss(server, samples: int = 5) -> float:
    """The server's RSS once the pages are idle: the median of a few readings."""
    readings = []
    for _ in range(samples):
        time.sleep(1)
        readings.append(server.rss_mb())
    return median(readings)


def bench_memory(sessions: int) -> None:
    """Target 5: server RSS with 1 and with N open sessions, each with one digit drawn."""
    from mnist_core.strokes import drawn_digit_paths

    digits = drawn_digit_paths(sessions, seed=11)
    base = scratch_dir("memory")
    with running_app(copy_shipped_models(base / "models"), base / "server.log") as server, \
            chromium_browser() as browser:
        first = open_canvas(browser, server.url)
        draw_digit(first, digits[0][1])
        rss_one = settled_rss(server)
        for _, paths in digits[1:]:
            draw_digit(open_canvas(browser, server.url), paths)
        rss_many = settled_rss(server)
        copies = mnist_copies(server.pid)
    per_session = (rss_many - rss_one) / (sessions - 1)
    verdict = "ok" if per_session <= SESSION_TARGET_MB else "MISSED"
    data = "ok" if copies == 1 else "MISSED"
    print(f"[5] memory, server RSS: 1 session {rss_one:.0f} MB, {sessions} sessions "
          f"{rss_many:.0f} MB -> {per_session:.1f} MB per extra session (target <= "
          f"{SESSION_TARGET_MB:.0f} MB: {verdict}); float32 copies of MNIST's training "
          f"images (179 MiB each) in the server: {copies} (target 1: {data})")


INSIDE_MEDIAN_MS, INSIDE_P95_MS, INSIDE_SERVER_P95_MS = 150, 300, 30


def bench_inside(strokes: int) -> None:
    """Issue 15: a stroke with the Inside view open, on the server and in Chromium."""
    import io

    import numpy as np
    from PIL import Image

    from mnist_core.evaluate import predict_proba
    from mnist_core.inside import dense_weights, look_inside
    from mnist_core.preprocess import canvas_to_mnist
    from mnist_core.store import ModelStore
    from mnist_core.strokes import render_drawn_digits
    from ui.inside import UNIT_PICTURES, activation_grid, diverging

    def png(pixels: np.ndarray) -> None:  # what st.image does with each picture
        Image.fromarray(pixels).save(io.BytesIO(), format="PNG")

    model = ModelStore().load("quickstart")
    weights = dense_weights(model)
    canvases, _ = render_drawn_digits(200, seed=1)
    predict_proba(model, np.zeros((28, 28), np.float32))
    server_ms = []
    for canvas in canvases:
        start = time.perf_counter()
        image = canvas_to_mnist(canvas)
        if image is None:
            continue
        predict_proba(model, image)
        inside = look_inside(weights, image)
        png(activation_grid(inside))
        png(diverging(inside.pixel_maps[inside.winner], 6))
        png(diverging(inside.why_not(inside.winner, inside.runner_up), 6))
        for unit in inside.units_for(inside.winner)[:UNIT_PICTURES]:
            png(diverging(weights.unit_picture(int(unit)), 2))
        png(diverging(weights.unit_picture(int(inside.units_for(inside.winner)[0])), 6))
        server_ms.append((time.perf_counter() - start) * 1000)
    p95 = percentile(server_ms, 95)
    print(f"[15] Inside open, server side per stroke ({len(server_ms)} strokes): median "
          f"{median(server_ms):.1f} ms, p95 {p95:.1f} ms (target p95 <= "
          f"{INSIDE_SERVER_P95_MS} ms: {'ok' if p95 <= INSIDE_SERVER_P95_MS else 'MISSED'})")

    base = scratch_dir("inside")
    with running_app(copy_shipped_models(base / "models"), base / "server.log") as server, \
            chromium_browser() as browser:
        context = browser.new_context(viewport=VIEWPORT)
        install_watch(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{server.url}/?model=quickstart&tab=draw")
        canvas_box(page)
        wait_idle(page, timeout=120_000)
        page.get_by_text("Look inside the network").click()
        wait_idle(page)
        results = timed_digits(page, strokes)
    latency = [r.latency_ms for r in results]
    ok = median(latency) <= INSIDE_MEDIAN_MS and percentile(latency, 95) <= INSIDE_P95_MS
    print(f"[15b] Inside open, in Chromium, mouse-up -> new prediction (and the Inside "
          f"pictures of the same update) on screen ({len(results)} strokes): median "
          f"{median(latency):.0f} ms, p95 {percentile(latency, 95):.0f} ms (target median <= "
          f"{INSIDE_MEDIAN_MS} ms, p95 <= {INSIDE_P95_MS} ms: {'ok' if ok else 'MISSED'})")


def bench_single(rounds: int) -> None:
    """Target 1b: one run's compiled loop vs the tutorial's fit, in this process."""
    from bench.room import bench_single as single

    single(rounds)


SECTIONS = {"train": bench_train, "single": bench_single, "charts": bench_charts,
            "draw": bench_draw,
            "browser": bench_browser, "startup": bench_startup, "memory": bench_memory,
            "inside": bench_inside}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds for timings")
    parser.add_argument("--sessions", type=int, default=20,
                        help="open sessions for the memory section (default 20)")
    args = parser.parse_args()
    sizes = {"draw": 200, "browser": 15, "memory": args.sessions, "inside": 15}
    for name in args.only.split(","):
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r}: choose from {', '.join(SECTIONS)}")
        SECTIONS[name](sizes.get(name, args.rounds))


if __name__ == "__main__":
    main()
