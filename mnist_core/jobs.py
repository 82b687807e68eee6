"""Server-wide training jobs: a FIFO queue, a concurrency limit, thread-safe progress.

A UI submits a TrainConfig and polls snapshots; workers never touch the UI. Quickstart
runs go to the room trainer (mnist_core.room_trainer, hosted by an executor: worker processes by
default), which trains all of them at once, stacked; other runs (the CNN, augmented data)
train one per slot in a thread with Keras' fit. Every
finished (or stopped) run is saved through the ModelStore, so closing the page or
refreshing it loses nothing. A saved run keeps only its figures in memory (its model is
loaded back from disk by `JobManager.model` when asked); a run that could not be saved
keeps its model, the newest MAX_UNSAVED_MODELS of them.
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mnist_core.config import TrainConfig
from mnist_core.data import DATA_CHECKSUM, MnistData, load_mnist
from mnist_core.errors import BackendError, BusyError, ConfigError, MnistStudioError
from mnist_core.model import build_model
from mnist_core.naming import run_stem
from mnist_core.room_trainer import Failed, Finished, Held, Progress, SaveTo, stackable
from mnist_core.settings import (
    ROOM_RUNS_PER_WORKER,
    configured_max_training_jobs,
    max_training_jobs,
    ray_address,
    training_backend,
    training_workers,
)
from mnist_core.store import ModelMetadata, ModelStore
from mnist_core.training import (
    PauseGate,
    Peek,
    ProgressEvent,
    TrainResult,
    result_from,
    train,
)

log = logging.getLogger(__name__)

MAX_BATCH_POINTS = 5000  # per job, for the live chart
MAX_KEPT_JOBS = 500  # finished jobs kept in memory (their figures, not their models)
# Models of runs that could not be saved (a full or read-only disk), kept so their owners
# can still draw with them: ~14 MB each, so only the newest few.
MAX_UNSAVED_MODELS = 20


class JobStatus(enum.StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"  # stopped by the user; the weights so far are kept and saved
    CANCELLED = "cancelled"  # stopped while still queued: nothing trained
    FAILED = "failed"

    @property
    def done(self) -> bool:
        """True once the job will not change any more."""
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class BatchPoint:
    """One point of the live per-batch chart."""

    epoch_progress: float  # epochs done, fractional (e.g. 1.5 = half-way through epoch 2)
    loss: float
    accuracy: float


@dataclass(frozen=True)
class EpochPoint:
    """One point of the per-epoch chart: training vs. test set."""

    epoch: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent, read-only copy of a job's state for the UI."""

    job_id: str
    owner: str
    config: TrainConfig
    status: JobStatus
    queue_position: int | None  # 1 = next to start; None unless queued
    submitted: float
    latest: ProgressEvent | None
    batch_points: tuple[BatchPoint, ...]
    epoch_points: tuple[EpochPoint, ...]
    ref: str | None  # where the finished model was saved
    test_loss: float | None
    test_accuracy: float | None
    epochs_completed: int | None
    seconds: float | None
    error: str | None  # why training failed
    save_error: str | None  # why a finished model could not be saved
    # The trained keras.Model of a run that could not be saved (while it is kept); None for
    # a saved run: JobManager.model(job_id) loads that one from its file.
    model: Any = None
    paused: bool = False  # held by JobManager.pause now (it keeps its slot, uses no CPU)
    slow_motion: float = 0.0  # seconds added after each report
    peek: Peek | None = None  # the latest look at the watched units and digit


