"""Test-set figures and fast prediction for a trained model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_core.constants import IMAGE_SHAPE, NUM_CLASSES
from mnist_core.errors import ConfigError
from mnist_core.model import softmax
from mnist_core.tf_setup import keras

PREDICT_BATCH_SIZE = 2000


def _as_batch(images: np.ndarray) -> np.ndarray:
    """Check and convert images to a float32 batch (N, 28, 28)."""
    images = np.asarray(images, dtype=np.float32)
    if images.shape == IMAGE_SHAPE:
        images = images[None]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ConfigError(f"images must have shape (N, 28, 28), got {images.shape}")
    return images


def predict_logits(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Logits (N, 10) for float32 images (N, 28, 28) or one image (28, 28)."""
    images = _as_batch(images)
    if len(images) <= PREDICT_BATCH_SIZE:
        # One compiled call, without model.predict's per-call setup: about 3 ms for the
        # one image a drawing sends, against 15 ms for an eager model(x) and 66 ms for
        # model.predict (bench/drawn_accuracy.py).
        return np.asarray(model.predict_on_batch(images))
    return model.predict(images, batch_size=PREDICT_BATCH_SIZE, verbose=0)


def predict_proba(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N, 10) for images (N, 28, 28) or one image (28, 28)."""
    return softmax(predict_logits(model, images))


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


def evaluate(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Loss, accuracy, per-digit accuracy, confusion matrix and mistakes on a set."""
    labels = np.asarray(labels, dtype=np.int64)
    logits = predict_logits(model, images)  # (N, 10)
    probabilities = softmax(logits)
    predictions = probabilities.argmax(axis=1)
    # Cross-entropy from log-softmax, computed stably from the logits.
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(len(labels)), labels].mean())
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
