"""mnist_core.ray_backend: the room's runs trained by Ray actors (a local Ray, no network)."""

from __future__ import annotations

import os
import signal
import socket
import time

import numpy as np
import pytest

from mnist_core.config import TrainConfig
from mnist_core.errors import BackendError
from mnist_core.executors import ThreadExecutor
from mnist_core.jobs import JobManager, JobStatus
from mnist_core.store import ModelStore

ray = pytest.importorskip("ray")

WAIT = 180  # s: the first run also starts two actors (each imports TensorFlow)
QUICK = TrainConfig(epochs=2, train_limit=1000, test_limit=200, seed=3)
LONG = TrainConfig(epochs=100, train_limit=1000, test_limit=200)


@pytest.fixture(scope="module")
def ray_executor(small_mnist):
    """Two RoomActors on a Ray started for these tests (2 CPUs, this machine only)."""
    from mnist_core.ray_backend import RayExecutor, connect

    connect(None)
    executor = RayExecutor(workers=2, data_loader=lambda: small_mnist, progress_interval=0)
    yield executor
    executor.close()
    ray.shutdown()


@pytest.fixture
def manager(ray_executor, models_dir, small_mnist):
    manager = JobManager(ModelStore(models_dir), data_loader=lambda: small_mnist,
                         room=ray_executor)
    yield manager


def test_a_ray_run_equals_a_local_run_of_the_same_seed(manager, models_dir, small_mnist):
    job_id = manager.submit(QUICK, owner="alice")
    remote = manager.wait(job_id, timeout=WAIT)
    assert remote.status is JobStatus.FINISHED, remote.error
    assert len(remote.epoch_points) == 2 and remote.batch_points  # progress came back
    model = manager.model(job_id)  # saved by the web server's store, loaded from disk
    assert model.count_params() == 101_770
    predictions = model.predict(small_mnist.x_test[:200], verbose=0).argmax(axis=1)
    assert np.mean(predictions == small_mnist.y_test[:200]) == pytest.approx(
        remote.test_accuracy, abs=1e-6)

    local = JobManager(ModelStore(models_dir), data_loader=lambda: small_mnist,
                       room=ThreadExecutor(lambda: small_mnist))
    here = local.wait(local.submit(QUICK, owner="bob"), timeout=WAIT)
    local.close()
    assert remote.test_accuracy == pytest.approx(here.test_accuracy, abs=0.011)  # 2 of 200
    np.testing.assert_allclose([p.loss for p in remote.epoch_points],
                               [p.loss for p in here.epoch_points], rtol=1e-3)


def test_stop_reaches_the_ray_worker(manager):
    job_id = manager.submit(LONG, owner="alice")
    deadline = time.monotonic() + WAIT
    while not manager.snapshot(job_id).epoch_points:
        assert time.monotonic() < deadline, "no progress from the Ray worker"
        time.sleep(0.05)
    manager.stop(job_id)
    stopped = manager.wait(job_id, timeout=WAIT)
    assert stopped.status is JobStatus.STOPPED
    assert 1 <= stopped.epochs_completed < LONG.epochs and stopped.ref is not None


def test_a_killed_worker_fails_only_its_run(manager, ray_executor):
    job_id = manager.submit(LONG, owner="alice")
    deadline = time.monotonic() + WAIT
    while not manager.snapshot(job_id).batch_points:
        assert time.monotonic() < deadline, "no progress from the Ray worker"
        time.sleep(0.05)
    with ray_executor._lock:
        host = ray_executor._where[job_id]
    os.kill(ray.get(host.actor.pid.remote()), signal.SIGKILL)
    failed = manager.wait(job_id, timeout=WAIT)
    assert failed.status is JobStatus.FAILED
    assert "Ray worker training this run stopped unexpectedly" in failed.error
    after = manager.wait(manager.submit(QUICK, owner="bob"), timeout=WAIT)
    assert after.status is JobStatus.FINISHED, after.error  # a fresh actor took its place


