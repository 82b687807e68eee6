"""Softmax and cross-entropy in NumPy, numerically stable: no TensorFlow needed."""

from __future__ import annotations

import math

import numpy as np

from mnist_core.constants import NUM_CLASSES

LN_NUM_CLASSES = math.log(NUM_CLASSES)  # loss of a uniform guess: ln 10 ~ 2.30


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """ln(softmax(logits)) over the last axis, without overflow for large logits."""
    logits = np.asarray(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Turn logits (..., 10) into probabilities that sum to 1 (numerically stable)."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-ln p(true label) per row of logits (N, 10) and labels (N,)."""
    labels = np.asarray(labels, dtype=np.int64)
    return -log_softmax(logits)[np.arange(len(labels)), labels]
