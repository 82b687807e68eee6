"""Screenshots of the Room tab and the presenter console at every screen size, on a board
seeded with a workshop's worth of runs (their metadata only: the board never reads models).

    .venv/bin/python -m bench.room_screens [--out /tmp/shots] [--sizes phone,projector]

The seeded figures are made up to look like a room's sweep (small training sets memorised,
dropout narrowing the gap); the layout, not the numbers, is what these pictures are for.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.appserver import copy_shipped_models, running_app, wait_idle
from bench.screens import SIZES, new_page, open_tab, shoot
from mnist_core.config import TrainConfig
from mnist_core.store import ModelMetadata

SECRET = "room-screens-presenter-secret"
OWNER = "ab" * 16  # the screenshots' participant: a few of the seeded runs are theirs


def seed_board(models: Path, runs: int = 36, owner: str = "", seed: int = 0) -> None:
    """Write `runs` plausible finished runs of 20 participants into models/runs/."""
    rng = random.Random(seed)
    folder = models / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime.now(UTC) - timedelta(minutes=30)
    for index in range(runs):
        images = rng.choice((500, 1000, 10_000, 60_000))
        dropout = rng.choice((0.0, 0.1, 0.2, 0.3, 0.5))
        epochs = rng.choice((1, 2, 3, 5, 10, 20))
        memorised = {500: 0.16, 1000: 0.11, 10_000: 0.03, 60_000: 0.0}[images]
        test = {500: 0.84, 1000: 0.88, 10_000: 0.95, 60_000: 0.975}[images] + dropout * 0.02
        test += rng.uniform(-0.008, 0.004) - (0.02 if epochs == 1 else 0.0)
        train = min(1.0, test + memorised * (1 - 1.6 * dropout) * min(1.0, epochs / 8)
                    - 0.01 * dropout)
        curve = [train - (train - 0.8) * 0.6 ** epoch for epoch in range(1, epochs + 1)]
        tests = [test - (test - 0.8) * 0.5 ** epoch for epoch in range(1, epochs + 1)]
        who = owner if index % 9 == 4 else f"{index % 20:032x}"
        name = f"mlp-e{epochs}-d{dropout:.2f}-seed{index}"
        meta = ModelMetadata(
            name=f"runs/{name}",
            config=TrainConfig(epochs=epochs, dropout=dropout,
                               train_limit=None if images == 60_000 else images),
            test_accuracy=test, history={"accuracy": curve, "val_accuracy": tests},
            epochs_completed=epochs, owner=who,
            created=(start + timedelta(seconds=40 * index)).isoformat())
        (folder / f"{name}.json").write_text(json.dumps(meta.to_dict()))
        (folder / f"{name}.keras").write_bytes(b"seeded: the board reads only the metadata")


def room_screens(url: str, out: Path, sizes: list[str]) -> None:
    """The Room tab of a participant (some runs theirs) and the console, at each size."""
    from bench.appserver import chromium_browser

    out.mkdir(parents=True, exist_ok=True)
    with chromium_browser() as browser:
        for size in sizes:
            context, page = new_page(browser, url, size, owner=OWNER)
            try:
                open_tab(page, "Room")
                page.screenshot(path=str(out / f"{size}-room-screen.png"))
                shoot(page, out / f"{size}-room.png", f"{size} Room")
            finally:
                context.close()
            context, page = new_page(browser, f"{url}/?presenter_key={SECRET}", size, owner=OWNER)
            try:
                page.locator(".st-key-presenter_push").wait_for()
                wait_idle(page)
                shoot(page, out / f"{size}-console.png", f"{size} Console")
            finally:
                context.close()
            print(f"{size}: done", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/shots"))
    parser.add_argument("--sizes", default=",".join(SIZES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        models = copy_shipped_models(base / "models")
        seed_board(models, owner=OWNER)
        env = {"MNIST_PRESENTER_SECRET": SECRET}
        with running_app(models, base / "server.log", env=env) as server:
            room_screens(server.url, args.out, args.sizes.split(","))


if __name__ == "__main__":
    main()
