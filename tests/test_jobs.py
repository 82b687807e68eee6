"""mnist_core.jobs: queued, limited, observable training jobs that always save."""

from __future__ import annotations

import os

import pytest

from mnist_core.errors import BusyError, ConfigError
from mnist_core.executors import ThreadExecutor
from mnist_core.jobs import JobManager, JobStatus
from mnist_core.settings import max_training_jobs as default_max_jobs
from mnist_core.store import ModelStore
from mnist_core.training import TrainConfig

WAIT = 120  # seconds; a 1-epoch run on 1,000 images takes about one


@pytest.fixture(params=["room", "fit"])
def manager(request, models_dir, small_mnist):
    """A trainer whose quickstart runs go to the room (its worker in a thread here) or,
    like the CNN's, each to Keras' fit in a thread of its own."""
    room = ThreadExecutor(lambda: small_mnist) if request.param == "room" else None
    manager = JobManager(ModelStore(models_dir), max_jobs=1, data_loader=lambda: small_mnist,
                         room=room)
    yield manager
    manager.close()


QUICK = TrainConfig(epochs=1, train_limit=1000, test_limit=200)


def test_job_runs_reports_and_saves(manager):
    job_id = manager.submit(QUICK, owner="alice")
    done = manager.wait(job_id, timeout=WAIT)
    assert done.status is JobStatus.FINISHED
    assert done.epoch_points and done.epoch_points[-1].val_accuracy == done.test_accuracy
    assert done.batch_points and done.latest.fraction_done == 1.0
    assert done.ref.startswith("runs/")
    assert done.model is None and manager.model(job_id) is not None  # saved: read back
    metadata = manager.store.read_metadata(done.ref)
    assert metadata.test_accuracy == pytest.approx(done.test_accuracy)
    assert metadata.owner == "alice"  # so a restarted server still knows whose run it is
    assert [job.job_id for job in manager.jobs(owner="alice")] == [job_id]
    assert manager.jobs(owner="bob") == []


def test_queue_is_fifo_and_limited(manager):
    long_run = manager.submit(TrainConfig(epochs=100, train_limit=1000, test_limit=200))
    queued = [manager.submit(QUICK, owner=f"user{i}") for i in range(2)]
    positions = [manager.snapshot(job_id).queue_position for job_id in queued]
    assert positions == [1, 2]
    assert manager.snapshot(queued[1]).status is JobStatus.QUEUED
    manager.stop(long_run)
    for job_id in queued:
        assert manager.wait(job_id, timeout=WAIT).status is JobStatus.FINISHED
    stopped = manager.wait(long_run, timeout=WAIT)
    assert stopped.status is JobStatus.STOPPED and stopped.ref is not None
    assert manager.store.read_metadata(stopped.ref).stopped
    assert manager.active_count() == (0, 0)


def test_one_run_at_a_time_per_participant(manager):
    first = manager.submit(TrainConfig(epochs=100, train_limit=1000, test_limit=200),
                           owner="alice")
    with pytest.raises(BusyError, match="already have a run queued or training"):
        manager.submit(QUICK, owner="alice")  # a second click of a burst
    other = manager.submit(QUICK, owner="bob")  # others are not held up by alice
    assert [job.job_id for job in manager.jobs(owner="alice")] == [first]
    manager.stop(first)
    manager.wait(first, timeout=WAIT)
    again = manager.submit(QUICK, owner="alice")  # ended: alice may train again
    for job_id in (other, again):
        assert manager.wait(job_id, timeout=WAIT).status is JobStatus.FINISHED


def test_a_held_queue_starts_nothing_until_released(manager):
    manager.hold(True)
    job_id = manager.submit(QUICK, owner="alice")
    assert manager.wait(job_id, timeout=1.5).status is JobStatus.QUEUED
    assert manager.held and manager.active_count() == (0, 1)
    manager.hold(False)
    assert manager.wait(job_id, timeout=WAIT).status is JobStatus.FINISHED


def test_cancel_while_queued(manager):
    running = manager.submit(TrainConfig(epochs=100, train_limit=1000, test_limit=200))
    waiting = manager.submit(QUICK)
    manager.stop(waiting)
    assert manager.snapshot(waiting).status is JobStatus.CANCELLED
    manager.stop(running)
    assert manager.wait(running, timeout=WAIT).status is JobStatus.STOPPED
    assert manager.active_count() == (0, 0)


def test_save_failure_keeps_model(small_mnist, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the models folder should be")
    manager = JobManager(ModelStore(blocker), max_jobs=1, data_loader=lambda: small_mnist)
    done = manager.wait(manager.submit(QUICK), timeout=WAIT)
    assert done.status is JobStatus.FINISHED and done.ref is None
    assert "could not save" in done.save_error
    assert done.model is not None and done.test_accuracy > 0.3


@pytest.mark.parametrize("in_room", [True, False], ids=["room", "fit"])
def test_failed_job_frees_its_slot(models_dir, in_room):
    def broken_loader():
        raise OSError("disk on fire")

    manager = JobManager(ModelStore(models_dir), max_jobs=1, data_loader=broken_loader,
                         room=ThreadExecutor(broken_loader) if in_room else None)
    failed = manager.wait(manager.submit(QUICK), timeout=WAIT)
    assert failed.status is JobStatus.FAILED and "disk on fire" in failed.error
    assert manager.active_count() == (0, 0)


@pytest.mark.parametrize(("raw", "expected"), [("3", 3), ("1", 1)])
def test_max_jobs_from_env(monkeypatch, raw, expected):
    monkeypatch.setenv("MNIST_MAX_TRAINING_JOBS", raw)
    assert default_max_jobs() == expected


@pytest.mark.parametrize("raw", ["0", "many"])
def test_max_jobs_env_rejects(monkeypatch, raw):
    monkeypatch.setenv("MNIST_MAX_TRAINING_JOBS", raw)
    with pytest.raises(ConfigError, match="MNIST_MAX_TRAINING_JOBS must be a positive integer"):
        default_max_jobs()


def test_max_jobs_default_from_cpu_count(monkeypatch):
    monkeypatch.delenv("MNIST_MAX_TRAINING_JOBS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert default_max_jobs() == 4


def tensorflow_thread_niceness() -> list[int]:
    """The OS niceness of this process's TensorFlow threads (Linux)."""
    import os
    from pathlib import Path

    values = []
    for task in Path("/proc/self/task").iterdir():
        try:
            if (task / "comm").read_text().startswith("tf_"):
                values.append(os.getpriority(os.PRIO_PROCESS, int(task.name)))
        except OSError:
            continue
    return values


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux /proc only")
def test_training_threads_give_way_to_drawings(manager):
    """A server-side run lowers TensorFlow's threads to niceness 10 (tf_setup), so that
    predictions and page updates are scheduled first while it trains."""
    done = manager.wait(manager.submit(QUICK), timeout=WAIT)
    assert done.status is JobStatus.FINISHED
    niceness = tensorflow_thread_niceness()
    assert niceness and min(niceness) >= 10, niceness
