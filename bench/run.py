"""Benchmarks for issue 6: each figure is a ratio against a baseline measured in the
same run, alternating A and B and reporting medians (the machines are shared and noisy).

    .venv/bin/python bench/run.py                 # everything (about 5 minutes)
    .venv/bin/python bench/run.py --only train    # one section: train, charts, draw, startup,
                                                  # memory, browser
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
PYTHON = sys.executable
QUIET_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed_process(args: list[str]) -> tuple[float, str]:
    """Run a whole Python process; return (seconds, stdout)."""
    start = time.perf_counter()
    result = subprocess.run(args, cwd=PROJECT_ROOT, env=QUIET_ENV, capture_output=True,
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
        seconds, output = timed_process([PYTHON, "bench/seed_quickstart.py"])
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

    from mnist_core.data import load_mnist
    from mnist_core.jobs import JobManager
    from mnist_core.store import ModelStore
    from mnist_core.training import TrainConfig, train

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
    from mnist_core.model import softmax
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


SECTIONS = {"train": bench_train, "charts": bench_charts, "draw": bench_draw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds for timings")
    args = parser.parse_args()
    for name in args.only.split(","):
        if name == "draw":
            SECTIONS[name](200)
        else:
            SECTIONS[name](args.rounds)


if __name__ == "__main__":
    main()