@dataclass
class _Job:
    job_id: str
    owner: str
    config: TrainConfig
    submitted: float = field(default_factory=time.time)
    status: JobStatus = JobStatus.QUEUED
    stop: threading.Event = field(default_factory=threading.Event)
    gate: PauseGate = field(default_factory=PauseGate)
    latest: ProgressEvent | None = None
    peek: Peek | None = None
    batch_points: list[BatchPoint] = field(default_factory=list)
    epoch_points: list[EpochPoint] = field(default_factory=list)
    test_loss: float | None = None
    test_accuracy: float | None = None
    epochs_completed: int | None = None
    seconds: float | None = None
    model: Any = None  # only for a run that could not be saved
    ref: str | None = None
    error: str | None = None
    save_error: str | None = None
    room: bool = False  # trained by the room trainer (else by fit, in a thread here)
    remote_paused: bool = False  # the room's worker holds it


def default_room(data_loader: Callable[[], MnistData] = load_mnist) -> tuple[Any, str | None]:
    """The room's executor as configured, and a note for the pages when it is not what was
    asked for: a Ray cluster ($MNIST_TRAINING_BACKEND=ray), else $MNIST_TRAINING_WORKERS
    processes (0 = a thread). A cluster that cannot be used falls back to this server."""
    from mnist_core.executors import ProcessExecutor, ThreadExecutor

    note = None
    if training_backend() == "ray":
        from mnist_core.ray_backend import RayExecutor  # Ray is imported only for Ray

        try:
            return RayExecutor(ray_address(), data_loader=data_loader), None
        except BackendError as e:
            note = f"Training on this server instead of Ray: {e}."
            log.warning(note)
    workers = training_workers()
    return (ProcessExecutor(workers) if workers else ThreadExecutor(data_loader)), note


