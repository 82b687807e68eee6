"""The quickstart network (and a small CNN for drawings), compiled as in the tutorial."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mnist_core.constants import ARCHITECTURES, IMAGE_SHAPE, NUM_CLASSES
from mnist_core.errors import ConfigError
from mnist_core.tf_setup import keras

LN_NUM_CLASSES = math.log(NUM_CLASSES)  # loss of a uniform guess: ln 10 ~ 2.30


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer summary, as the UI shows it."""

    name: str
    kind: str
    output_shape: str
    params: int


def check_model_params(
    dropout: float, hidden_units: int, arch: str = "mlp", learning_rate: float = 1e-3
) -> None:
    """Raise ConfigError unless the hyperparameters make a valid model."""
    if isinstance(dropout, bool) or not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    if isinstance(hidden_units, bool) or int(hidden_units) != hidden_units or hidden_units < 1:
        raise ConfigError(f"hidden_units must be a positive integer, got {hidden_units}")
    if arch not in ARCHITECTURES:
        raise ConfigError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
    if not 0.0 < float(learning_rate) <= 1.0:
        raise ConfigError(f"learning_rate must be in (0, 1], got {learning_rate}")


def _mlp_layers(dropout: float, hidden_units: int) -> list[keras.layers.Layer]:
    """The quickstart: Flatten, Dense(128, relu), Dropout(0.2), Dense(10) logits."""
    return [
        keras.layers.Flatten(name="flatten"),  # (N, 784)
        keras.layers.Dense(hidden_units, activation="relu", name="dense"),
        keras.layers.Dropout(dropout, name="dropout"),
        keras.layers.Dense(NUM_CLASSES, name="logits"),  # (N, 10)
    ]


def _cnn_layers(dropout: float, hidden_units: int) -> list[keras.layers.Layer]:
    """A small CNN for drawn digits: three conv + pool stages, ~100k weights, fast on CPU."""
    return [
        keras.layers.Reshape((*IMAGE_SHAPE, 1), name="add_channel"),  # (N, 28, 28, 1)
        keras.layers.Conv2D(16, 3, activation="relu", padding="same", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),  # (N, 14, 14, 16)
        keras.layers.Conv2D(32, 3, activation="relu", padding="same", name="conv2"),
        keras.layers.MaxPooling2D(name="pool2"),  # (N, 7, 7, 32)
        keras.layers.Conv2D(64, 3, activation="relu", padding="same", name="conv3"),
        keras.layers.MaxPooling2D(name="pool3"),  # (N, 3, 3, 64)
        keras.layers.Flatten(name="flatten"),  # (N, 576)
        keras.layers.Dropout(dropout, name="dropout_features"),
        keras.layers.Dense(hidden_units, activation="relu", name="dense"),
        keras.layers.Dropout(dropout, name="dropout"),
        keras.layers.Dense(NUM_CLASSES, name="logits"),  # (N, 10)
    ]


def compile_model(
    model: keras.Model, learning_rate: float = 1e-3, steps_per_execution: int = 1
) -> keras.Model:
    """Compile with Adam, sparse categorical cross-entropy on logits, and accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def build_model(
    dropout: float = 0.2,
    hidden_units: int = 128,
    arch: str = "mlp",
    learning_rate: float = 1e-3,
    seed: int | None = None,
    steps_per_execution: int = 1,
) -> keras.Model:
    """Build and compile the quickstart network (or the CNN) taking (N, 28, 28) float32."""
    check_model_params(dropout, hidden_units, arch, learning_rate)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    layers = (_mlp_layers if arch == "mlp" else _cnn_layers)(float(dropout), int(hidden_units))
    model = keras.Sequential(
        [keras.Input(shape=IMAGE_SHAPE, name="image"), *layers], name=f"mnist_{arch}"
    )
    return compile_model(model, learning_rate, steps_per_execution)


def layer_summary(model: keras.Model) -> list[LayerRow]:
    """The layer table (name, kind, output shape, parameter count) as data."""
    return [
        LayerRow(
            name=layer.name,
            kind=type(layer).__name__,
            output_shape=str(tuple(layer.output.shape)),
            params=int(layer.count_params()),
        )
        for layer in model.layers
    ]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Turn logits (..., 10) into probabilities that sum to 1 (numerically stable)."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
