"""run.py's baseline: TensorFlow's "Quickstart for beginners", verbatim but for the data source."""

# The tutorial's mnist.load_data() downloads; the bundled data/mnist.npz holds the same arrays.

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

with np.load(Path(__file__).resolve().parent.parent / "data" / "mnist.npz") as f:
    x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
x_train, x_test = x_train / 255.0, x_test / 255.0

model = tf.keras.models.Sequential([
    tf.keras.layers.Flatten(input_shape=(28, 28)),
    tf.keras.layers.Dense(128, activation="relu"),
    tf.keras.layers.Dropout(0.2),
    tf.keras.layers.Dense(10),
])
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
model.fit(x_train, y_train, epochs=5, verbose=0)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"Test loss {loss:.4f}  test accuracy {accuracy:.2%}")
sys.exit(0)