class JobManager:
    """Runs training jobs in FIFO order: quickstart runs in the room trainer (`room`, up to
    `room_capacity` at once), others in threads here, at most `max_jobs` at once."""

    def __init__(
        self,
        store: ModelStore,
        max_jobs: int | None = None,
        data_loader: Callable[[], MnistData] = load_mnist,
        room: Any | Literal["auto"] | None = "auto",
    ) -> None:
        """`room`: an executor (mnist_core.executors), "auto" for the configured one, or
        None to train every run in a thread here."""
        self.store = store
        configured = max_jobs if max_jobs is not None else configured_max_training_jobs()
        self.max_jobs = configured if configured is not None else max_training_jobs()
        if self.max_jobs < 1:
            raise ConfigError(f"max_jobs must be at least 1, got {self.max_jobs}")
        # The room reads the manager's loader when a run arrives (one that changes counts).
        self.room, self.backend_note = (default_room(lambda: self._data_loader())
                                        if room == "auto" else (room, None))
        workers = getattr(self.room, "workers", 1)
        # An explicit limit holds for the room too (a queue to show); else it fits 40 runs.
        self.room_capacity = configured or ROOM_RUNS_PER_WORKER * max(1, workers)
        self._room_running = 0
        self._saver = OutcomeSaver()  # results the room's workers could not save
        if self.room is not None:
            self.room.start(self._on_room_event)
        self._data_loader = data_loader
        self._jobs: dict[str, _Job] = {}
        self._waiting: deque[str] = deque()
        self._running = 0
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._gradients_before: set[str] = set()  # see _forget_traced_gradients
        self._held = False  # the presenter holds new training for the room
        store.clean_leftovers()  # temp files of saves killed before this server started

    def submit(self, config: TrainConfig, owner: str = "") -> str:
        """Queue a training run; returns its job id at once.

        A participant (a non-empty owner) has one run queued or training at a time, so a
        burst of clicks starts one run and nobody takes the whole server (BusyError).
        """
        with self._lock:
            if owner and any(job.owner == owner and not job.status.done
                             for job in self._jobs.values()):
                raise BusyError("You already have a run queued or training: wait for it "
                                "to end, or stop it, before starting another.")
            job_id = f"job-{next(self._ids)}"
            job = _Job(job_id, owner, config, room=self.room is not None and stackable(config))
            self._jobs[job_id] = job
            self._waiting.append(job_id)
            self._forget_old_jobs()
            if job.room:
                self._dispatch_room()
                return job_id
        threading.Thread(target=self._run, args=(job_id,), name=job_id, daemon=True).start()
        return job_id

    def stop(self, job_id: str) -> None:
        """Stop a running job (its weights so far are kept) or cancel a queued one."""
        with self._lock:
            job = self._jobs[job_id]
            job.stop.set()
            if job.status is JobStatus.QUEUED:
                self._waiting.remove(job_id)
                job.status = JobStatus.CANCELLED
                self._lock.notify_all()
            elif job.room and job.status is JobStatus.RUNNING:
                self.room.command(job_id, "stop")

    def pause(self, job_id: str) -> None:
        """Hold a job at its next report (within a fraction of a second); it keeps its slot."""
        self._jobs[job_id].gate.pause()
        self._tell_room(job_id, "pause")

    def resume(self, job_id: str) -> None:
        """Let a held job go on."""
        self._jobs[job_id].gate.resume()
        self._tell_room(job_id, "resume")

    def step(self, job_id: str, reports: int = 1) -> None:
        """Let a held job train `reports` more reports (~128 batches each), then hold it."""
        self._jobs[job_id].gate.step(reports)
        self._tell_room(job_id, "step", reports)

    def slow_motion(self, job_id: str, seconds: float) -> None:
        """Wait `seconds` after each report of a job (0 for full speed)."""
        seconds = max(0.0, min(float(seconds), 5.0))
        self._jobs[job_id].gate.slow_motion = seconds
        self._tell_room(job_id, "slow_motion", seconds)

    def _tell_room(self, job_id: str, name: str, *args: Any) -> None:
        """Pass a pause/resume/step/slow-motion to the room's worker of a room run; a queued
        room run gets its gate's state when it starts."""
        with self._lock:
            job = self._jobs[job_id]
            if job.room and job.status is JobStatus.RUNNING:
                self.room.command(job_id, name, *args)

    def hold(self, held: bool) -> None:
        """Hold (True) or release (False) the queue: held, no queued run starts."""
        with self._lock:
            self._held = bool(held)
            self._dispatch_room()
            self._lock.notify_all()

    @property
    def held(self) -> bool:
        """Whether the queue is held (running runs go on; queued ones wait)."""
        return self._held

    def close(self) -> None:
        """Stop the room's worker processes (runs still training there fail)."""
        if self.room is not None:
            self.room.close()

    def snapshot(self, job_id: str) -> JobSnapshot:
        """A consistent copy of one job's state."""
        with self._lock:
            return self._snapshot(self._jobs[job_id])

    def jobs(self, owner: str | None = None) -> list[JobSnapshot]:
        """Snapshots of all jobs (or one owner's), oldest first."""
        with self._lock:
            return [
                self._snapshot(job)
                for job in self._jobs.values()
                if owner is None or job.owner == owner
            ]

    def active_count(self) -> tuple[int, int]:
        """(running, queued) job counts."""
        with self._lock:
            return self._running + self._room_running, len(self._waiting)

    def wait(self, job_id: str, timeout: float | None = None) -> JobSnapshot:
        """Block until the job is done (or the timeout passes); return its snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._jobs[job_id].status.done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._lock.wait(remaining)
            return self._snapshot(self._jobs[job_id])

    def model(self, job_id: str) -> Any:
        """The job's trained keras.Model: the one kept in memory (an unsaved run), else
        loaded from its saved file (ModelLoadError if that fails); None when there is none
        (failed, cancelled, still training, or unsaved and no longer kept)."""
        with self._lock:
            job = self._jobs[job_id]
            model, ref = job.model, job.ref
        if model is not None or ref is None:
            return model
        return self.store.load(ref)

    def _snapshot(self, job: _Job) -> JobSnapshot:
        position = None
        if job.status is JobStatus.QUEUED:  # among the runs waiting for the same trainer
            same = [j for j in self._waiting if self._jobs[j].room == job.room]
            position = same.index(job.job_id) + 1
        return JobSnapshot(
            job_id=job.job_id,
            owner=job.owner,
            config=job.config,
            status=job.status,
            queue_position=position,
            submitted=job.submitted,
            latest=job.latest,
            batch_points=tuple(job.batch_points),
            epoch_points=tuple(job.epoch_points),
            ref=job.ref,
            test_loss=job.test_loss,
            test_accuracy=job.test_accuracy,
            epochs_completed=job.epochs_completed,
            seconds=job.seconds,
            error=job.error,
            save_error=job.save_error,
            model=job.model,
            paused=job.remote_paused if job.room else job.gate.paused,
            slow_motion=job.gate.slow_motion,
            peek=job.peek,
        )

    def _forget_old_jobs(self) -> None:
        done = [job_id for job_id, job in self._jobs.items() if job.status.done]
        for job_id in done[: max(0, len(self._jobs) - MAX_KEPT_JOBS)]:
            del self._jobs[job_id]

    def _run(self, job_id: str) -> None:
        job = self._jobs[job_id]
        try:
            # Before taking a slot: a slow or failing data source holds no one else up.
            data = self._data_loader()
        except BaseException as e:  # even SystemExit: this thread's only job is this run
            self._fail_queued(job, e)
            return
        if not self._start(job):
            return  # cancelled while waiting
        status, error = JobStatus.FAILED, "training ended unexpectedly"
        try:
            status, error = self._train_and_save(job, data), None
        except (MnistStudioError, ValueError) as e:
            error = str(e)
        except BaseException as e:  # even SystemExit: it would only end this thread
            log.exception("training job %s failed", job_id)
            error = f"{type(e).__name__}: {e}"
        finally:
            # Whatever happened, the job ends and its slot is freed: never a wedged queue.
            self._finish(job, status, error)

    def _start(self, job: _Job) -> bool:
        """Wait for the job's turn and a free slot, then take it; False if cancelled."""
        with self._lock:
            # FIFO: start only when first in line (of fit's runs) and a slot is free.
            while job.status is JobStatus.QUEUED and (self._held or not (
                self._next_waiting(room=False) == job.job_id and self._running < self.max_jobs
            )):
                self._lock.wait()
            if job.status is not JobStatus.QUEUED:
                return False
            self._waiting.remove(job.job_id)
            if self._running == 0:
                self._gradients_before = set(_custom_gradients())
            self._running += 1
            job.status = JobStatus.RUNNING
            self._lock.notify_all()
            return True

    def _next_waiting(self, room: bool) -> str | None:
        return next((j for j in self._waiting if self._jobs[j].room == room), None)

    def _dispatch_room(self) -> None:
        """Start waiting room runs while the room has space (called with the lock held)."""
        while not self._held and self._room_running < self.room_capacity:
            job_id = self._next_waiting(room=True)
            if job_id is None:
                return
            job = self._jobs[job_id]
            self._waiting.remove(job_id)
            self._room_running += 1
            job.status = JobStatus.RUNNING
            self._lock.notify_all()
            # Saved by its worker (beside its training, off this server's GIL), the store's
            # folder being on the worker's disk too (not so for Ray: it ignores this).
            self.room.add(job_id, job.config, SaveTo(str(self.store.root), job.owner))
            if job.gate.slow_motion:
                self.room.command(job_id, "slow_motion", job.gate.slow_motion)

    def _on_room_event(self, event: Any) -> None:
        """What the room's workers report (on an executor's thread)."""
        with self._lock:
            job = self._jobs.get(event.job_id)
            if job is None or job.status is not JobStatus.RUNNING:
                return  # forgotten, or ended already (a worker's death after its end)
        if isinstance(event, Progress):
            self._progress(job)(event.event)
        elif isinstance(event, Held):
            with self._lock:
                job.remote_paused = event.held
        elif isinstance(event, Finished | Failed):
            status, error = JobStatus.FAILED, "training ended unexpectedly"
            try:
                if isinstance(event, Failed):
                    error = event.message
                else:
                    status, error = self._save_room_result(job, event), None
            except BaseException as e:  # even SystemExit: it would only end this thread
                log.exception("saving job %s failed", job.job_id)
                error = f"{type(e).__name__}: {e}"
            finally:
                with self._lock:
                    job.status, job.error, job.remote_paused = status, error, False
                    self._room_running -= 1
                    self._dispatch_room()
                    self._lock.notify_all()

    def _save_room_result(self, job: _Job, event: Finished) -> JobStatus:
        """Record a room run its worker saved; else save it here (kept in memory if not)."""
        outcome = event.outcome
        if event.ref is not None:
            return self._record(job, outcome, event.ref)
        if event.save_error is not None:
            log.warning("job %s: its worker could not save it (%s): saving it here",
                        job.job_id, event.save_error)
        with self._saver.lock:
            return self._save(job, self._saver.result(outcome),
                              keep=lambda: result_from(outcome))

    def _train_and_save(self, job: _Job, data: MnistData) -> JobStatus:
        """Train, then save; a failed save is reported on the job, which keeps its model."""
        result = train(job.config, data, self._progress(job), job.stop, gate=job.gate)
        return self._save(job, result, keep=lambda: result.model)

    def _save(self, job: _Job, result: TrainResult, keep: Callable[[], Any]) -> JobStatus:
        """Save a result; one that could not be saved keeps a model of its own (`keep`)."""
        ref, save_error = None, None
        try:
            ref = save_result(self.store, result, owner=job.owner)
        except MnistStudioError as e:
            save_error = str(e)
        except Exception as e:
            log.exception("saving job %s failed", job.job_id)
            save_error = f"{type(e).__name__}: {e}"
        return self._record(job, result, ref, save_error, keep() if ref is None else None)

    def _record(self, job: _Job, result: TrainResult | Any, ref: str | None,
                save_error: str | None = None, model: Any = None) -> JobStatus:
        """A run's figures (a TrainResult or the room's RunOutcome), where it was saved, or
        why not and the model kept in its place."""
        with self._lock:
            job.test_loss, job.test_accuracy = result.test_loss, result.test_accuracy
            job.epochs_completed, job.seconds = result.epochs_completed, result.seconds
            job.ref, job.save_error = ref, save_error
            if ref is None:  # not on disk: the model in memory is the only copy
                job.model = model
                self._forget_old_models()
        return JobStatus.STOPPED if result.stopped else JobStatus.FINISHED

    def _forget_old_models(self) -> None:
        held = [job for job in self._jobs.values() if job.model is not None]
        for job in held[: max(0, len(held) - MAX_UNSAVED_MODELS)]:
            job.model = None

    def _fail_queued(self, job: _Job, error: BaseException) -> None:
        """End a job that never got to train (its data could not be loaded)."""
        if isinstance(error, (MnistStudioError, ValueError)):
            message = str(error)
        else:
            log.error("loading data for job %s failed", job.job_id, exc_info=error)
            message = f"{type(error).__name__}: {error}"
        with self._lock:
            if job.status is JobStatus.QUEUED:  # not cancelled meanwhile
                self._waiting.remove(job.job_id)
                job.status = JobStatus.FAILED
                job.error = message
                self._lock.notify_all()

    def _finish(self, job: _Job, status: JobStatus, error: str | None = None) -> None:
        with self._lock:
            job.status = status
            job.error = error
            self._running -= 1
            if self._running == 0:  # no run is tracing now: what they registered is dead
                _forget_traced_gradients(self._gradients_before)
            self._lock.notify_all()

    def _progress(self, job: _Job) -> Callable[[ProgressEvent], None]:
        def publish(event: ProgressEvent) -> None:
            point = BatchPoint(
                epoch_progress=event.epoch - 1 + event.step / event.steps_per_epoch,
                loss=event.loss,
                accuracy=event.accuracy,
            )
            if job.latest is None and not job.room:  # room workers lower their own
                from mnist_core.tf_setup import lower_compute_priority

                lower_compute_priority()  # training has its threads by now: drawings first
            with self._lock:
                job.latest = event
                job.peek = event.peek or job.peek
                if len(job.batch_points) < MAX_BATCH_POINTS:
                    job.batch_points.append(point)
                if event.kind == "epoch":
                    job.epoch_points.append(
                        EpochPoint(event.epoch, event.loss, event.accuracy,
                                   event.val_loss, event.val_accuracy)
                    )

        return publish


