"""Test-set figures and fast prediction for a trained model."""

from __future__ import annotations

import numpy as np

from mnist_core.constants import IMAGE_SHAPE
from mnist_core.errors import ConfigError
from mnist_core.numerics import softmax
from mnist_core.scores import Evaluation, score
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


def evaluate(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Loss, accuracy, per-digit accuracy, confusion matrix and mistakes on a set."""
    return score(predict_logits(model, images), labels)
