"""mnist_core.jobs under faults: a read-only folder, any exception in a worker, data that
never comes, and what a finished run keeps in memory."""

from __future__ import annotations

import errno
import gc
import os
import shutil
import subprocess
import threading
import time
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_core import jobs as jobs_module
from mnist_core import room_trainer
from mnist_core.evaluate import predict_logits
from mnist_core.executors import ThreadExecutor
from mnist_core.jobs import JobManager, JobStatus
from mnist_core.stacked import Stack
from mnist_core.store import ModelStore
from mnist_core.training import TrainConfig

WAIT = 60  # seconds; a 1-epoch run on 1,000 images takes about one
QUICK = TrainConfig(epochs=1, train_limit=1000, test_limit=200)


def read_only_error(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system")


def mount_read_only_tmpfs(folder: Path) -> bool:
    """Mount an empty tmpfs (with runs/ in it) on `folder`, then make it read-only."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "none", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        return False
    (folder / "runs").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
    return True


@pytest.fixture(params=["tmpfs", "simulated"])
def read_only_models(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder (with runs/) on which every write fails with EROFS: a real read-only
    tmpfs where mounting is allowed, else model.save and unlink raising EROFS."""
    folder = tmp_path / "read-only-models"
    folder.mkdir()
    if request.param == "tmpfs":
        if not mount_read_only_tmpfs(folder):
            pytest.skip("cannot mount a tmpfs here")
        request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(folder)]))
        with pytest.raises(OSError, match="Read-only file system"):
            (folder / "runs" / "probe").write_text("x")
    else:
        (folder / "runs").mkdir()
        monkeypatch.setattr(keras.Model, "save", read_only_error)
        monkeypatch.setattr(os, "unlink", read_only_error)  # Path.unlink calls os.unlink
        monkeypatch.setattr(os, "remove", read_only_error)
    return folder


@pytest.mark.parametrize("in_room", [True, False], ids=["room", "fit"])
def test_read_only_models_folder_never_wedges_the_trainer(read_only_models, small_mnist,
                                                          in_room):
    """Saving fails with EROFS (and so does the clean-up): each run still finishes, says
    why it was not saved, keeps its model, and frees the slot for the next one."""
    manager = JobManager(ModelStore(read_only_models), max_jobs=1,
                         data_loader=lambda: small_mnist,
                         room=ThreadExecutor(lambda: small_mnist) if in_room else None)
    job_ids = [manager.submit(QUICK, owner=owner) for owner in ("alice", "bob")]
    for job_id in job_ids:
        done = manager.wait(job_id, timeout=WAIT)
        assert done.status is JobStatus.FINISHED, (done.status, done.queue_position)
        assert done.ref is None and "Read-only file system" in done.save_error
        assert "could not save the model" in done.save_error
        assert done.model is not None and manager.model(job_id) is done.model
    assert manager.active_count() == (0, 0)


def raise_in(place: str, exception: BaseException, monkeypatch: pytest.MonkeyPatch,
             in_room: bool = False) -> None:
    """Make the worker raise `exception` while training (fit's train, or the room's
    stacked step) or while saving."""

    def boom(*args, **kwargs):
        raise exception

    if place == "training" and in_room:
        monkeypatch.setattr(Stack, "train", boom)
    else:
        monkeypatch.setattr(jobs_module, "train" if place == "training" else "save_result",
                            boom)


@pytest.mark.parametrize(
    ("place", "exception", "status", "message"),
    [
        ("training", RuntimeError("boom in training"), JobStatus.FAILED,
         "RuntimeError: boom in training"),
        ("training", SystemExit(3), JobStatus.FAILED, "SystemExit"),
        ("saving", RuntimeError("boom in saving"), JobStatus.FINISHED,
         "RuntimeError: boom in saving"),
        ("saving", KeyError("meta"), JobStatus.FINISHED, "KeyError"),
        ("saving", SystemExit(3), JobStatus.FAILED, "SystemExit"),
    ],
    ids=["training-error", "training-exit", "saving-error", "saving-keyerror", "saving-exit"],
)
@pytest.mark.parametrize("in_room", [True, False], ids=["room", "fit"])
def test_any_exception_in_a_worker_ends_the_job_and_frees_the_slot(
    models_dir, small_mnist, monkeypatch, place, exception, status, message, in_room
):
    manager = JobManager(ModelStore(models_dir), max_jobs=1, data_loader=lambda: small_mnist,
                         room=ThreadExecutor(lambda: small_mnist) if in_room else None)
    raise_in(place, exception, monkeypatch, in_room)
    first = manager.wait(manager.submit(QUICK), timeout=WAIT)
    assert first.status is status, first
    assert message in (first.error if status is JobStatus.FAILED else first.save_error)
    if status is JobStatus.FINISHED:
        assert first.ref is None and first.model is not None
    assert manager.active_count() == (0, 0)
    monkeypatch.undo()  # the next run is fine again and gets the slot
    second = manager.wait(manager.submit(QUICK), timeout=WAIT)
    assert second.status is JobStatus.FINISHED and second.ref is not None