def _custom_gradients() -> dict[str, Any]:
    """TensorFlow's global registry of graph-mode custom gradients ({} if it has none)."""
    try:  # TensorFlow is loaded already: mnist_core.training imports it
        from tensorflow.python.framework import ops

        return ops.gradient_registry._registry
    except (ImportError, AttributeError):  # another TensorFlow: nothing to clean up
        return {}


def _forget_traced_gradients(keep: set[str]) -> None:
    """Drop the custom gradients registered since `keep` was taken.

    Each traced optimizer step (Keras all-reduces the gradients under tf.custom_gradient)
    registers one in TensorFlow's global registry, never removed: it pins that run's whole
    traced graph, ~6 MB a run. They are only used while that step is being traced (for a
    gradient of the all-reduce, which nothing takes), so once no run is training they go.
    """
    registry = _custom_gradients()
    try:
        for key in list(registry):  # one copy in C: other threads may register meanwhile
            if key.startswith("CustomGradient-") and key not in keep:
                registry.pop(key, None)
    except Exception:  # it only saves memory: never worth failing the end of a job
        log.warning("could not drop TensorFlow's traced custom gradients", exc_info=True)


class OutcomeSaver:
    """Saves the room's finished runs as quickstart models through one reused Keras model
    per width (a model per run held ~390 MB for 40 runs); used by the server and workers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held around result() and the save of what it gave
        self._models: dict[int, Any] = {}

    def result(self, outcome: Any) -> TrainResult:
        """The outcome in this saver's model for its width (call with `lock` held)."""
        config = outcome.config
        model = self._models.get(config.hidden_units)
        if model is None:
            model = self._models[config.hidden_units] = build_model(
                hidden_units=config.hidden_units)
        model.get_layer("dropout").rate = config.dropout  # what the saved file says
        model.optimizer.learning_rate.assign(config.learning_rate)
        return result_from(outcome, model)

    def save(self, store: ModelStore, outcome: Any, owner: str = "") -> str:
        """Save a finished room run (a RunOutcome) as a fresh run in `store`; its ref."""
        with self.lock:
            return save_result(store, self.result(outcome), owner=owner)


def metadata_for(result: TrainResult, description: str = "", owner: str = "") -> ModelMetadata:
    """The metadata saved beside a trained model."""
    return ModelMetadata(
        name="",
        config=result.config,
        test_loss=result.test_loss,
        test_accuracy=result.test_accuracy,
        history=result.history,
        epochs_completed=result.epochs_completed,
        stopped=result.stopped,
        seconds=round(result.seconds, 2),
        data_checksum=DATA_CHECKSUM,
        description=description,
        owner=owner,
    )


def save_result(
    store: ModelStore, result: TrainResult, ref: str | None = None, owner: str = ""
) -> str:
    """Save a finished run (to a fresh runs/ ref unless one is given); returns the ref."""
    metadata = metadata_for(result, owner=owner)
    trained = result.epochs_completed if result.stopped else None
    ref = ref or store.new_run_ref(run_stem(result.config, trained))  # reserved until saved
    store.save(result.model, metadata, ref)  # releases the reservation, saved or not
    return ref
