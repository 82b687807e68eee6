"""Accuracy and per-stroke latency of saved models on held-out drawn digits."""

# .venv/bin/python -m bench.drawn_accuracy models/drawing.keras [more.keras ...]
# Accuracy with the canvas plainly resized and with canvas_to_mnist, by digit, style and
# confusion, on bench/heldout_drawn.py's digits (a generator the drawing model never trains
# on); one stroke's server time through four ways of calling the model. TensorFlow threads
# follow MNIST_TF_THREADS.

from __future__ import annotations

import argparse
import base64
import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from bench.heldout_drawn import DEFAULT_N, DEFAULT_SEED, heldout_digit_paths, render, style_names
from bench.heldout_drawn import report as heldout_report
from mnist_core.constants import IMAGE_SHAPE
from mnist_core.preprocess import canvas_to_mnist

TIMED_STROKES = 200


def to_data_url(rgba: np.ndarray) -> str:
    """Encode (280, 280, 4) uint8 as the PNG data URL the canvas component sends."""
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def decode(url: str) -> np.ndarray:
    """Decode a PNG data URL exactly as streamlit-drawable-canvas does: (H, W, 4) uint8."""
    _, encoded = url.split(";base64,", 1)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))


def plain_resize(rgba: np.ndarray) -> np.ndarray:
    """The naive way: the whole canvas shrunk to 28x28, (28, 28) float32 in [0, 1]."""
    gray = Image.fromarray(rgba, "RGBA").convert("L")
    return np.asarray(gray.resize(IMAGE_SHAPE, Image.Resampling.BILINEAR), np.float32) / 255


def prepare(canvases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """canvas_to_mnist of each canvas: ((N, 28, 28) float32, (N,) bool "got a digit")."""
    out = np.zeros((len(canvases), *IMAGE_SHAPE), np.float32)
    found = np.zeros(len(canvases), bool)
    for i, rgba in enumerate(canvases):
        digit = canvas_to_mnist(rgba)
        if digit is not None:
            out[i], found[i] = digit, True
    return out, found


def predictors(model, tf) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Ways the app could call the model on one (1, 28, 28) digit, by name."""

    @tf.function(input_signature=[tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32)])
    def compiled(x):
        return model(x, training=False)

    return {
        "model(x)": lambda x: np.asarray(model(x, training=False)),
        "model.predict": lambda x: model.predict(x, verbose=0),
        "predict_on_batch": model.predict_on_batch,
        "tf.function": lambda x: compiled(x).numpy(),
    }


def stroke_times(predict: Callable[[np.ndarray], np.ndarray], urls: list[str]) -> np.ndarray:
    """Seconds per stroke for decode + canvas_to_mnist + one prediction."""
    times = []
    for url in urls:
        start = time.perf_counter()
        digit = canvas_to_mnist(decode(url))
        if digit is not None:
            predict(digit[None])  # (1, 28, 28) -> (1, 10)
        times.append(time.perf_counter() - start)
    return np.array(times)


def main(argv: list[str] | None = None) -> None:
    """Measure every model given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+", type=Path, help=".keras files")
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="drawn digits (default 3000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--timed", type=int, default=TIMED_STROKES, help="strokes to time")
    args = parser.parse_args(argv)

    from mnist_core.tf_setup import keras, tf  # the app's TensorFlow thread settings

    start = time.perf_counter()
    digits = heldout_digit_paths(args.n, args.seed)
    canvases = np.stack([render(paths) for _, paths in digits])  # (n, 280, 280, 4) uint8
    labels = np.array([digit for digit, _ in digits])
    styles = style_names(labels)
    seconds = time.perf_counter() - start
    print(f"rendered {args.n} drawn digits (seed {args.seed}) in {seconds:.1f} s")
    resized = np.stack([plain_resize(c) for c in canvases])
    start = time.perf_counter()
    prepared, found = prepare(canvases)
    prep_ms = (time.perf_counter() - start) / max(1, args.n) * 1000
    print(f"canvas_to_mnist: {prep_ms:.2f} ms per canvas, no digit found for {(~found).sum()}")
    urls = [to_data_url(c) for c in canvases[: args.timed]]
    threads = os.environ.get("MNIST_TF_THREADS", "default of mnist_core.tf_setup")
    print(f"TensorFlow threads: {threads}\n")

    for path in args.models:
        model = keras.models.load_model(path, compile=False)
        pred_resize = model.predict(resized, batch_size=500, verbose=0).argmax(axis=1)
        pred_prep = model.predict(prepared, batch_size=500, verbose=0).argmax(axis=1)
        pred_prep[~found] = -1  # no digit: counted wrong
        print(f"== {path}  ({model.count_params():,} parameters)")
        print(f"  plain resize     : {(pred_resize == labels).mean():.4f}")
        print(f"  canvas_to_mnist  : {(pred_prep == labels).mean():.4f}")
        print(heldout_report(pred_prep, labels, styles).split("\n", 1)[1])
        for name, predict in predictors(model, tf).items():
            stroke_times(predict, urls[:5])  # warm-up: tracing, first allocations
            ms = stroke_times(predict, urls) * 1000
            print(
                f"  per stroke, {name:<16}: median {np.median(ms):6.1f} ms, "
                f"p95 {np.percentile(ms, 95):6.1f} ms  (decode + canvas_to_mnist + predict)"
            )
        print()


if __name__ == "__main__":
    main()