def test_waiting_for_data_holds_no_training_slot(models_dir, small_mnist):
    """While MNIST is still loading (a slow download), the run waits in the queue: the
    slot is free, and a cancelled run never trains."""
    data_ready = threading.Event()

    def slow_loader():
        assert data_ready.wait(WAIT)
        return small_mnist

    manager = JobManager(ModelStore(models_dir), max_jobs=1, data_loader=slow_loader, room=None)
    first = manager.submit(QUICK)
    second = manager.submit(QUICK)
    time.sleep(0.5)
    assert manager.active_count() == (0, 2)
    assert manager.snapshot(first).status is JobStatus.QUEUED
    manager.stop(second)
    data_ready.set()
    assert manager.wait(first, timeout=WAIT).status is JobStatus.FINISHED
    assert manager.snapshot(second).status is JobStatus.CANCELLED
    assert manager.active_count() == (0, 0)


def test_data_that_fails_while_queued_fails_the_job_and_the_queue_moves_on(models_dir,
                                                                           small_mnist):
    calls = []

    def loader():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("no data today")
        return small_mnist

    manager = JobManager(ModelStore(models_dir), max_jobs=1, data_loader=loader, room=None)
    failed = manager.wait(manager.submit(QUICK), timeout=WAIT)
    assert failed.status is JobStatus.FAILED and "no data today" in failed.error
    assert failed.queue_position is None
    assert manager.wait(manager.submit(QUICK), timeout=WAIT).status is JobStatus.FINISHED
    assert manager.active_count() == (0, 0)


@pytest.fixture
def trained_models(monkeypatch) -> list[weakref.ref]:
    """Weak references to every model the manager's workers train."""
    refs: list[weakref.ref] = []
    real_train = jobs_module.train

    def recording_train(*args, **kwargs):
        result = real_train(*args, **kwargs)
        refs.append(weakref.ref(result.model))
        return result

    monkeypatch.setattr(jobs_module, "train", recording_train)
    return refs


def test_saved_runs_keep_no_model_in_memory(models_dir, small_mnist, trained_models):
    """After several saved runs the manager holds none of their Keras models; asked for
    one, it loads it from the saved file (the same predictions)."""
    manager = JobManager(ModelStore(models_dir), max_jobs=1, data_loader=lambda: small_mnist,
                         room=None)
    job_ids = [manager.submit(QUICK) for _ in range(4)]
    done = [manager.wait(job_id, timeout=WAIT) for job_id in job_ids]
    assert all(job.status is JobStatus.FINISHED and job.ref for job in done)
    assert all(job.model is None for job in manager.jobs())
    assert all(job.epoch_points and job.batch_points for job in manager.jobs())  # charts kept
    gc.collect()
    assert [ref() for ref in trained_models] == [None] * 4
    reloaded = manager.model(job_ids[-1])
    expected = predict_logits(manager.store.load(done[-1].ref), small_mnist.x_test[:20])
    np.testing.assert_allclose(predict_logits(reloaded, small_mnist.x_test[:20]), expected,
                               rtol=1e-5, atol=1e-5)


def test_unsaved_models_are_kept_but_capped(small_mnist, tmp_path, monkeypatch,
                                            trained_models):
    """Runs that could not be saved keep their models, only the newest few of them."""
    monkeypatch.setattr(jobs_module, "MAX_UNSAVED_MODELS", 2)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the models folder should be")
    manager = JobManager(ModelStore(blocker), max_jobs=1, data_loader=lambda: small_mnist,
                         room=None)
    job_ids = [manager.submit(QUICK) for _ in range(3)]
    for job_id in job_ids:
        done = manager.wait(job_id, timeout=WAIT)
        assert done.ref is None and "could not save" in done.save_error
    del done  # a snapshot holds the model it had when taken
    kept = [manager.snapshot(job_id).model is not None for job_id in job_ids]
    assert kept == [False, True, True]
    assert manager.model(job_ids[0]) is None  # not saved and no longer held: gone
    gc.collect()
    assert [ref() is not None for ref in trained_models] == [False, True, True]


