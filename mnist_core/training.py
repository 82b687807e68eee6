"""Train the quickstart with progress reports and a stop request; no UI code here."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mnist_core.config import TrainConfig
from mnist_core.data import MnistData, load_mnist
from mnist_core.errors import MnistStudioError
from mnist_core.model import build_model
from mnist_core.numerics import softmax
from mnist_core.tf_setup import keras

# Run this many optimizer steps per call into the TF graph: the same steps and the
# same learning, several times less Python overhead. Progress is reported between
# calls, so a stop request is seen within 128 steps (a fraction of a second).
STEPS_PER_EXECUTION = 128
EVAL_BATCH_SIZE = 1000


class PauseGate:
    """Pause, resume, or step a run a report at a time (each ~128 batches), or slow it."""

    POLL = 0.1  # s: how often a paused run looks for a stop (it uses no CPU meanwhile)

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._paused = False
        self._held = False  # sitting in wait() right now
        self._steps = 0  # reports to run before pausing again
        self.slow_motion = 0.0  # s to wait after each report, for a room to follow

    @property
    def paused(self) -> bool:
        """Whether the run is held right now (not merely asked to pause)."""
        with self._changed:
            return self._held

    def pause(self) -> None:
        """Hold the run at its next report."""
        with self._changed:
            self._paused, self._steps = True, 0

    def resume(self) -> None:
        """Let the run go on."""
        with self._changed:
            self._paused, self._steps = False, 0
            self._changed.notify_all()

    def step(self, reports: int = 1) -> None:
        """Let a paused run go on for `reports` more reports, then hold it again."""
        with self._changed:
            self._paused = True
            self._steps += reports
            self._changed.notify_all()

    def report(self) -> bool:
        """At a report, without blocking: whether the run should hold now (counts steps)."""
        with self._changed:
            if not self._paused:
                return False
            if self._steps:  # stepping: go on until the last step is used up
                self._steps -= 1
                if self._steps:
                    return False
            return True

    def holding(self, stop: threading.Event | None) -> bool:
        """Whether a held run should stay held (paused, no steps to take, not stopped)."""
        with self._changed:
            return self._paused and self._steps == 0 and not (stop and stop.is_set())

    def set_held(self, held: bool) -> None:
        """Record that the run sits held (or goes on): what `paused` reports."""
        with self._changed:
            self._held = held

    def wait(self, stop: threading.Event | None, on_hold: Callable[[], None]) -> None:
        """Called at each report: hold here while paused (calling `on_hold` once as a hold
        begins) until resumed, stepped or stopped."""
        if self.slow_motion:
            time.sleep(self.slow_motion)
        if not self.report():
            return
        on_hold()
        with self._changed:
            self._held = True
            while self._paused and self._steps == 0 and not (stop and stop.is_set()):
                self._changed.wait(self.POLL)
            self._held = False


@dataclass(frozen=True)
class Peek:
    """A look at a run as it learns: a few hidden units' weights, one test digit's answer."""

    units: np.ndarray  # (U, 28, 28): the first Dense layer's weights of a few units
    probabilities: np.ndarray  # (10,): what the model says of `digit_index`'s test image
    digit_index: int
    label: int  # what that test image really is


PEEK_UNITS = (0, 1, 2, 3, 4, 5)  # the same units every time, so the room sees them form
PEEK_DIGIT = 0  # x_test[0], a 7: the digit whose answer firms up epoch by epoch


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
    peek: Peek | None = None  # at each epoch's end and when a pause begins
    paused: bool = False  # sent when the run is held

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
        gate: PauseGate | None = None,
        peek_image: np.ndarray | None = None,
        peek_label: int = 0,
    ) -> None:
        super().__init__()
        self.gate = gate
        self.peek_image = peek_image  # (28, 28): the fixed test digit the room watches
        self.peek_label = peek_label
        self.last_logs: dict = {}
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
        if self.gate is not None and logs:
            self.gate.wait(self.stop, lambda: self._held(batch + 1, logs))
        if self.stop is not None and self.stop.is_set():
            self.stopped_at_step = batch + 1
            self.model.stop_training = True  # Keras 3 ends the epoch after this batch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.progress is not None and logs:
            self.progress(self._event("epoch", self.steps_per_epoch, logs, self._peek()))

    def _held(self, step: int, logs: dict) -> None:
        """A pause begins: report it, with a fresh look at the model."""
        if self.progress is not None:
            self.progress(self._event("batch", step, logs, self._peek(), paused=True))

    def _peek(self) -> Peek | None:
        """The watched units' weights and the watched digit's answer, now."""
        if self.peek_image is None or self.config.arch != "mlp":
            return None
        kernel = np.asarray(self.model.get_layer("dense").kernel)  # (784, H)
        units = kernel[:, list(PEEK_UNITS)].T.reshape(len(PEEK_UNITS), *self.peek_image.shape)
        logits = np.asarray(self.model(self.peek_image[None], training=False))[0]
        return Peek(units, softmax(logits), PEEK_DIGIT, self.peek_label)

    def _event(self, kind: Literal["batch", "epoch"], step: int, logs: dict,
               peek: Peek | None = None, paused: bool = False) -> ProgressEvent:
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
            peek=peek,
            paused=paused,
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
    gate: PauseGate | None = None,
) -> TrainResult:
    """Train as configured, validating on the test set after every epoch; `gate` pauses,
    resumes or steps it. The quickstart MLP trains in the compiled loop of
    mnist_core.stacked (~5x faster than Keras' fit); the CNN and augmented runs in fit."""
    # deferred: mnist_core.room_trainer imports this module
    from mnist_core.room_trainer import stackable

    if stackable(config):
        return train_compiled(config, data, progress, stop, progress_interval, gate)
    return train_fit(config, data, progress, stop, progress_interval, gate)


def train_compiled(
    config: TrainConfig,
    data: MnistData | None = None,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    progress_interval: float = 0.25,
    gate: PauseGate | None = None,
) -> TrainResult:
    """The quickstart MLP as a one-run group of the room's compiled loop, in this thread."""
    from mnist_core.room_trainer import RoomWorker

    data = data or load_mnist()
    run = OneRun(progress)
    worker = RoomWorker(run, lambda: data, progress_interval)
    worker.add("run", config, gate=gate, stop=stop)
    worker.run_alone()
    return run.result(run.ended())


class OneRun:
    """A room worker's events for one run (on any thread): its progress passed on, its
    end kept for `ended`; `result` makes it a TrainResult (the single-run paths)."""

    def __init__(self, progress: ProgressCallback | None = None) -> None:
        self.progress = progress
        self._ended: queue.Queue = queue.Queue()

    def __call__(self, event: Any) -> None:
        from mnist_core.room_trainer import Failed, Finished, Progress

        if isinstance(event, Progress) and self.progress is not None:
            self.progress(event.event)
        elif isinstance(event, Finished | Failed):
            self._ended.put(event)

    def ended(self) -> Any:
        """The run's Finished or Failed event (waits for it)."""
        return self._ended.get()

    @staticmethod
    def result(event: Any, error: type[MnistStudioError] = MnistStudioError) -> TrainResult:
        """The finished run as a TrainResult; `error` with the message of a failed one."""
        from mnist_core.room_trainer import Failed

        if isinstance(event, Failed):
            raise error(event.message)
        return result_from(event.outcome)


def result_from(outcome: Any, model: keras.Model | None = None) -> TrainResult:
    """A TrainResult holding `outcome`'s weights in a quickstart model (`model` reused when
    given: one Keras model can convert many runs, one at a time)."""
    config = outcome.config
    if model is None:
        model = build_model(dropout=config.dropout, hidden_units=config.hidden_units,
                            learning_rate=config.learning_rate)
    model.set_weights(outcome.weights)
    return TrainResult(
        model=model,
        config=config,
        history=outcome.history,
        test_loss=outcome.test_loss,
        test_accuracy=outcome.test_accuracy,
        epochs_completed=outcome.epochs_completed,
        stopped=outcome.stopped,
        seconds=outcome.seconds,
    )


def train_fit(
    config: TrainConfig,
    data: MnistData | None = None,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    progress_interval: float = 0.25,
    gate: PauseGate | None = None,
) -> TrainResult:
    """Train with Keras' fit (any architecture, augmentation): the general path."""
    data = (data or load_mnist()).limit(config.train_limit, config.test_limit)
    if config.room_drawings:  # MNIST + the room's labelled drawings, each seen a few times
        from mnist_core.drawings import with_room_drawings
        data = with_room_drawings(data)
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
    peek_image = data.x_test[PEEK_DIGIT] if len(data.x_test) > PEEK_DIGIT else None
    reporter = _Reporter(config, steps_per_epoch, progress, stop, progress_interval, gate,
                         peek_image, int(data.y_test[PEEK_DIGIT]) if peek_image is not None
                         else 0)
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
