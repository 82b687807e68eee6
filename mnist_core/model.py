"""The quickstart network (and a small CNN for drawings), compiled as in the tutorial."""

from __future__ import annotations

import threading

from mnist_core.config import TrainConfig
from mnist_core.constants import IMAGE_SHAPE, NUM_CLASSES
from mnist_core.lesson import LayerRow
from mnist_core.tf_setup import keras

# Seeding is process-global in Keras: build one model at a time, so that two runs started
# together each get the initial weights their own seed gives.
_build_lock = threading.Lock()


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
    TrainConfig(dropout=dropout, hidden_units=hidden_units, arch=arch,
                learning_rate=learning_rate)  # raises ConfigError, naming what is wrong
    with _build_lock:
        if seed is not None:
            keras.utils.set_random_seed(seed)
        layers = (_mlp_layers if arch == "mlp" else _cnn_layers)(float(dropout),
                                                                 int(hidden_units))
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
