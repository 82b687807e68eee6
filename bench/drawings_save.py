"""What labelling a drawing costs the server: DrawingStore.save with an empty and a full room.

# .venv/bin/python -m bench.drawings_save [--room 5000]
Saving is a directory listing (for the caps), a JSON file written, fsynced and renamed; it
must cost less than the rerun it rides on (a stroke's rerun: ~2 ms server side, ~80 ms
on screen, bench/run.py [3] and [3b]).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from mnist_core.drawings import DrawingStore, owner_hash

SAVES = 50


def timed_saves(store: DrawingStore, image: np.ndarray, strokes: dict) -> np.ndarray:
    """Milliseconds of SAVES saves by one owner."""
    owner = "d" * 32
    times = []
    for i in range(SAVES):
        start = time.perf_counter()
        store.save(owner, image, i % 10, guess=i % 10, strokes=strokes)
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--room", type=int, default=4900, help="drawings already there")
    args = parser.parse_args(argv)
    image = np.zeros((28, 28), np.float32)
    image[4:24, 12:16] = 1.0  # a "1"
    path = [["M", 140, 40]] + [["Q", 140, 40 + i, 140, 41 + i] for i in range(200)]
    strokes = {"version": "4.4.0", "objects": [{"type": "path", "path": path}]}
    print(f"strokes JSON of one drawing: {len(json.dumps(strokes)) / 1024:.1f} KB")
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as full:
        ms = timed_saves(DrawingStore(empty), image, strokes)
        print(f"save, empty room      : median {np.median(ms):.2f} ms, p95 "
              f"{np.percentile(ms, 95):.2f} ms")
        folder = Path(full)
        for i in range(args.room):  # placeholders: listing reads names only
            name = f"{i % 10}-{owner_hash(str(i % 40))}-{i:016d}-{i:08x}.json"
            (folder / name).write_text("{}")
        ms = timed_saves(DrawingStore(folder), image, strokes)
        print(f"save, {args.room} in the room: median {np.median(ms):.2f} ms, p95 "
              f"{np.percentile(ms, 95):.2f} ms")


if __name__ == "__main__":
    main()
