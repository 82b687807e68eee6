"""mnist_core.executors: the room in warm worker processes; a dead worker fails only its runs."""

from __future__ import annotations

import os
import signal
import time

import pytest

from mnist_core.config import TrainConfig
from mnist_core.executors import ProcessExecutor
from mnist_core.jobs import JobManager, JobStatus
from mnist_core.settings import training_workers
from mnist_core.store import ModelStore

WAIT = 300  # s: a worker imports TensorFlow and loads MNIST first (~5 s; more when busy)
QUICK = TrainConfig(epochs=1, train_limit=1000, test_limit=200)
LONG = TrainConfig(epochs=100, test_limit=200)  # ~30 s on one core: stopped long before


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    """One trainer with two warm worker processes for the module (each starts in ~5 s),
    at normal priority: the tests' waits are not to depend on the machine's other load."""
    manager = JobManager(ModelStore(tmp_path_factory.mktemp("models")),
                         room=ProcessExecutor(2, niceness=0))  # not starved by a busy CI
    yield manager
    manager.close()


def wait_for(condition, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_worker_processes_train_pause_and_save(manager):
    """Two runs in two worker processes: live points, a pause of one (the other goes on),
    and both saved as quickstart models."""
    assert manager.room.pids() == []  # started lazily, by the first run
    assert manager.active_count() == (0, 0)
    long_run = manager.submit(LONG, owner="alice")
    quick = manager.submit(QUICK, owner="bob")
    assert len(set(manager.room.pids())) == 2
    wait_for(lambda: manager.snapshot(long_run).batch_points)
    manager.pause(long_run)
    wait_for(lambda: manager.snapshot(long_run).paused)
    assert manager.snapshot(long_run).peek is not None
    done = manager.wait(quick, timeout=WAIT)
    assert done.status is JobStatus.FINISHED and done.epoch_points and done.batch_points
    held = manager.snapshot(long_run).latest
    time.sleep(0.5)
    assert manager.snapshot(long_run).latest == held  # held: no progress meanwhile
    manager.resume(long_run)
    wait_for(lambda: not manager.snapshot(long_run).paused)
    manager.stop(long_run)
    stopped = manager.wait(long_run, timeout=WAIT)
    assert stopped.status is JobStatus.STOPPED and stopped.ref
    for job in (done, stopped):
        model = manager.store.load(job.ref)
        assert model.count_params() == 101_770
        assert manager.store.read_metadata(job.ref).test_accuracy == pytest.approx(
            job.test_accuracy)
    assert manager.active_count() == (0, 0)


def test_a_killed_worker_fails_only_its_runs_and_the_queue_moves_on(manager):
    first = manager.submit(LONG, owner="alice")
    second = manager.submit(LONG, owner="bob")
    wait_for(lambda: manager.snapshot(first).batch_points and
             manager.snapshot(second).batch_points)
    victim = manager.room._where[first].pid
    assert victim != manager.room._where[second].pid
    os.kill(victim, signal.SIGKILL)
    failed = manager.wait(first, timeout=WAIT)
    assert failed.status is JobStatus.FAILED
    assert "training worker process stopped unexpectedly" in failed.error
    assert "start the run again" in failed.error
    assert manager.snapshot(second).status is JobStatus.RUNNING  # the other worker's run
    again = manager.wait(manager.submit(QUICK, owner="alice"), timeout=WAIT)
    assert again.status is JobStatus.FINISHED and again.ref  # a fresh worker took it
    assert victim not in manager.room.pids()
    manager.stop(second)
    assert manager.wait(second, timeout=WAIT).status is JobStatus.STOPPED


def test_workers_default_to_one_per_core(monkeypatch):
    monkeypatch.delenv("MNIST_TRAINING_WORKERS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert training_workers() == 2
    monkeypatch.setenv("MNIST_TRAINING_WORKERS", "0")
    assert training_workers() == 0
