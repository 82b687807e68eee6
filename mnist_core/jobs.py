"""Server-wide training jobs: a FIFO queue, a concurrency limit, thread-safe progress.

A UI submits a TrainConfig and polls snapshots; workers never touch the UI. Every
finished (or stopped) run is saved through the ModelStore, so closing the page or
refreshing it loses nothing.
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
from typing import Any

from mnist_core.config import TrainConfig
from mnist_core.data import DATA_CHECKSUM, MnistData, load_mnist
from mnist_core.errors import ConfigError, MnistStudioError
from mnist_core.naming import run_stem
from mnist_core.settings import max_training_jobs
from mnist_core.store import ModelMetadata, ModelStore
from mnist_core.training import ProgressEvent, TrainResult, train

log = logging.getLogger(__name__)

MAX_BATCH_POINTS = 5000  # per job, for the live chart
MAX_KEPT_JOBS = 500  # finished jobs kept in memory (with their models)


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
    model: Any = None  # the trained keras.Model, usable even when saving failed


@dataclass
class _Job:
    job_id: str
    owner: str
    config: TrainConfig
    submitted: float = field(default_factory=time.time)
    status: JobStatus = JobStatus.QUEUED
    stop: threading.Event = field(default_factory=threading.Event)
    latest: ProgressEvent | None = None
    batch_points: list[BatchPoint] = field(default_factory=list)
    epoch_points: list[EpochPoint] = field(default_factory=list)
    result: TrainResult | None = None
    ref: str | None = None
    error: str | None = None
    save_error: str | None = None


class JobManager:
    """Runs training jobs in worker threads, at most `max_jobs` at once, in FIFO order."""

    def __init__(
        self,
        store: ModelStore,
        max_jobs: int | None = None,
        data_loader: Callable[[], MnistData] = load_mnist,
    ) -> None:
        self.store = store
        self.max_jobs = max_jobs if max_jobs is not None else max_training_jobs()
        if self.max_jobs < 1:
            raise ConfigError(f"max_jobs must be at least 1, got {self.max_jobs}")
        self._data_loader = data_loader
        self._jobs: dict[str, _Job] = {}
        self._waiting: deque[str] = deque()
        self._running = 0
        self._lock = threading.Condition()
        self._ids = itertools.count(1)

    def submit(self, config: TrainConfig, owner: str = "") -> str:
        """Queue a training run; returns its job id at once."""
        with self._lock:
            job_id = f"job-{next(self._ids)}"
            self._jobs[job_id] = _Job(job_id, owner, config)
            self._waiting.append(job_id)
            self._forget_old_jobs()
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
            return self._running, len(self._waiting)

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

    def _snapshot(self, job: _Job) -> JobSnapshot:
        result = job.result
        position = None
        if job.status is JobStatus.QUEUED:
            position = self._waiting.index(job.job_id) + 1
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
            test_loss=result.test_loss if result else None,
            test_accuracy=result.test_accuracy if result else None,
            epochs_completed=result.epochs_completed if result else None,
            seconds=result.seconds if result else None,
            error=job.error,
            save_error=job.save_error,
            model=result.model if result else None,
        )

    def _forget_old_jobs(self) -> None:
        done = [job_id for job_id, job in self._jobs.items() if job.status.done]
        for job_id in done[: max(0, len(self._jobs) - MAX_KEPT_JOBS)]:
            del self._jobs[job_id]

    def _run(self, job_id: str) -> None:
        job = self._jobs[job_id]
        with self._lock:
            # FIFO: start only when first in line and a slot is free.
            while job.status is JobStatus.QUEUED and not (
                self._waiting[0] == job_id and self._running < self.max_jobs
            ):
                self._lock.wait()
            if job.status is not JobStatus.QUEUED:
                return  # cancelled while waiting
            self._waiting.popleft()
            self._running += 1
            job.status = JobStatus.RUNNING
            self._lock.notify_all()
        try:
            result = train(job.config, self._data_loader(), self._progress(job), job.stop)
        except (MnistStudioError, ValueError) as e:
            self._finish(job, JobStatus.FAILED, error=str(e))
            return
        except Exception as e:
            log.exception("training job %s failed", job_id)
            self._finish(job, JobStatus.FAILED, error=f"{type(e).__name__}: {e}")
            return
        job.result = result
        try:
            job.ref = save_result(self.store, result, owner=job.owner)
        except MnistStudioError as e:
            job.save_error = str(e)
        self._finish(job, JobStatus.STOPPED if result.stopped else JobStatus.FINISHED)

    def _finish(self, job: _Job, status: JobStatus, error: str | None = None) -> None:
        with self._lock:
            job.status = status
            job.error = error
            self._running -= 1
            self._lock.notify_all()

    def _progress(self, job: _Job) -> Callable[[ProgressEvent], None]:
        def publish(event: ProgressEvent) -> None:
            point = BatchPoint(
                epoch_progress=event.epoch - 1 + event.step / event.steps_per_epoch,
                loss=event.loss,
                accuracy=event.accuracy,
            )
            if job.latest is None:
                from mnist_core.tf_setup import lower_compute_priority

                lower_compute_priority()  # training has its threads by now: drawings first
            with self._lock:
                job.latest = event
                if len(job.batch_points) < MAX_BATCH_POINTS:
                    job.batch_points.append(point)
                if event.kind == "epoch":
                    job.epoch_points.append(
                        EpochPoint(event.epoch, event.loss, event.accuracy,
                                   event.val_loss, event.val_accuracy)
                    )

        return publish


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
    ref = ref or store.new_run_ref(run_stem(result.config))
    store.save(result.model, metadata_for(result, owner=owner), ref)
    return ref
