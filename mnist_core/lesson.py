"""The numbers the Learn view explains: the data, one prediction, its loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mnist_core.constants import NUM_CLASSES
from mnist_core.data import MnistData


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
        return math.log(NUM_CLASSES)


def explain(logits: np.ndarray, label: int) -> Explanation:
    """Softmax and cross-entropy for one image's logits (10,) and its true label."""
    from mnist_core.model import softmax  # deferred: imports TensorFlow

    logits = np.asarray(logits, dtype=np.float64).reshape(NUM_CLASSES)
    probabilities = softmax(logits)
    # -log softmax computed from the logits directly, stable for large logits.
    shifted = logits - logits.max()
    loss = float(np.log(np.exp(shifted).sum()) - shifted[label])
    return Explanation(logits, probabilities, int(label), int(probabilities.argmax()), loss)
