"""Compare saved runs by the settings and histories stored in their metadata, and look
into where one model goes wrong (its confusion matrix and its mistakes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_core.constants import NUM_CLASSES
from mnist_core.errors import MnistStudioError
from mnist_core.naming import model_label, number_repeats, run_numbers
from mnist_core.scores import Evaluation
from mnist_core.store import ModelInfo, ModelStore

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

    @property
    def gap(self) -> float | None:
        """Training minus test accuracy: a growing gap is the sign of overfitting."""
        if self.train_accuracy is None or self.test_accuracy is None:
            return None
        return self.train_accuracy - self.test_accuracy


def summarize(store: ModelStore, refs: list[str]) -> list[RunSummary]:
    """Settings and final figures of each run, read from its metadata."""
    rows = []
    for ref in refs:
        metadata = store.read_metadata(ref)
        config = metadata.config
        train_accuracy = metadata.history.get("accuracy") or [None]
        rows.append(RunSummary(
            ref=ref,
            arch=config.arch,
            epochs=metadata.epochs_completed,
            dropout=config.dropout,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
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


def run_labels(store: ModelStore, refs: list[str]) -> dict[str, str]:
    """Short, unique labels for several runs (a repeated label gets ' (2)', ' (3)', ...)."""
    numbers = run_numbers(store.list_models())
    labels = []
    for ref in refs:
        try:
            metadata = store.read_metadata(ref)
        except MnistStudioError:  # a vanished or broken file: fall back to the ref itself
            labels.append(ref)
            continue
        info = ModelInfo(ref, store.resolve(ref), "/" not in ref, metadata)
        labels.append(model_label(info, numbers.get(ref), with_accuracy=False))
    return dict(zip(refs, number_repeats(labels), strict=True))


def confusion_cells(confusion: np.ndarray) -> list[dict[str, object]]:
    """The confusion matrix in long form for a heatmap: {true, predicted, count, correct}."""
    return [
        {"true": true, "predicted": predicted, "count": int(confusion[true, predicted]),
         "correct": true == predicted}
        for true in range(NUM_CLASSES)
        for predicted in range(NUM_CLASSES)
    ]


def top_confusions(confusion: np.ndarray, limit: int = 5) -> list[tuple[int, int, int]]:
    """The most frequent mistakes as (true digit, predicted digit, count), most first."""
    off_diagonal = np.array(confusion, dtype=np.int64)
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(-off_diagonal, axis=None, kind="stable")[:limit]
    pairs = [(int(i // NUM_CLASSES), int(i % NUM_CLASSES)) for i in order]
    return [(true, predicted, int(off_diagonal[true, predicted]))
            for true, predicted in pairs if off_diagonal[true, predicted] > 0]


def worst_mistakes(evaluation: Evaluation, labels: np.ndarray, true_digit: int | None = None,
                   predicted_digit: int | None = None) -> np.ndarray:
    """Indices of the misclassified images (optionally one true/predicted digit), the most
    confidently wrong first."""
    picked = evaluation.mistakes(true_digit, predicted_digit, labels)
    order = np.argsort(-evaluation.confidence[picked], kind="stable")
    return picked[order]
