"""The whole room trains at once: N quickstart runs through the JobManager vs one after another.

    .venv/bin/python -m bench.room                 # 40 runs, 5 epochs (about 4 minutes)
    .venv/bin/python -m bench.room --runs 8 --reference 2 --single-rounds 1

Prints: the time until all N runs (dropout 0 to 0.5, submitted over --spread seconds, the
room's worker processes started by the first) have finished; the same N one after another
with the previous trainer (Keras' fit, `mnist_core.training.train_fit`), measured on
--reference of them and extrapolated; their ratio; mean test accuracy against those fit
runs; the server side of a drawing meanwhile; and one run's compiled loop against the
tutorial's `model.fit(x, y, epochs=5)`, in this process. The machine is shared: the load
average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from statistics import mean, median

from bench.stats import percentile

ROOM_TARGET_S = 60.0
SINGLE_TARGET = 0.20
ACCURACY_TARGET_PP = 0.3
STROKE_P95_TARGET_MS = 100.0


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def tutorial_fit(data) -> tuple[float, float]:
    """bench/seed_quickstart.py's model and fit, in this process: (seconds, test accuracy)."""
    from mnist_core.tf_setup import keras

    start = time.perf_counter()
    model = keras.models.Sequential([
        keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2), keras.layers.Dense(10)])
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train, data.y_train, epochs=5, verbose=0)
    seconds = time.perf_counter() - start
    return seconds, model.evaluate(data.x_test, data.y_test, verbose=0)[1]


def bench_single(rounds: int) -> None:
    """One run: the compiled loop (train) vs the tutorial's fit, alternated, in-process."""
    from mnist_core.config import TrainConfig
    from mnist_core.data import load_mnist
    from mnist_core.training import train

    data = load_mnist()
    ours, theirs, accuracy = [], [], []
    for i in range(rounds):
        start = time.perf_counter()
        result = train(TrainConfig(epochs=5, dropout=0.2, seed=i), data)
        ours.append(time.perf_counter() - start)
        accuracy.append(result.test_accuracy)
        seconds, _ = tutorial_fit(data)
        theirs.append(seconds)
    ratio = median(ours) / median(theirs)
    print(f"[single] one run, 5 epochs, in-process: compiled loop {median(ours):.1f} s "
          f"(first, compiling: {ours[0]:.1f} s) vs the tutorial's fit {median(theirs):.1f} s "
          f"-> ratio {ratio:.2f}, first run {ours[0] / median(theirs):.2f} (target <= "
          f"{SINGLE_TARGET}); test accuracy {min(accuracy):.2%} at least (target >= 97.5%); "
          f"{load_average()}", flush=True)


def stroke_times(stop: threading.Event, out: list[float]) -> None:
    """The server side of a drawing (RGBA -> preprocess -> predict), every 0.1 s, in ms."""
    from mnist_core.evaluate import predict_proba
    from mnist_core.preprocess import canvas_to_mnist
    from mnist_core.store import ModelStore
    from mnist_core.strokes import render_drawn_digits

    canvases, _ = render_drawn_digits(50, seed=1)  # (50, 280, 280, 4) uint8
    model = ModelStore().load("quickstart")
    predict_proba(model, canvas_to_mnist(canvases[0]))  # traced once, as the app does
    i = 0
    while not stop.is_set():
        start = time.perf_counter()
        image = canvas_to_mnist(canvases[i % len(canvases)])
        if image is not None:
            predict_proba(model, image)
        out.append((time.perf_counter() - start) * 1000)
        i += 1
        time.sleep(0.1)


