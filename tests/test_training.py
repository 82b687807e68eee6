"""mnist_core.training: short runs on real slices learn, report, stop and repeat."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mnist_core.config import TrainConfig
from mnist_core.errors import ConfigError
from mnist_core.evaluate import predict_logits
from mnist_core.settings import train_limit as train_limit_from_env
from mnist_core.training import CONVERT_CHUNK, PauseGate, as_tensor, train


@pytest.fixture(scope="module")
def short_run(small_mnist):
    events = []
    result = train(TrainConfig(epochs=2), small_mnist, progress=events.append,
                   progress_interval=0.0)
    return result, events


def test_short_run_learns(short_run):
    result, _ = short_run
    assert result.test_accuracy > 0.75  # chance is 0.10
    assert result.history["loss"][1] < result.history["loss"][0]
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.epochs_completed == 2 and not result.stopped


def test_progress_reports_batches_and_epochs(short_run):
    _, events = short_run
    epochs = [event for event in events if event.kind == "epoch"]
    batches = [event for event in events if event.kind == "batch"]
    assert [event.epoch for event in epochs] == [1, 2]
    assert all(event.val_accuracy is not None for event in epochs)
    assert batches and all(0 < event.step <= event.steps_per_epoch for event in batches)
    assert epochs[-1].fraction_done == 1.0 and epochs[-1].seconds_left == 0.0


def test_progress_is_throttled(small_mnist):
    events = []
    train(TrainConfig(epochs=1, batch_size=8), small_mnist, progress=events.append,
          progress_interval=60.0)
    # 250 steps, but at most one batch report per minute (plus the epoch report).
    assert [event.kind for event in events] == ["batch", "epoch"]


def test_stop_request_keeps_weights(small_mnist):
    stop = threading.Event()

    def stop_in_epoch_two(event):
        if event.epoch == 2:
            stop.set()

    # 250 steps an epoch, reported every 128 steps: the stop lands mid-epoch 2.
    result = train(TrainConfig(epochs=20, batch_size=8), small_mnist,
                   progress=stop_in_epoch_two, stop=stop, progress_interval=0.0)
    assert result.stopped
    assert result.epochs_completed == 1
    assert len(result.history["loss"]) == 2  # epoch 1 and the partial epoch 2
    assert result.test_accuracy > 0.5  # the weights learned so far are kept


def test_same_seed_same_result(small_mnist):
    config = TrainConfig(epochs=1, train_limit=500, test_limit=100, seed=7)
    first, second = train(config, small_mnist), train(config, small_mnist)
    np.testing.assert_allclose(first.history["loss"], second.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(
        predict_logits(first.model, small_mnist.x_test[:20]),
        predict_logits(second.model, small_mnist.x_test[:20]),
        rtol=1e-4, atol=1e-5,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be between 1 and 100, got 0"),
        ({"epochs": 2.5}, "epochs must be an integer, got 2.5"),
        ({"batch_size": 0}, "batch_size must be between 1 and 4096, got 0"),
        ({"dropout": 1.5}, r"dropout must be in \[0, 1\), got 1.5"),
        ({"train_limit": 0}, "train_limit must be between 1 and 10000000, got 0"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_config_round_trip():
    config = TrainConfig(epochs=3, dropout=0.5, train_limit=100)
    assert TrainConfig.from_dict({**config.to_dict(), "future_field": 1}) == config


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("2000", 2000), (" 64 ", 64)])
def test_train_limit_from_env(monkeypatch, raw, expected):
    monkeypatch.setenv("MNIST_TRAIN_LIMIT", raw)
    assert train_limit_from_env() == expected


@pytest.mark.parametrize("raw", ["lots", "0", "-5"])
def test_train_limit_from_env_rejects(monkeypatch, raw):
    monkeypatch.setenv("MNIST_TRAIN_LIMIT", raw)
    with pytest.raises(ConfigError, match="MNIST_TRAIN_LIMIT must be a positive integer"):
        train_limit_from_env()


@pytest.mark.slow
def test_full_quickstart_reaches_seed_accuracy(mnist):
    """The real quickstart: 5 epochs on all 60,000 images, >= 97.5% on the test set."""
    result = train(TrainConfig(epochs=5, dropout=0.2), mnist)
    assert result.test_accuracy >= 0.975
    assert result.history["accuracy"][-1] >= 0.97


@pytest.mark.parametrize("count", [1, CONVERT_CHUNK - 1, CONVERT_CHUNK, CONVERT_CHUNK + 1,
                                   2 * CONVERT_CHUNK + 500])
def test_arrays_become_tensors_slice_by_slice_unchanged(small_mnist, count):
    images = np.resize(small_mnist.x_train, (count, 28, 28))  # (count, 28, 28) float32
    labels = np.resize(small_mnist.y_train, count)  # (count,) uint8
    for array in (images, labels):
        tensor = as_tensor(array)
        assert tensor.dtype == array.dtype and tuple(tensor.shape) == array.shape
        np.testing.assert_array_equal(np.asarray(tensor), array)


def run_in_thread(config, data, gate, events):
    """Train in a thread (as the server's trainer does); the thread, and where results go."""
    results = []
    thread = threading.Thread(target=lambda: results.append(
        train(config, data, progress=events.append, gate=gate, progress_interval=0)))
    thread.start()
    return thread, results


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_paused_run_holds_uses_no_cpu_and_resumes_to_the_same_model(small_mnist):
    config = TrainConfig(epochs=2, batch_size=8, seed=7)
    gate, events = PauseGate(), []
    gate.pause()
    thread, results = run_in_thread(config, small_mnist, gate, events)
    wait_for(lambda: any(event.paused for event in events))
    held = len(events)
    cpu = time.process_time()
    time.sleep(1.0)
    assert time.process_time() - cpu < 0.2  # held: no training
    assert len(events) == held  # and no progress
    assert gate.paused
    gate.step()  # one report more, then held again
    wait_for(lambda: len(events) >= held + 2 and events[-1].paused)
    assert events[-1].peek is not None and events[-1].peek.units.shape == (6, 28, 28)
    gate.resume()
    thread.join(timeout=120)
    alone = train(config, small_mnist)
    for paused_weights, plain in zip(results[0].model.get_weights(), alone.model.get_weights(),
                                     strict=True):
        np.testing.assert_allclose(paused_weights, plain, rtol=1e-6, atol=1e-6)
    assert results[0].history == alone.history


def test_a_paused_run_still_stops(small_mnist):
    gate, events = PauseGate(), []
    gate.pause()
    stop = threading.Event()
    results = []
    thread = threading.Thread(target=lambda: results.append(
        train(TrainConfig(epochs=5, batch_size=8), small_mnist, progress=events.append,
              stop=stop, gate=gate, progress_interval=0)))
    thread.start()
    wait_for(lambda: any(event.paused for event in events))
    started = time.monotonic()
    stop.set()
    thread.join(timeout=30)
    assert time.monotonic() - started < 2 and results[0].stopped


def test_each_epoch_reports_the_watched_units_and_digit(small_mnist):
    events = []
    train(TrainConfig(epochs=2), small_mnist, progress=events.append)
    peeks = [event.peek for event in events if event.kind == "epoch"]
    assert len(peeks) == 2 and all(peek is not None for peek in peeks)
    assert not np.allclose(peeks[0].units, peeks[1].units)  # the templates change
    np.testing.assert_allclose(peeks[1].probabilities.sum(), 1.0, rtol=1e-5)


def test_a_run_the_compiled_loop_cannot_take_fails_with_its_reason(small_mnist):
    """train_compiled passes a worker's Failed event on as an error, with its message."""
    from mnist_core.errors import MnistStudioError
    from mnist_core.training import train_compiled

    with pytest.raises(MnistStudioError, match="the room trains only the quickstart MLP"):
        train_compiled(TrainConfig(epochs=1, arch="cnn"), small_mnist)
