"""The room board: every finished run on the server, from its saved metadata, and summaries.

Nothing here is kept apart from the runs: the board is rebuilt from models/runs/*.json,
so a restart loses nothing. A fresh start (Room.fresh_board) only hides earlier runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from mnist_core.config import ALL_TRAIN_IMAGES
from mnist_core.store import ModelInfo


@dataclass(frozen=True)
class BoardEntry:
    """One finished run, as the board shows it."""

    ref: str
    owner: str
    created: str
    epochs: int  # epochs trained (a stopped run: the whole ones)
    dropout: float
    train_images: int  # how many training images it learnt from
    batch_size: int
    learning_rate: float
    arch: str
    test_accuracy: float
    train_accuracy: float | None  # the last epoch's, measured with dropout switched on
    train_curve: tuple[float, ...]  # training accuracy per epoch
    test_curve: tuple[float, ...]  # test accuracy per epoch

    @property
    def gap(self) -> float | None:
        """Training minus test accuracy: above 0, the model knows its images better."""
        return None if self.train_accuracy is None else self.train_accuracy - self.test_accuracy


def entry_from(info: ModelInfo) -> BoardEntry | None:
    """The board entry of a saved run, or None (a shipped model, no metadata or figures)."""
    meta = info.metadata
    if info.shipped or not info.usable or meta is None or meta.test_accuracy is None:
        return None
    config = meta.config
    train_curve = tuple(meta.history.get("accuracy", ()))
    return BoardEntry(
        ref=info.ref, owner=meta.owner, created=meta.created,
        epochs=meta.epochs_completed or config.epochs, dropout=config.dropout,
        train_images=min(config.train_limit or ALL_TRAIN_IMAGES, ALL_TRAIN_IMAGES),
        batch_size=config.batch_size, learning_rate=config.learning_rate, arch=config.arch,
        test_accuracy=float(meta.test_accuracy),
        train_accuracy=train_curve[-1] if train_curve else None,
        train_curve=train_curve, test_curve=tuple(meta.history.get("val_accuracy", ())),
    )


def _after(created: str, since: str | None) -> bool:
    if since is None:
        return True
    try:
        return datetime.fromisoformat(created) >= datetime.fromisoformat(since)
    except ValueError:  # a hand-edited date: shown rather than lost
        return True


def _entries_since(infos: Iterable[ModelInfo], since: str | None) -> list[BoardEntry]:
    """The entries of the runs created at or after `since` (every run if None)."""
    return [entry for info in infos if (entry := entry_from(info)) is not None
            and _after(entry.created, since)]


def board_entries(infos: Iterable[ModelInfo], since: str | None = None,
                  per_owner: int = 20) -> list[BoardEntry]:
    """The board: runs created at or after `since`, each participant's newest `per_owner`
    of them (the older ones stay on disk), oldest first."""
    entries = _entries_since(infos, since)
    entries.sort(key=lambda entry: entry.created)
    kept: dict[str, int] = defaultdict(int)
    newest_first = []
    for entry in reversed(entries):
        kept[entry.owner] += 1
        if not entry.owner or kept[entry.owner] <= per_owner:
            newest_first.append(entry)
    return newest_first[::-1]


def hidden_count(infos: Iterable[ModelInfo], owner: str, since: str | None = None,
                 per_owner: int = 20) -> int:
    """How many of `owner`'s runs the per-participant cap keeps off the board."""
    mine = [entry for entry in _entries_since(infos, since) if entry.owner == owner]
    return max(0, len(mine) - per_owner)


@dataclass(frozen=True)
class DropoutTrend:
    """Mean figures of the runs at the lowest and the highest dropout on the board."""

    low: float
    high: float
    test_low: float
    test_high: float
    gap_low: float | None
    gap_high: float | None
    runs_low: int
    runs_high: int


@dataclass(frozen=True)
class Summary:
    """What the board says in words: how many runs, the best, how dropout moved things."""

    runs: int
    people: int
    best: BoardEntry | None
    trend: DropoutTrend | None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(entries: list[BoardEntry]) -> Summary:
    """The board's summary: the best run (by test accuracy, earliest on a tie) and, if
    runs used two dropouts or more, the mean test accuracy and gap at the lowest and highest."""
    ranked = max(enumerate(entries), key=lambda pair: (pair[1].test_accuracy, -pair[0]),
                 default=None)
    best = None if ranked is None else ranked[1]
    by_dropout: dict[float, list[BoardEntry]] = defaultdict(list)
    for entry in entries:
        by_dropout[round(entry.dropout, 2)].append(entry)
    trend = None
    if len(by_dropout) >= 2:
        low, high = min(by_dropout), max(by_dropout)

        def gaps(group: list[BoardEntry]) -> float | None:
            return _mean([entry.gap for entry in group if entry.gap is not None])

        trend = DropoutTrend(
            low=low, high=high,
            test_low=_mean([entry.test_accuracy for entry in by_dropout[low]]) or 0.0,
            test_high=_mean([entry.test_accuracy for entry in by_dropout[high]]) or 0.0,
            gap_low=gaps(by_dropout[low]), gap_high=gaps(by_dropout[high]),
            runs_low=len(by_dropout[low]), runs_high=len(by_dropout[high]),
        )
    people = len({entry.owner or entry.ref for entry in entries})
    return Summary(runs=len(entries), people=people, best=best, trend=trend)
