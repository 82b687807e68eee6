"""A model's figures on a labelled set, computed from its logits (NumPy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_core.constants import NUM_CLASSES
from mnist_core.errors import ConfigError
from mnist_core.numerics import cross_entropy, softmax


@dataclass(frozen=True)
class Evaluation:
    """What a model gets right and wrong on a labelled set."""

    loss: float  # mean sparse categorical cross-entropy
    accuracy: float
    per_class_accuracy: np.ndarray  # (10,) float
    confusion: np.ndarray  # (10, 10) int, rows = true digit, columns = predicted
    predictions: np.ndarray  # (N,) int
    confidence: np.ndarray  # (N,) float, probability of the predicted digit
    misclassified: np.ndarray  # indices into the evaluated set

    def mistakes(self, true_digit: int | None = None, predicted_digit: int | None = None,
                 labels: np.ndarray | None = None) -> np.ndarray:
        """Indices of misclassified examples, optionally filtered by true/predicted digit."""
        keep = self.misclassified
        if predicted_digit is not None:
            keep = keep[self.predictions[keep] == predicted_digit]
        if true_digit is not None:
            if labels is None:
                raise ConfigError("filtering by true digit needs the labels")
            keep = keep[np.asarray(labels)[keep] == true_digit]
        return keep


def score(logits: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Loss, accuracy, per-digit accuracy, confusion matrix and mistakes, from logits (N, 10)."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = softmax(logits)  # (N, 10)
    predictions = probabilities.argmax(axis=1)
    loss = float(cross_entropy(logits, labels).mean())
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    return Evaluation(
        loss=loss,
        accuracy=float((predictions == labels).mean()),
        per_class_accuracy=per_class,
        confusion=confusion,
        predictions=predictions,
        confidence=probabilities.max(axis=1),
        misclassified=np.flatnonzero(predictions != labels),
    )