def test_model_of_a_failed_or_unknown_job(models_dir, small_mnist, monkeypatch):
    manager = JobManager(ModelStore(models_dir), max_jobs=1, data_loader=lambda: small_mnist,
                         room=None)
    raise_in("training", RuntimeError("no model"), monkeypatch)
    failed = manager.wait(manager.submit(QUICK), timeout=WAIT)
    assert failed.status is JobStatus.FAILED and manager.model(failed.job_id) is None
    with pytest.raises(KeyError):
        manager.model("job-999")


def traced_custom_gradients() -> int:
    """How many graph-mode custom gradients TensorFlow holds in its global registry."""
    from tensorflow.python.framework import ops

    return sum(key.startswith("CustomGradient-") for key in ops.gradient_registry._registry)


def test_finished_runs_leave_no_traced_graphs_behind(models_dir, small_mnist):
    """TensorFlow registers a custom gradient for each traced optimizer step in a global
    registry (never removed): each pins its run's whole graph, ~6 MB. Once the trainer is
    idle, the ones its runs added are gone."""
    manager = JobManager(ModelStore(models_dir), max_jobs=1, data_loader=lambda: small_mnist,
                         room=None)
    manager.wait(manager.submit(QUICK), timeout=WAIT)
    before = traced_custom_gradients()
    for job_id in [manager.submit(QUICK) for _ in range(3)]:
        assert manager.wait(job_id, timeout=WAIT).status is JobStatus.FINISHED
    assert traced_custom_gradients() <= before


def test_room_results_are_converted_by_one_reused_model(models_dir, small_mnist, monkeypatch):
    """Forty runs of the room need not hold forty Keras models: one per width converts and
    saves them all, and what it saved is each run's own model."""
    built = []
    build = jobs_module.build_model
    monkeypatch.setattr(jobs_module, "build_model",
                        lambda **kwargs: (built.append(kwargs), build(**kwargs))[1])
    manager = JobManager(ModelStore(models_dir), max_jobs=4, data_loader=lambda: small_mnist,
                         room=ThreadExecutor(lambda: small_mnist))
    configs = [TrainConfig(epochs=1, dropout=dropout, learning_rate=rate, seed=seed,
                           train_limit=1000, test_limit=200)
               for seed, (dropout, rate) in enumerate(((0.0, 1e-3), (0.3, 3e-3), (0.5, 1e-3)))]
    done = [manager.wait(manager.submit(config), timeout=WAIT) for config in configs]
    assert all(job.status is JobStatus.FINISHED and job.ref for job in done)
    assert len(built) == 1 and not manager._saver._models  # its worker saved them all
    for job, config in zip(done, configs, strict=True):
        model = manager.store.load(job.ref)
        assert model.get_layer("dropout").rate == pytest.approx(config.dropout)
        assert manager.store.read_metadata(job.ref).config == config
        assert model.count_params() == 101_770
        accuracy = float(np.mean(predict_logits(model, small_mnist.x_test[:200]).argmax(1)
                                 == small_mnist.y_test[:200]))
        assert accuracy == pytest.approx(job.test_accuracy, abs=1e-6)
    manager.close()


def test_a_room_run_its_worker_could_not_save_is_saved_here(models_dir, small_mnist,
                                                            monkeypatch):
    """A worker that could not save a run sends its weights all the same: the server saves
    it as it saves a Ray host's runs."""

    def refuse(self):
        raise RuntimeError("no saving in this worker")

    monkeypatch.setattr(room_trainer._Saving, "_saver_now", refuse)
    manager = JobManager(ModelStore(models_dir), data_loader=lambda: small_mnist,
                         room=ThreadExecutor(lambda: small_mnist))
    done = manager.wait(manager.submit(QUICK, owner="alice"), timeout=WAIT)
    assert done.status is JobStatus.FINISHED and done.ref and done.save_error is None
    assert manager.store.read_metadata(done.ref).owner == "alice"
    assert manager._saver._models  # the server's saver made the model it saved
    manager.close()