def test_an_unreachable_cluster_is_one_clear_message_at_once():
    from mnist_core.ray_backend import reachable

    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(BackendError, match=f"Ray cluster at 127.0.0.1:{port} cannot be reached"):
        reachable(f"127.0.0.1:{port}", timeout=1)
    assert time.monotonic() - started < 5  # not Ray's minutes of retries


def free_address() -> str:
    """host:port where nothing listens."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{free.getsockname()[1]}"


def test_a_cluster_that_is_not_there_falls_back_to_this_server(models_dir, small_mnist,
                                                               monkeypatch):
    address = free_address()
    monkeypatch.setenv("MNIST_TRAINING_BACKEND", "ray")
    monkeypatch.setenv("RAY_ADDRESS", address)
    manager = JobManager(ModelStore(models_dir), data_loader=lambda: small_mnist)
    assert isinstance(manager.room, ThreadExecutor)  # MNIST_TRAINING_WORKERS=0 in tests
    assert manager.backend_note.startswith("Training on this server instead of Ray: ")
    assert f"the Ray cluster at {address} cannot be reached" in manager.backend_note
    done = manager.wait(manager.submit(QUICK, owner="alice"), timeout=WAIT)
    assert done.status is JobStatus.FINISHED
    manager.close()


def test_the_app_trains_on_ray(ray_executor, models_dir, monkeypatch):
    """MNIST_TRAINING_BACKEND=ray: a run started on the Train tab trains on a Ray actor."""
    from mnist_core import ray_backend
    from tests.test_app import keyed, new_app, train_to_the_end

    ray_executor.close()  # its two actors hold both CPUs of the test's Ray: the app needs them
    monkeypatch.setenv("MNIST_TRAIN_LIMIT", "2000")
    monkeypatch.setenv("MNIST_TRAINING_BACKEND", "ray")
    added = []
    original = ray_backend.RayExecutor.add
    monkeypatch.setattr(ray_backend.RayExecutor, "add",
                        lambda self, job_id, config, save_to=None: (
                            added.append(config), original(self, job_id, config, save_to)))
    at = new_app("train")
    train_to_the_end(at)
    assert [config.epochs for config in added] == [1]  # it went to the Ray actors
    assert keyed(at, "test_accuracy") is not None and not at.error
    assert len(list((models_dir / "runs").glob("*.keras"))) == 1  # saved here, as always


def test_the_cli_trains_on_ray(tmp_path):
    """`train --backend ray` in a process of its own starts a Ray and trains on an actor."""
    from tests.test_cli import run_cli

    out = tmp_path / "on-ray.keras"
    result = run_cli("train", "--backend", "ray", "--epochs", "1", "--limit", "1000",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Training on Ray" in result.stdout and "Epoch 1/1" in result.stdout
    assert out.is_file() and out.with_suffix(".json").is_file()
    refused = run_cli("train", "--backend", "ray", "--arch", "cnn", "--epochs", "1")
    assert refused.returncode != 0
    assert "the Ray backend trains the quickstart network" in refused.stderr


def test_ray_stays_out_of_a_local_server():
    """With the local backend nothing imports Ray (seconds of start-up, ~100 MB)."""
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    code = ("import sys; from pathlib import Path; import mnist_core.jobs as jobs, mnist_core.cli;"
            "from mnist_core.store import ModelStore; import tempfile;"
            "m = jobs.JobManager(ModelStore(Path(tempfile.mkdtemp())));"
            "print('ray' in sys.modules, type(m.room).__name__)")
    env = {**os.environ, "MNIST_TRAINING_BACKEND": "local"}
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False", "ThreadExecutor"], result.stderr


def test_a_ray_started_by_a_page_run_outlives_it():
    """Streamlit runs each page run in a thread that then ends: the Ray it started (the
    first page with MNIST_TRAINING_BACKEND=ray) must keep training afterwards."""
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    code = ("import threading, ray\n"
            "from mnist_core.ray_backend import connect\n"
            "page_run = threading.Thread(target=connect, args=(None,))\n"
            "page_run.start(); page_run.join()\n"
            "print(ray.get(ray.remote(lambda: 'trained').remote(), timeout=60))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=180)
    assert result.stdout.split()[-1:] == ["trained"], result.stderr[-2000:]
