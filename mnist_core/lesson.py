"""The numbers the Learn view explains: the data, one prediction, its loss."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mnist_core.constants import NUM_CLASSES, NUM_PIXELS
from mnist_core.data import MnistData
from mnist_core.numerics import LN_NUM_CLASSES, cross_entropy, softmax


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer summary, as the UI shows it."""

    name: str
    kind: str
    output_shape: str
    params: int


@dataclass(frozen=True)
class DataOverview:
    """Shapes, pixel ranges and class counts of the data set."""

    train_shape: tuple[int, ...]
    test_shape: tuple[int, ...]
    raw_range: tuple[int, int]  # pixel values as stored: 0..255
    scaled_range: tuple[float, float]  # after scaling: 0.0..1.0
    train_counts: np.ndarray  # (10,) images per digit
    test_counts: np.ndarray  # (10,)


def data_overview(data: MnistData) -> DataOverview:
    """What `x_train, x_test = x_train / 255.0, x_test / 255.0` works on and gives."""
    low, high = float(data.x_train.min()), float(data.x_train.max())
    return DataOverview(
        train_shape=tuple(data.x_train.shape),
        test_shape=tuple(data.x_test.shape),
        raw_range=(round(low * 255), round(high * 255)),
        scaled_range=(low, high),
        train_counts=np.bincount(data.y_train, minlength=NUM_CLASSES),
        test_counts=np.bincount(data.y_test, minlength=NUM_CLASSES),
    )


def sample_indices(labels: np.ndarray, per_digit: int = 1, offset: int = 0) -> np.ndarray:
    """Indices of the first `per_digit` examples of each digit (after skipping `offset`)."""
    picked = [np.flatnonzero(labels == digit)[offset:offset + per_digit]
              for digit in range(NUM_CLASSES)]
    return np.concatenate(picked)


@dataclass(frozen=True)
class Explanation:
    """One image through the model: logits -> softmax -> loss."""

    logits: np.ndarray  # (10,) raw scores, any real number
    probabilities: np.ndarray  # (10,) softmax(logits), sums to 1
    label: int
    predicted: int
    loss: float  # -ln(probability of the true label)

    @property
    def uniform_loss(self) -> float:
        """The loss of a guess that gives every digit 1/10: ln 10 ~ 2.30."""
        return LN_NUM_CLASSES


def explain(logits: np.ndarray, label: int) -> Explanation:
    """Softmax and cross-entropy for one image's logits (10,) and its true label."""
    logits = np.asarray(logits, dtype=np.float64).reshape(NUM_CLASSES)
    probabilities = softmax(logits)
    loss = float(cross_entropy(logits[None], [label])[0])
    return Explanation(logits, probabilities, int(label), int(probabilities.argmax()), loss)


def untrained_model(seed: int = 0):  # -> keras.Model (Keras is imported lazily)
    """The quickstart network before any training; a fixed seed gives the same numbers."""
    from mnist_core.model import build_model  # deferred: imports TensorFlow

    return build_model(seed=seed)


@dataclass(frozen=True)
class LayerLesson:
    """One row of the Learn view's layer table: the real figures and where they come from."""

    name: str
    kind: str
    output_shape: str
    params: int
    formula: str  # how the parameter count comes about, e.g. "784 × 128 weights + 128 biases"


def _width(output_shape: str) -> int | None:
    """The last dimension of a shape printed as '(None, 784)'; None if there is none."""
    numbers = re.findall(r"\d+", output_shape)
    return int(numbers[-1]) if numbers else None


def layer_lessons(rows: Sequence[LayerRow]) -> list[LayerLesson]:
    """The layer summary with the arithmetic behind each parameter count."""
    lessons = []
    width: int | None = NUM_PIXELS  # the flattened image feeds the first layer
    for row in rows:
        units = _width(row.output_shape)
        if row.params == 0:
            formula = "no weights"
        elif units is not None and width is not None and row.params == width * units + units:
            formula = f"{width:,} × {units:,} weights + {units:,} biases"
        else:
            formula = ""
        lessons.append(LayerLesson(row.name, row.kind, row.output_shape, row.params, formula))
        width = units
    return lessons


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    """Weight updates in one epoch: one per batch, the last batch possibly smaller."""
    return math.ceil(num_images / batch_size)


def rival(explanation: Explanation) -> int:
    """The digit other than the true one that the model finds most likely."""
    others = explanation.probabilities.copy()
    others[explanation.label] = -1.0
    return int(others.argmax())


@dataclass(frozen=True)
class Odds:
    """How much more likely the model finds one digit than another, from two logits."""

    digit: int
    other: int
    log_odds: float  # logit(digit) - logit(other) = ln(p(digit) / p(other))
    ratio: float  # e ** log_odds = p(digit) / p(other)


def odds(explanation: Explanation, digit: int, other: int) -> Odds:
    """Logit difference of two digits, and the probability ratio it stands for."""
    log_odds = float(explanation.logits[digit] - explanation.logits[other])
    return Odds(digit, other, log_odds, math.exp(min(log_odds, 700.0)))


@dataclass(frozen=True)
class SoftmaxParts:
    """p(digit) = e^logit(digit) / (e^logit(0) + ... + e^logit(9)), with the real numbers."""

    digit: int
    logit: float
    numerator: float  # e^logit(digit)
    denominator: float  # sum of e^logit over the ten digits
    probability: float


def softmax_parts(explanation: Explanation, digit: int) -> SoftmaxParts:
    """The softmax fraction for one digit (e^logit / sum of e^logits)."""
    # Shifting every logit by the same amount leaves the fraction unchanged; it only
    # matters for huge logits, where e^logit would overflow.
    shift = max(0.0, float(explanation.logits.max()) - 700.0)
    exps = np.exp(explanation.logits - shift)
    numerator, denominator = float(exps[digit]), float(exps.sum())
    return SoftmaxParts(digit, float(explanation.logits[digit]), numerator, denominator,
                        numerator / denominator)
