"""The room's trainer: every waiting quickstart run trains in a stacked group, each its own.

A RoomWorker holds runs and trains them a chunk (<= 128 steps) at a time: runs with the same
batch size and hidden width share one compiled computation (mnist_core.stacked), up to 8 to a
group. A run that arrives joins at the next chunk; a paused, slowed or stopped run leaves
its group there, the others go on. It talks only through `add`, `command` and the events
it emits, so the same worker serves a thread, a worker process or a Ray actor
(mnist_core.executors).
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mnist_core.config import DEFAULTS, TrainConfig
from mnist_core.data import MnistData
from mnist_core.errors import MnistStudioError
from mnist_core.numerics import softmax
from mnist_core.stacked import (
    BUCKETS,
    CHUNK_STEPS,
    MAX_GROUP,
    PIXELS,
    Member,
    ModelState,
    Stack,
    epoch_order,
    evaluate,
    init_weights,
)
from mnist_core.training import (
    PEEK_DIGIT,
    PEEK_UNITS,
    PauseGate,
    Peek,
    ProgressEvent,
    as_tensor,
)

IDLE_POLL = 0.05  # s: how often a worker with only held runs looks at them again
_SAVER = "saver"  # the last warm-up step: a first save


def stackable(config: TrainConfig) -> bool:
    """Whether a run can train stacked: the quickstart MLP on plain MNIST images."""
    return (config.arch == "mlp" and not config.augment
            and not config.room_drawings)


# The last data converted to tensors in this process: once per worker (and per data
# source), not once per run; one-run workers (train() of a CLI or server thread) share it.
_converted: tuple[MnistData, dict[str, Any]] | None = None
_converting = threading.Lock()


def _as_bytes(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) float32 in [0, 1] -> (N, 784) uint8 when each value is a byte / 255, as
    load_mnist's are (the training loop gathers a quarter of the bytes); else float32."""
    flat = images.reshape(len(images), PIXELS)
    as_bytes = np.rint(flat * np.float32(255)).clip(0, 255).astype(np.uint8)
    back = as_bytes.astype(np.float32)
    back *= np.float32(1 / 255)  # exactly how data.py scales, and the loop does
    return as_bytes if np.array_equal(back, flat) else flat


def _tensors_of(data: MnistData) -> dict[str, Any]:
    """x (N, 784) uint8 (value / 255) or float32, y (N,) int32, and the test set's (float32)
    as tensors."""
    global _converted
    with _converting:
        if _converted is None or _converted[0].x_train is not data.x_train \
                or _converted[0].x_test is not data.x_test:
            _converted = (data, {
                "x": as_tensor(_as_bytes(data.x_train)),
                "y": as_tensor(data.y_train.astype(np.int32)),
                "x_test": as_tensor(data.x_test.reshape(len(data.x_test), PIXELS)),
                "y_test": as_tensor(data.y_test.astype(np.int32)),
            })
        return _converted[1]


@dataclass(frozen=True)
class RunOutcome:
    """A finished (or stopped) run: its weights in Keras' order and its figures."""

    config: TrainConfig
    weights: list[np.ndarray]  # dense kernel (784, H), bias (H,), logits kernel (H, 10), bias
    history: dict[str, list[float]]
    test_loss: float
    test_accuracy: float
    epochs_completed: int
    stopped: bool
    seconds: float


@dataclass(frozen=True)
class Progress:
    """A run's batch or epoch report."""

    job_id: str
    event: ProgressEvent


@dataclass(frozen=True)
class Held:
    """A run was held (paused) or goes on again."""

    job_id: str
    held: bool


@dataclass(frozen=True)
class Finished:
    """A run ended (finished or stopped) with its weights; `ref` when its worker saved it."""

    job_id: str
    outcome: RunOutcome
    ref: str | None = None
    save_error: str | None = None  # why its worker could not save it (the server tries)


@dataclass(frozen=True)
class SaveTo:
    """A models folder on this worker's disk, and the owner, to save a finished run with."""

    root: str
    owner: str


