"""How long other threads wait for the GIL while MNIST's training images become a tensor."""

# .venv/bin/python -m bench.convert_stall
# fit() converts in one call that holds the GIL, as_tensor slice by slice; a thread that wants
# the GIL every 2 ms (the server's other sessions) records its worst wait during each.

from __future__ import annotations

import statistics
import threading
import time

from mnist_core.data import load_mnist
from mnist_core.tf_setup import keras
from mnist_core.training import as_tensor

ROUNDS = 3
TICK = 0.002  # s


def main() -> None:
    images = load_mnist().x_train  # (60000, 28, 28) float32 in [0, 1]
    worst, stop = [0.0], threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            time.sleep(TICK)
            worst[0] = max(worst[0], time.perf_counter() - started - TICK)

    threading.Thread(target=ticker, daemon=True).start()
    ways = {"one call (what fit() does)": keras.ops.convert_to_tensor,
            "slice by slice (as_tensor)": as_tensor}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(ROUNDS):
        for name, convert in ways.items():
            time.sleep(0.2)
            worst[0] = 0.0
            started = time.perf_counter()
            tensor = convert(images)
            seconds = time.perf_counter() - started
            time.sleep(0.05)  # the ticker's last wait is counted
            figures[name].append((seconds * 1000, worst[0] * 1000))
            del tensor
    stop.set()
    for name, runs in figures.items():
        took = statistics.median(ms for ms, _ in runs)
        waited = statistics.median(ms for _, ms in runs)
        print(f"{name}: {took:.0f} ms; another thread's worst wait for the GIL {waited:.0f} ms")
    one, sliced = (statistics.median(w for _, w in runs) for runs in figures.values())
    print(f"worst wait, slice by slice / one call: {sliced / max(one, 1e-9):.2f}")


if __name__ == "__main__":
    main()