def bench_room(runs: int, spread: float, reference: int, epochs: int) -> None:
    """N runs through the JobManager's room vs `reference` of them by fit, extrapolated."""
    from mnist_core.config import TrainConfig
    from mnist_core.data import load_mnist
    from mnist_core.executors import ProcessExecutor
    from mnist_core.jobs import JobManager, JobStatus
    from mnist_core.settings import training_workers
    from mnist_core.store import ModelStore
    from mnist_core.training import train_fit

    data = load_mnist()
    configs = [TrainConfig(epochs=epochs, dropout=round(0.5 * i / max(1, runs - 1), 3), seed=i)
               for i in range(runs)]
    workers = training_workers() or 2
    strokes: list[float] = []
    stop_strokes = threading.Event()
    drawer = threading.Thread(target=stroke_times, args=(stop_strokes, strokes), daemon=True)
    with tempfile.TemporaryDirectory() as folder:
        manager = JobManager(ModelStore(Path(folder)), room=ProcessExecutor(workers))
        drawer.start()
        time.sleep(1.0)  # the drawing loop is warm
        start = time.perf_counter()
        job_ids = []
        for i, config in enumerate(configs):
            job_ids.append(manager.submit(config, owner=f"participant-{i}"))
            time.sleep(spread / max(1, runs - 1) if i < runs - 1 else 0)
        submitted = time.perf_counter() - start
        done = [manager.wait(job_id) for job_id in job_ids]
        room_seconds = time.perf_counter() - start
        stop_strokes.set()
        drawer.join()
        manager.close()
        failed = [job for job in done if job.status is not JobStatus.FINISHED or not job.ref]
    room_load = load_average()
    accuracy = [job.test_accuracy or 0.0 for job in done]
    print(f"[room] {runs} runs, {epochs} epochs, dropout 0-0.5, submitted over "
          f"{submitted:.1f} s, {workers} worker processes: all finished after "
          f"{room_seconds:.1f} s (target <= {ROOM_TARGET_S:.0f} s for 40); mean test accuracy "
          f"{mean(accuracy):.2%}, lowest {min(accuracy):.2%}; {len(failed)} not finished and "
          f"saved; {room_load}", flush=True)
    if strokes:
        p95 = percentile(strokes, 95)
        print(f"[room] drawing meanwhile, server side per stroke ({len(strokes)} strokes): "
              f"median {median(strokes):.1f} ms, p95 {p95:.1f} ms (target p95 <= "
              f"{STROKE_P95_TARGET_MS:.0f} ms)", flush=True)
    # The workers ran at niceness +10 (mnist_core.executors): the same for what they are
    # compared with, or a shared machine's other load would favour the baseline.
    from mnist_core.executors import WORKER_NICENESS

    os.nice(WORKER_NICENESS)
    picked = list(range(0, runs, max(1, runs // max(1, reference))))[:reference]
    fit_seconds, fit_accuracy = [], []
    for i in picked:
        start = time.perf_counter()
        fit_accuracy.append(train_fit(configs[i], data).test_accuracy)
        fit_seconds.append(time.perf_counter() - start)
    sequential = mean(fit_seconds) * runs
    ours = [accuracy[i] for i in picked]
    gap = (mean(ours) - mean(fit_accuracy)) * 100
    print(f"[room] the same {runs} one after another with the previous trainer (Keras' fit): "
          f"{mean(fit_seconds):.1f} s a run, measured on {len(picked)} runs and extrapolated "
          f"to {sequential:.0f} s -> room / one after another = {room_seconds / sequential:.2f}; "
          f"test accuracy of those {len(picked)} settings: room {mean(ours):.2%}, fit "
          f"{mean(fit_accuracy):.2%}, difference {gap:+.2f} pp (target within "
          f"{ACCURACY_TARGET_PP} pp); {load_average()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40, help="runs submitted (40)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each run (5)")
    parser.add_argument("--spread", type=float, default=10.0,
                        help="seconds over which the runs are submitted (10)")
    parser.add_argument("--reference", type=int, default=6,
                        help="runs trained one after another by fit, to extrapolate (6)")
    parser.add_argument("--single-rounds", type=int, default=3,
                        help="rounds of one run vs the tutorial's fit (3; 0 to skip)")
    args = parser.parse_args()
    bench_room(args.runs, args.spread, args.reference, args.epochs)
    if args.single_rounds:
        bench_single(args.single_rounds)


if __name__ == "__main__":
    main()
