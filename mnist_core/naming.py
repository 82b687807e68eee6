"""How models, runs and figures are written for people: one labeller, one percent, one plural."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mnist_core.config import TrainConfig
    from mnist_core.store import ModelInfo, ModelMetadata


# What the page calls each architecture, and one line on what the less familiar one is.
NETWORK_NAMES = {"mlp": "quickstart network", "cnn": "convolutional network"}
NETWORK_NOTES = {
    "mlp": "The tutorial's network: every pixel connected to 128 neurons, then to 10 digits.",
    "cnn": "A convolutional network slides small 3×3 filters over the image to find strokes "
           "and corners wherever they are, then combines them into digits.",
}


def percent(value: float | None) -> str:
    """0.9771 -> '97.7%'; None -> '-'. Every figure is rounded this one way, so that the
    float32 0.95649999 Keras reports and the 0.9565 counted from predictions agree."""
    if value is None:
        return "-"
    exact = Decimal(repr(round(float(value), 6))) * 100
    return f"{exact.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def plural(count: int, noun: str) -> str:
    """'1 epoch', '5 epochs'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def run_stem(config: TrainConfig, epochs: int | None = None) -> str:
    """A file-name stem for a run, e.g. 'mlp-e5-d0.20' (`epochs`: those it really trained,
    for a stopped run)."""
    stem = f"{config.arch}-e{config.epochs if epochs is None else epochs}-d{config.dropout:.2f}"
    return f"{stem}-aug" if config.augment else stem


def network_name(arch: str) -> str:
    """'quickstart network' for 'mlp', 'convolutional network' for 'cnn'."""
    return NETWORK_NAMES.get(arch, arch)


def describe_run(metadata: ModelMetadata, number: int | None = None) -> str:
    """A run as a person says it: 'Run 3 · 5 epochs · dropout 0.2' (the network named when
    it is not the quickstart's, ' · stopped' for a stopped run)."""
    config = metadata.config
    epochs = metadata.epochs_completed if metadata.stopped else config.epochs
    parts = [f"Run {number}" if number is not None else "Run"]
    if config.arch != "mlp":
        parts.append(network_name(config.arch))
    parts += [plural(epochs or 0, "epoch"), f"dropout {config.dropout:g}"]
    if metadata.stopped:
        parts.append("stopped")
    return " · ".join(parts)


def run_numbers(infos: Iterable[ModelInfo]) -> dict[str, int]:
    """Each saved run's number on this server, 1 for the oldest (shipped models have none)."""
    runs = [info for info in infos if not info.shipped and info.metadata is not None]
    runs.sort(key=lambda info: (info.metadata.created, info.ref))
    return {info.ref: number for number, info in enumerate(runs, start=1)}


def model_label(info: ModelInfo, number: int | None = None,
                with_accuracy: bool = True) -> str:
    """'quickstart · 97.7%' for a shipped model, 'Run 3 · 5 epochs · dropout 0.2 · 97.7%'
    for a run (without the figure when `with_accuracy` is False)."""
    metadata = info.metadata
    if metadata is None:
        return f"{info.ref.removeprefix('runs/')} (no metadata)"
    name = info.ref if info.shipped else describe_run(metadata, number)
    if with_accuracy and metadata.test_accuracy is not None:
        return f"{name} · {percent(metadata.test_accuracy)}"
    return name


def number_repeats(labels: Sequence[str]) -> list[str]:
    """The labels, each repeat numbered in order: 'a', 'a (2)', 'a (3)'."""
    seen: dict[str, int] = {}
    numbered = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        numbered.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return numbered