@dataclass(frozen=True)
class Failed:
    """A run could not train; the message says why."""

    job_id: str
    message: str


Event = Progress | Held | Finished | Failed


@dataclass(eq=False)  # a run is itself: compared by identity
class _Run:
    job_id: str
    config: TrainConfig
    gate: PauseGate
    stop: threading.Event
    state: ModelState
    count: int  # training images
    x_test: Any  # (M, 784) float32 tensor
    y_test: Any  # (M,) int32 tensor
    peek: tuple[np.ndarray, int] | None  # the watched test digit (784,) and its label
    started: float = field(default_factory=time.perf_counter)
    epoch: int = 1
    position: int = 0  # steps done in this epoch
    order: tuple[np.ndarray, np.ndarray] | None = None  # this epoch's (steps, B) indices
    loss_sum: float = 0.0
    right_sum: float = 0.0
    seen: float = 0.0
    history: dict[str, list[float]] = field(default_factory=lambda: {
        "loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []})
    last_report: float = 0.0
    trained: bool = False  # at least one chunk: a stop is honoured from then on
    held: bool = False
    parked_until: float = 0.0  # slow motion: out of its group until then
    save_to: SaveTo | None = None

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.count / self.config.batch_size)

    @property
    def active(self) -> bool:
        return not self.held and self.parked_until <= time.perf_counter()


@dataclass(eq=False)
class _Group:
    key: tuple[int, int]  # (batch size, hidden units)
    runs: list[_Run] = field(default_factory=list)
    stack: Stack | None = None
    stacked: list[_Run] = field(default_factory=list)  # the runs in `stack`, in order


class RoomWorker:
    """Trains any number of quickstart runs, stacked by batch size; emits Events."""

    def __init__(self, emit: Callable[[Event], None],
                 data_loader: Callable[[], MnistData], progress_interval: float = 0.25) -> None:
        self.emit = emit
        self.data_loader = data_loader
        self.progress_interval = progress_interval
        self.runs: dict[str, _Run] = {}
        self.groups: list[_Group] = []
        self._data: MnistData | None = None
        self._tensors: dict[str, Any] = {}
        self._warm: list[Any] = [*BUCKETS, _SAVER]  # to compile (and save) when idle
        self._saving = _Saving(emit)

    @property
    def busy(self) -> bool:
        """Whether any run is still to finish (or to be saved)."""
        return bool(self.runs) or self._saving.pending

    def close(self) -> None:
        """Wait for the finished runs still being saved (their Finished events)."""
        self._saving.close()

    def add(self, job_id: str, config: TrainConfig, gate: PauseGate | None = None,
            stop: threading.Event | None = None, save_to: SaveTo | None = None) -> None:
        """Take a run; it joins a group at the next chunk (a Failed event if it cannot).
        With `save_to` this worker saves it when it ends, in a thread of its own."""
        try:
            if not stackable(config):
                raise MnistStudioError(f"the room trains only the quickstart MLP, not {config}")
            data = self._load()
            count = min(config.train_limit or len(data.x_train), len(data.x_train))
            tests = min(config.test_limit or len(data.x_test), len(data.x_test))
            x_test, y_test = self._test_slice(tests)
            peek = None
            if tests > PEEK_DIGIT:
                peek = (data.x_test[PEEK_DIGIT].reshape(PIXELS), int(data.y_test[PEEK_DIGIT]))
            run = _Run(job_id, config, gate or PauseGate(), stop or threading.Event(),
                       ModelState(init_weights(config.seed, config.hidden_units)), count,
                       x_test, y_test, peek, save_to=save_to)
        except (MnistStudioError, ValueError) as e:
            self.emit(Failed(job_id, str(e)))
            return
        except Exception as e:  # whatever it is, it fails this run only
            self.emit(Failed(job_id, f"{type(e).__name__}: {e}"))
            return
        self.runs[job_id] = run
        key = (config.batch_size, config.hidden_units)
        group = next((g for g in self.groups if g.key == key and len(g.runs) < MAX_GROUP), None)
        if group is None:
            group = _Group(key)
            self.groups.append(group)
        group.runs.append(run)

    def command(self, job_id: str, name: str, *args: Any) -> None:
        """stop / pause / resume / step(reports) / slow_motion(seconds) of one run."""
        run = self.runs.get(job_id)
        if run is None:
            return  # ended meanwhile
        if name == "stop":
            run.stop.set()
        elif name == "slow_motion":
            run.gate.slow_motion = max(0.0, min(float(args[0]), 5.0))
        else:
            getattr(run.gate, name)(*args)

    def work(self) -> bool:
        """One round: look at held runs, then one chunk of every group; False if idle."""
        for run in list(self.runs.values()):
            if run.held and not run.gate.holding(run.stop):
                run.held = False
                run.gate.set_held(False)
                self.emit(Held(run.job_id, False))
            if run.stop.is_set() and (run.trained or run.held):
                self._finish(run, stopped=True)
        worked = False
        for group in list(self.groups):
            active = [run for run in group.runs if run.active]
            if active:
                self._restack(group, active)
                self._train(group)
                worked = True
        return worked

    def warm_up(self) -> bool:
        """While idle, get ready for a burst of runs a step at a time: load the data, then
        compile one more group size for the default settings (runs then join groups without
        waiting for XLA); False when nothing is left (or the data cannot be loaded: the
        first run says why)."""
        if not self._warm:
            return False
        if self._data is None:
            try:
                data = self._load()
            except Exception:  # a run's add reports it; warming stops here
                self._warm = []
                return False
            # A run's first test pass traces the evaluation (0.3 s, on the last run of a
            # burst to reach this worker): traced here instead, on the whole test set.
            evaluate(init_weights(0, DEFAULTS.hidden_units), *self._test_slice(len(data.x_test)))
            return True
        size = self._warm.pop(0)
        if size == _SAVER:
            with contextlib.suppress(Exception):  # no temporary folder: the first save pays
                self._saving.warm_up()
            return True
        blank = ModelState(init_weights(0, DEFAULTS.hidden_units))
        stack = Stack([Member(blank, 0.0, 0.0, 0)] * size, DEFAULTS.hidden_units)
        empty = np.zeros((0, DEFAULTS.batch_size), np.int32)
        stack.train(self._tensors["x"], self._tensors["y"], [empty] * size,
                    [empty.astype(np.float32)] * size)
        return True

    def run_alone(self) -> None:
        """Train until every run has ended (the single-run path: no commands to read)."""
        while self.busy:
            if not self.work():
                time.sleep(IDLE_POLL)

    def _load(self) -> MnistData:
        data = self.data_loader()
        if self._data is None or data.x_train is not self._data.x_train:
            self._tensors = dict(_tensors_of(data))
            self._data = data
        return data

    def _test_slice(self, count: int) -> tuple[Any, Any]:
        key = f"test-{count}"
        if key not in self._tensors:
            self._tensors[key] = (self._tensors["x_test"][:count], self._tensors["y_test"][:count])
        return self._tensors[key]

    def _restack(self, group: _Group, active: list[_Run]) -> None:
        """Rebuild the group's stack when its active runs changed (a chunk boundary)."""
        if group.stack is not None and active == group.stacked:
            return
        self._unstack(group)
        group.stack = Stack([Member(run.state, run.config.learning_rate, run.config.dropout,
                                    run.config.seed) for run in active], group.key[1])
        group.stacked = active

    def _unstack(self, group: _Group) -> None:
        """Carry each stacked run's state out of the group's tensors."""
        if group.stack is not None:
            for k, run in enumerate(group.stacked):
                run.state = group.stack.state(k)
        group.stack, group.stacked = None, []

    def _train(self, group: _Group) -> None:
        runs = group.stacked
        for run in runs:
            if run.order is None:
                run.order = epoch_order(run.config.seed, run.epoch, run.count,
                                        run.config.batch_size)
        n = min(CHUNK_STEPS, *(run.steps_per_epoch - run.position for run in runs))
        losses, rights, counts = group.stack.train(
            self._tensors["x"], self._tensors["y"],
            [run.order[0][run.position:run.position + n] for run in runs],
            [run.order[1][run.position:run.position + n] for run in runs])
        ending = []
        for k, run in enumerate(runs):
            run.position += n
            run.loss_sum += float(losses[k])
            run.right_sum += float(rights[k])
            run.seen += float(counts[k])
            run.trained = True
            stopped = self._after_chunk(group, k, run)
            if stopped is not None:
                ending.append((run, stopped))
        for run, stopped in ending:  # after the loop: finishing one unstacks the group
            self._finish(run, stopped)

    def _after_chunk(self, group: _Group, k: int, run: _Run) -> bool | None:
        """Reports, epoch ends and holds of one run after a chunk; whether it ends now
        (True: stopped, False: finished) or None."""
        now = time.perf_counter()
        if now - run.last_report >= self.progress_interval:  # an epoch's last batch too,
            run.last_report = now  # as in Keras' fit
            self.emit(Progress(run.job_id, self._event(run, "batch")))
        if run.position == run.steps_per_epoch:
            self._end_epoch(run, group.stack.weights(k))
            if run.epoch > run.config.epochs:
                return False
        if run.stop.is_set():
            return True
        if run.gate.report():
            run.held = True
            run.gate.set_held(True)
            self.emit(Progress(run.job_id, self._event(run, "batch", group.stack.weights(k),
                                                       paused=True)))
            self.emit(Held(run.job_id, True))
        elif run.gate.slow_motion:
            run.parked_until = now + run.gate.slow_motion
        return None

    def _end_epoch(self, run: _Run, weights: list[np.ndarray], partial: bool = False) -> None:
        """Validate, record and report the epoch just done (or stopped part-way)."""
        val_loss, val_accuracy = evaluate(weights, run.x_test, run.y_test)
        loss, accuracy = run.loss_sum / max(run.seen, 1), run.right_sum / max(run.seen, 1)
        for key, value in zip(run.history, (loss, accuracy, val_loss, val_accuracy),
                              strict=True):
            run.history[key].append(value)
        self.emit(Progress(run.job_id, self._event(run, "epoch", weights, step=run.steps_per_epoch,
                                                   val=(val_loss, val_accuracy))))
        if not partial:
            run.epoch, run.position, run.order = run.epoch + 1, 0, None
            run.loss_sum = run.right_sum = run.seen = 0.0

    def _finish(self, run: _Run, stopped: bool) -> None:
        """End a run: a stopped one validates its part-epoch, as Keras' fit does."""
        for group in self.groups:
            if run in group.runs:
                if run in group.stacked:
                    self._unstack(group)
                group.runs.remove(run)
                if not group.runs:
                    self.groups.remove(group)
                break
        del self.runs[run.job_id]
        run.gate.set_held(False)
        if run.position > 0:
            self._end_epoch(run, run.state.weights, partial=True)
        epochs_run = len(run.history["loss"])
        if not epochs_run:  # stopped before its first step: its untrained figures
            val_loss, val_accuracy = evaluate(run.state.weights, run.x_test, run.y_test)
            run.history["val_loss"].append(val_loss)
            run.history["val_accuracy"].append(val_accuracy)
        outcome = RunOutcome(
            config=run.config,
            weights=run.state.weights,
            history={key: list(values) for key, values in run.history.items() if values},
            test_loss=run.history["val_loss"][-1],
            test_accuracy=run.history["val_accuracy"][-1],
            epochs_completed=run.epoch - 1,
            stopped=stopped,
            seconds=time.perf_counter() - run.started,
        )
        if run.save_to is None:
            self.emit(Finished(run.job_id, outcome))
        else:  # off this loop: the other runs train on meanwhile
            self._saving.put(run.job_id, outcome, run.save_to)

    def _event(self, run: _Run, kind: str, weights: list[np.ndarray] | None = None,
               step: int | None = None, paused: bool = False,
               val: tuple[float, float] | None = None) -> ProgressEvent:
        seen = max(run.seen, 1)
        return ProgressEvent(
            kind=kind,  # type: ignore[arg-type]
            epoch=run.epoch,
            epochs=run.config.epochs,
            step=step if step is not None else run.position,
            steps_per_epoch=run.steps_per_epoch,
            loss=run.loss_sum / seen,
            accuracy=run.right_sum / seen,
            elapsed=time.perf_counter() - run.started,
            val_loss=None if val is None else val[0],
            val_accuracy=None if val is None else val[1],
            peek=None if weights is None else self._peek(run, weights),
            paused=paused,
        )

    @staticmethod
    def _peek(run: _Run, weights: list[np.ndarray]) -> Peek | None:
        """The watched units' weights and the watched digit's answer, in NumPy."""
        if run.peek is None:
            return None
        image, label = run.peek
        kernel, bias, out_kernel, out_bias = weights
        units = kernel[:, list(PEEK_UNITS)].T.reshape(len(PEEK_UNITS), 28, 28)
        logits = np.maximum(image @ kernel + bias, 0) @ out_kernel + out_bias
        return Peek(units, softmax(logits), PEEK_DIGIT, label)


class _Saving:
    """Saves finished runs in a thread of the worker (a room's runs end together: on the
    server their saves queued on its one GIL, ~15 ms each), then emits their Finished."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self.emit = emit
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._saver: Any = None  # an OutcomeSaver, made at the first save (or warm-up)
        self._making = threading.Lock()  # the warm-up (the worker's loop) and a save race

    @property
    def pending(self) -> bool:
        """Whether a finished run is still to be saved."""
        return self._queue.unfinished_tasks > 0

    def put(self, job_id: str, outcome: RunOutcome, save_to: SaveTo) -> None:
        """Save a finished run, then emit its Finished (with its ref, or why not)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="room-saving", daemon=True)
            self._thread.start()
        self._queue.put((job_id, outcome, save_to))

    def close(self) -> None:
        """Wait until every run put has been saved (or failed to be)."""
        self._queue.join()

    def warm_up(self) -> None:
        """Save a blank run to a temporary folder: a worker's first save builds its Keras
        model and walks Keras' saving code for the first time (~80 ms, against ~8)."""
        import tempfile

        from mnist_core.store import ModelStore

        blank = RunOutcome(DEFAULTS, init_weights(0, DEFAULTS.hidden_units), {}, 0.0, 0.0,
                           0, False, 0.0)
        with tempfile.TemporaryDirectory(prefix="mnist-warm-") as folder:
            self._saver_now().save(ModelStore(folder), blank)

    def _saver_now(self) -> Any:
        from mnist_core.jobs import OutcomeSaver  # the server saves the same way

        with self._making:
            if self._saver is None:
                self._saver = OutcomeSaver()
            return self._saver

    def _serve(self) -> None:
        while True:
            job_id, outcome, save_to = self._queue.get()
            try:
                self.emit(self._save(job_id, outcome, save_to))
            finally:
                self._queue.task_done()

    def _save(self, job_id: str, outcome: RunOutcome, save_to: SaveTo) -> Finished:
        from mnist_core.store import ModelStore

        try:
            ref = self._saver_now().save(ModelStore(save_to.root), outcome, save_to.owner)
            return Finished(job_id, outcome, ref=ref)
        # A full or read-only disk, or anything (even SystemExit: it would end only this
        # thread): the server tries to save it, and keeps the model if it cannot.
        except MnistStudioError as e:
            return Finished(job_id, outcome, save_error=str(e))
        except BaseException as e:
            return Finished(job_id, outcome, save_error=f"{type(e).__name__}: {e}")
