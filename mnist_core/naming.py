"""How models, runs and figures are written for people: one labeller, one percent, one plural."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mnist_core.config import TrainConfig
    from mnist_core.store import ModelInfo, ModelMetadata


def percent(value: float | None) -> str:
    """0.9771 -> '97.7%'; None -> '-'. Every figure is rounded this one way."""
    return "-" if value is None else f"{value:.1%}"


def plural(count: int, noun: str) -> str:
    """'1 epoch', '5 epochs'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def run_stem(config: TrainConfig) -> str:
    """A file-name stem for a run, e.g. 'mlp-e5-d0.20'."""
    stem = f"{config.arch}-e{config.epochs}-d{config.dropout:.2f}"
    return f"{stem}-aug" if config.augment else stem


def describe_run(metadata: ModelMetadata) -> str:
    """A run's settings and time: 'MLP 5 epochs, dropout 0.2 · 15:22'."""
    config = metadata.config
    epochs = metadata.epochs_completed if metadata.stopped else config.epochs
    label = f"{config.arch.upper()} {plural(epochs or 0, 'epoch')}, dropout {config.dropout:g}"
    label += " (stopped)" if metadata.stopped else ""
    try:
        created = datetime.fromisoformat(metadata.created).astimezone()  # local time
    except (TypeError, ValueError):
        return label
    return f"{label} · {created:%H:%M}"


def model_label(info: ModelInfo, with_accuracy: bool = True) -> str:
    """'quickstart · 97.7%' for a shipped model, '91.1% · MLP 4 epochs, dropout 0.2 · 15:22'
    for a run (without the figure when `with_accuracy` is False)."""
    metadata = info.metadata
    if metadata is None:
        return f"{info.ref.removeprefix('runs/')} (no metadata)"
    accuracy = percent(metadata.test_accuracy) if metadata.test_accuracy is not None else None
    if info.shipped:
        return f"{info.ref} · {accuracy}" if accuracy and with_accuracy else info.ref
    described = describe_run(metadata)
    return f"{accuracy} · {described}" if accuracy and with_accuracy else described


def number_repeats(labels: Sequence[str]) -> list[str]:
    """The labels, each repeat numbered in order: 'a', 'a (2)', 'a (3)'."""
    seen: dict[str, int] = {}
    numbered = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        numbered.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return numbered
