"""Training on Ray: start-up cost, per-run overhead against local training, throughput.

    .venv/bin/python -m bench.ray_capacity              # 16 runs of 5 epochs (a few minutes)
    .venv/bin/python -m bench.ray_capacity --runs 8 --epochs 2

A Ray is started on this machine (2 worker processes, as a 2-core cluster would have) and the
same runs go through the JobManager twice, once with the room's local worker processes and
once with Ray actors. Prints the figures and how many worker cores a room of 40, 200 or
1,000 needs for everyone's run to finish within a minute of pressing Train.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path
from statistics import median

ROOMS = (40, 200, 1000)
TARGET_MINUTES = 1.0
WARM_ROUNDS = 5


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run_all(manager, configs, owner: str) -> float:
    """Submit every config at once; seconds until the last has finished."""
    start = time.perf_counter()
    ids = [manager.submit(config, owner=f"{owner}{i}") for i, config in enumerate(configs)]
    for job_id in ids:
        done = manager.wait(job_id, timeout=1800)
        if done.status.value != "finished":
            raise SystemExit(f"{job_id} {done.status}: {done.error}")
    return time.perf_counter() - start


def first_progress(manager, config) -> tuple[float, float]:
    """(seconds to the first progress point, seconds to the end) of one run."""
    start = time.perf_counter()
    job_id = manager.submit(config, owner="first")
    while not manager.snapshot(job_id).batch_points:
        time.sleep(0.01)
    first = time.perf_counter() - start
    manager.wait(job_id, timeout=1800)
    return first, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from mnist_core.config import TrainConfig
    from mnist_core.data import load_mnist
    from mnist_core.executors import ProcessExecutor
    from mnist_core.jobs import JobManager
    from mnist_core.ray_backend import RayExecutor, connect
    from mnist_core.store import ModelStore

    data = load_mnist()
    store = ModelStore(Path(tempfile.mkdtemp(prefix="bench-ray-")))
    (store.root / "runs").mkdir(parents=True, exist_ok=True)
    one = TrainConfig(epochs=args.epochs)
    room = [TrainConfig(epochs=args.epochs, dropout=round(0.5 * i / max(1, args.runs - 1), 2),
                        seed=i) for i in range(args.runs)]
    print(f"{args.runs} runs of {args.epochs} epochs, {args.workers} workers; {load_average()}")

    start = time.perf_counter()
    ray = connect(None)
    connect_s = time.perf_counter() - start
    remote = JobManager(store, room=RayExecutor(workers=args.workers,
                                                data_loader=lambda: data))
    cold_first, cold_total = first_progress(remote, one)
    print(f"Ray start-up: ray.init {connect_s:.1f} s; a first run's first progress after "
          f"{cold_first:.1f} s (actors start, import TensorFlow, read MNIST from the object "
          f"store), done after {cold_total:.1f} s")

    local = JobManager(store, room=ProcessExecutor(args.workers))
    first_progress(local, one)  # warm the local worker processes the same way
    # Alternated, median of a few: each worker compiles its group sizes once, when idle.
    warm_local, warm_ray = [], []
    for _ in range(WARM_ROUNDS):
        warm_local.append(first_progress(local, one)[1])
        warm_ray.append(first_progress(remote, one)[1])
    local_s, ray_s = median(warm_local), median(warm_ray)
    print(f"One warm run (median of {WARM_ROUNDS}): local worker {local_s:.2f} s, Ray actor "
          f"{ray_s:.2f} s: overhead {ray_s - local_s:+.2f} s ({ray_s / local_s:.2f}x)")

    local_s = run_all(local, room, "local")
    ray_s = run_all(remote, room, "ray")
    per_core = args.runs / (ray_s / 60) / args.workers
    print(f"{args.runs} runs at once: local {local_s:.1f} s, Ray {ray_s:.1f} s "
          f"(ratio {ray_s / local_s:.2f}); Ray throughput {args.runs / (ray_s / 60):.1f} "
          f"runs/min = {per_core:.1f} runs/min per worker core ({load_average()})")
    print(f"Worker cores for everyone's {args.epochs}-epoch run within "
          f"{TARGET_MINUTES:g} min of pressing Train:")
    for people in ROOMS:
        print(f"  room of {people:>5,}: {math.ceil(people / (per_core * TARGET_MINUTES)):>4} cores")
    local.close()
    remote.close()
    ray.shutdown()


if __name__ == "__main__":
    main()
