"""Inside the network for one drawing: hidden units, their weights, and why it chose a digit.

All NumPy on the model's weights. For the quickstart the decomposition is exact:
logit_c = sum_j h_j * W2[j, c] + b2[c], with h_j = relu(sum_i x_i * W1[i, j] + b1[j]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mnist_core.constants import IMAGE_SHAPE, NUM_CLASSES, NUM_PIXELS
from mnist_core.errors import ConfigError
from mnist_core.numerics import softmax


@dataclass(frozen=True)
class DenseWeights:
    """The quickstart's two Dense layers: 784 -> hidden (ReLU) -> 10 logits."""

    w1: np.ndarray  # (784, H) float32
    b1: np.ndarray  # (H,)
    w2: np.ndarray  # (H, 10)
    b2: np.ndarray  # (10,)
    dropout: float  # the rate the model was trained with

    @property
    def hidden_units(self) -> int:
        """How many hidden units (128 in the tutorial)."""
        return len(self.b1)

    def unit_picture(self, unit: int) -> np.ndarray:
        """What a hidden unit looks for: its 784 incoming weights as (28, 28)."""
        return self.w1[:, unit].reshape(IMAGE_SHAPE)


@dataclass(frozen=True)
class Inside:
    """One drawing through the quickstart, with every intermediate number."""

    image: np.ndarray  # (28, 28) float32 in [0, 1]
    hidden: np.ndarray  # (H,) ReLU activations
    logits: np.ndarray  # (10,)
    probabilities: np.ndarray  # (10,)
    unit_push: np.ndarray  # (H, 10): h_j * W2[j, c], what each unit adds to each logit
    pixel_maps: np.ndarray  # (10, 28, 28): each pixel's share of each logit
    bias_share: np.ndarray  # (10,): the part of each logit no pixel accounts for

    @property
    def winner(self) -> int:
        """The digit the network says."""
        return int(np.argmax(self.logits))

    @property
    def runner_up(self) -> int:
        """The digit it hesitated towards most."""
        return int(np.argsort(self.logits)[-2])

    def units_for(self, digit: int) -> np.ndarray:
        """Hidden units ordered by how much they pushed `digit`'s logit up, most first."""
        return np.argsort(-self.unit_push[:, digit], kind="stable")

    def why_not(self, digit: int, other: int) -> np.ndarray:
        """(28, 28): where the drawing favours `digit` over `other` (positive) or not."""
        return self.pixel_maps[digit] - self.pixel_maps[other]


def dense_weights(model: Any) -> DenseWeights:
    """The quickstart's weights from a Keras model (ConfigError if it is another network)."""
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    convolutional = any(type(layer).__name__ == "Conv2D" for layer in model.layers)
    if len(dense) != 2 or convolutional:
        raise ConfigError("the hidden-unit view needs the quickstart network "
                          "(Flatten, Dense, Dropout, Dense)")
    (w1, b1), (w2, b2) = (layer.get_weights() for layer in dense)
    if w1.shape[0] != NUM_PIXELS or w2.shape[1] != NUM_CLASSES:
        raise ConfigError(f"unexpected weight shapes {w1.shape} and {w2.shape}")
    rates = [float(layer.rate) for layer in model.layers if type(layer).__name__ == "Dropout"]
    return DenseWeights(w1.astype(np.float32), b1.astype(np.float32), w2.astype(np.float32),
                        b2.astype(np.float32), rates[0] if rates else 0.0)


def look_inside(weights: DenseWeights, image: np.ndarray) -> Inside:
    """Every number between one (28, 28) image and its ten logits (inference mode)."""
    image = np.asarray(image, dtype=np.float32)
    if image.shape != IMAGE_SHAPE:
        raise ConfigError(f"image must have shape (28, 28), got {image.shape}")
    x = image.reshape(NUM_PIXELS).astype(np.float64)  # float64: the parts sum exactly
    w1, b1 = weights.w1.astype(np.float64), weights.b1.astype(np.float64)
    w2, b2 = weights.w2.astype(np.float64), weights.b2.astype(np.float64)
    hidden = np.maximum(x @ w1 + b1, 0.0)  # (H,)
    active = hidden > 0
    logits = hidden @ w2 + b2  # (10,)
    # A pixel's share of logit c: x_i * sum over active units of W1[i, j] * W2[j, c].
    paths = w1[:, active] @ w2[active]  # (784, 10)
    pixel_maps = (x[:, None] * paths).T.reshape(NUM_CLASSES, *IMAGE_SHAPE)
    bias_share = b1[active] @ w2[active] + b2
    return Inside(image, hidden.astype(np.float32), logits, softmax(logits),
                  hidden[:, None] * w2, pixel_maps, bias_share)


def dropout_samples(weights: DenseWeights, image: np.ndarray, rate: float | None = None,
                    samples: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Training mode: `samples` random masks each switching off `rate` of the hidden units
    (the rest scaled by 1/(1-rate), as Keras does); returns masks (S, H) and the
    probabilities (S, 10) each mask gives."""
    rate = weights.dropout if rate is None else float(rate)
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"rate must be in [0, 1), got {rate}")
    inside = look_inside(weights, image)
    rng = np.random.default_rng(seed)
    keep = rng.random((samples, weights.hidden_units)) >= rate  # (S, H)
    dropped = inside.hidden[None] * keep / (1.0 - rate)
    return keep, softmax(dropped @ weights.w2 + weights.b2)


@dataclass(frozen=True)
class ConvView:
    """The convolutional network's first layer for one drawing."""

    filters: np.ndarray  # (F, 3, 3) kernels
    feature_maps: np.ndarray  # (F, 28, 28) ReLU outputs


def first_convolution(model: Any, image: np.ndarray) -> ConvView:
    """The first Conv2D layer's kernels and their 'same'-padded ReLU maps of the image."""
    conv = next((layer for layer in model.layers if type(layer).__name__ == "Conv2D"), None)
    if conv is None:
        raise ConfigError("this network has no convolution")
    kernel, bias = conv.get_weights()  # (k, k, 1, F), (F,)
    size = kernel.shape[0]
    pad = size // 2
    x = np.pad(np.asarray(image, dtype=np.float32).reshape(IMAGE_SHAPE), pad)
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size))  # (28, 28, k, k)
    maps = np.einsum("hwij,ijf->fhw", windows, kernel[:, :, 0, :]) + bias[:, None, None]
    return ConvView(np.moveaxis(kernel[:, :, 0, :], -1, 0), np.maximum(maps, 0.0))
