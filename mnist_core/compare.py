"""Compare saved runs by the settings and histories stored in their metadata."""

from __future__ import annotations

from dataclasses import dataclass

from mnist_core.store import ModelStore

HISTORY_SERIES = {
    "loss": ("loss", "training"),
    "val_loss": ("loss", "test"),
    "accuracy": ("accuracy", "training"),
    "val_accuracy": ("accuracy", "test"),
}


@dataclass(frozen=True)
class RunSummary:
    """One row of the comparison table."""

    ref: str
    arch: str
    epochs: int | None
    dropout: float | None
    batch_size: int | None
    learning_rate: float | None
    train_accuracy: float | None
    test_accuracy: float | None
    test_loss: float | None
    stopped: bool
    created: str


def summarize(store: ModelStore, refs: list[str]) -> list[RunSummary]:
    """Settings and final figures of each run, read from its metadata."""
    rows = []
    for ref in refs:
        metadata = store.read_metadata(ref)
        config = metadata.config
        train_accuracy = metadata.history.get("accuracy") or [None]
        rows.append(RunSummary(
            ref=ref,
            arch=config.get("arch", "mlp"),
            epochs=metadata.epochs_completed,
            dropout=config.get("dropout"),
            batch_size=config.get("batch_size"),
            learning_rate=config.get("learning_rate"),
            train_accuracy=train_accuracy[-1],
            test_accuracy=metadata.test_accuracy,
            test_loss=metadata.test_loss,
            stopped=metadata.stopped,
            created=metadata.created,
        ))
    return rows


def history_rows(store: ModelStore, refs: list[str]) -> list[dict[str, object]]:
    """Per-epoch curves of several runs in long form, ready for a chart:
    {run, epoch, metric ("loss"/"accuracy"), split ("training"/"test"), value}."""
    rows: list[dict[str, object]] = []
    for ref in refs:
        history = store.read_metadata(ref).history
        for key, (metric, split) in HISTORY_SERIES.items():
            for epoch, value in enumerate(history.get(key, []), start=1):
                rows.append({"run": ref, "epoch": epoch, "metric": metric, "split": split,
                             "value": float(value)})
    return rows
