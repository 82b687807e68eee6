"""Train the quickstart with progress reports and a stop request; no UI code here."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mnist_core.config import TrainConfig
from mnist_core.data import MnistData, load_mnist
from mnist_core.model import build_model
from mnist_core.tf_setup import keras

# Run this many optimizer steps per call into the TF graph: the same steps and the
# same learning, several times less Python overhead. Progress is reported between
# calls, so a stop request is seen within 128 steps (a fraction of a second).
STEPS_PER_EXECUTION = 128
EVAL_BATCH_SIZE = 1000


@dataclass(frozen=True)
class ProgressEvent:
    """A progress report: after some batches ("batch") or after an epoch ("epoch")."""

    kind: Literal["batch", "epoch"]
    epoch: int  # 1-based
    epochs: int
    step: int  # optimizer steps done in this epoch
    steps_per_epoch: int
    loss: float
    accuracy: float
    elapsed: float  # seconds since training started
    val_loss: float | None = None
    val_accuracy: float | None = None

    @property
    def fraction_done(self) -> float:
        """Share of all steps done, in [0, 1]."""
        done = (self.epoch - 1) * self.steps_per_epoch + self.step
        return min(1.0, done / (self.epochs * self.steps_per_epoch))

    @property
    def seconds_left(self) -> float | None:
        """Estimated seconds remaining, or None before there is anything to go on."""
        fraction = self.fraction_done
        if fraction <= 0 or self.elapsed <= 0:
            return None
        return self.elapsed * (1 - fraction) / fraction


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class TrainResult:
    """A trained model with its per-epoch history and final test figures."""

    model: keras.Model
    config: TrainConfig
    history: dict[str, list[float]]  # loss, accuracy, val_loss, val_accuracy per epoch
    test_loss: float
    test_accuracy: float
    epochs_completed: int  # whole epochs; a stopped run may have one partial epoch more
    stopped: bool
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


class _Reporter(keras.callbacks.Callback):
    """Forwards Keras progress to a plain callable and turns a stop request into a stop."""

    def __init__(
        self,
        config: TrainConfig,
        steps_per_epoch: int,
        progress: ProgressCallback | None,
        stop: threading.Event | None,
        min_interval: float,
    ) -> None:
        super().__init__()
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.progress = progress
        self.stop = stop
        self.min_interval = min_interval
        self.start = time.perf_counter()
        self.epoch = 0
        self.last_report = 0.0
        self.stopped_at_step: int | None = None  # step of the epoch where a stop was seen

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        if self.progress is not None and logs and now - self.last_report >= self.min_interval:
            self.last_report = now
            self.progress(self._event("batch", batch + 1, logs))
        if self.stop is not None and self.stop.is_set():
            self.stopped_at_step = batch + 1
            self.model.stop_training = True  # Keras 3 ends the epoch after this batch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.progress is not None and logs:
            self.progress(self._event("epoch", self.steps_per_epoch, logs))

    def _event(self, kind: Literal["batch", "epoch"], step: int, logs: dict) -> ProgressEvent:
        val_loss, val_accuracy = logs.get("val_loss"), logs.get("val_accuracy")
        return ProgressEvent(
            kind=kind,
            epoch=self.epoch,
            epochs=self.config.epochs,
            step=min(step, self.steps_per_epoch),
            steps_per_epoch=self.steps_per_epoch,
            loss=float(logs["loss"]),
            accuracy=float(logs["accuracy"]),
            elapsed=time.perf_counter() - self.start,
            val_loss=None if val_loss is None else float(val_loss),
            val_accuracy=None if val_accuracy is None else float(val_accuracy),
        )


# fit() turns NumPy inputs into tensors in one call that holds the GIL: for MNIST's
# 188 MB of training images ~0.15 s on a quiet machine and 3-5 s on a loaded one, during
# which the server answered no page at all (bench/load.py; the stalls were found with
# bench/traced_streamlit.py). Converted slice by slice and joined by a TensorFlow op, which
# runs without the GIL, no other thread waits more than a few ms (bench/convert_stall.py).
CONVERT_CHUNK = 2000  # images per slice: ~6 MB


def as_tensor(array: np.ndarray) -> Any:
    """`array` as a tensor, converted a slice at a time so other threads keep running."""
    if len(array) <= CONVERT_CHUNK:
        return keras.ops.convert_to_tensor(array)
    return keras.ops.concatenate([keras.ops.convert_to_tensor(array[start:start + CONVERT_CHUNK])
                                  for start in range(0, len(array), CONVERT_CHUNK)], axis=0)


def train(
    config: TrainConfig,
    data: MnistData | None = None,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    progress_interval: float = 0.25,
) -> TrainResult:
    """Train as configured, validating on the test set after every epoch."""
    data = (data or load_mnist()).limit(config.train_limit, config.test_limit)
    x_train, y_train = data.x_train, data.y_train  # (N, 28, 28) float32, (N,) uint8
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)
    model = build_model(
        dropout=config.dropout,
        hidden_units=config.hidden_units,
        arch=config.arch,
        learning_rate=config.learning_rate,
        seed=config.seed,
        steps_per_execution=min(STEPS_PER_EXECUTION, steps_per_epoch),
    )
    reporter = _Reporter(config, steps_per_epoch, progress, stop, progress_interval)
    fit_args: dict[str, Any] = {
        "epochs": config.epochs,
        "validation_data": (as_tensor(data.x_test), as_tensor(data.y_test)),
        "validation_batch_size": EVAL_BATCH_SIZE,
        "callbacks": [reporter],
        "verbose": 0,
    }
    if config.augment:
        from mnist_core.augment import augmented_dataset  # deferred: only the CNN recipe uses it

        dataset = augmented_dataset(
            x_train, y_train, batch_size=config.batch_size, seed=config.seed
        )
        history = model.fit(dataset, steps_per_epoch=steps_per_epoch, **fit_args)
    else:
        history = model.fit(
            as_tensor(x_train), as_tensor(y_train), batch_size=config.batch_size,
            shuffle=True, **fit_args
        )
    per_epoch = {key: [float(v) for v in values] for key, values in history.history.items()}
    epochs_run = len(per_epoch.get("loss", []))
    stopped_mid_epoch = (
        reporter.stopped_at_step is not None and reporter.stopped_at_step < steps_per_epoch
    )
    return TrainResult(
        model=model,
        config=config,
        history=per_epoch,
        test_loss=per_epoch["val_loss"][-1],
        test_accuracy=per_epoch["val_accuracy"][-1],
        epochs_completed=epochs_run - 1 if stopped_mid_epoch else epochs_run,
        stopped=reporter.stopped_at_step is not None,
        seconds=time.perf_counter() - reporter.start,
    )
