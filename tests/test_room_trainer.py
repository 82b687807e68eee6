"""mnist_core.room_trainer: runs trained together stay each their own (stop, pause, join)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mnist_core.config import TrainConfig
from mnist_core.evaluate import predict_logits
from mnist_core.room_trainer import (
    Failed,
    Finished,
    Held,
    Progress,
    RoomWorker,
    SaveTo,
    stackable,
)
from mnist_core.store import ModelStore
from mnist_core.training import train

CONFIG = TrainConfig(epochs=2, batch_size=16, train_limit=1000, test_limit=200)  # 63 steps


class Room:
    """A RoomWorker in this thread and what it emitted, per run."""

    def __init__(self, data) -> None:
        self.events: list = []
        self.worker = RoomWorker(self.events.append, lambda: data, progress_interval=0)

    def of(self, job_id: str, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind) and e.job_id == job_id]

    def outcome(self, job_id: str):
        ended = self.of(job_id, Finished)
        return ended[0].outcome if ended else None

    def work_until(self, condition, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            if not self.worker.work():
                time.sleep(0.01)


@pytest.fixture
def room(small_mnist) -> Room:
    return Room(small_mnist)


def test_a_run_in_a_group_trains_as_it_does_alone(room, small_mnist):
    """Three runs share one computation; each one's curve is the curve it has alone."""
    configs = {f"run{seed}": TrainConfig(epochs=2, dropout=0.1 * seed, seed=seed,
                                        train_limit=1000, test_limit=200) for seed in range(3)}
    for job_id, config in configs.items():
        room.worker.add(job_id, config)
    room.worker.run_alone()
    for job_id, config in configs.items():
        alone = train(config, small_mnist)
        together = room.outcome(job_id)
        np.testing.assert_allclose(together.history["loss"], alone.history["loss"], rtol=1e-4)
        np.testing.assert_allclose(together.history["val_accuracy"],
                                   alone.history["val_accuracy"], atol=0.006)  # 1 of 200
        assert together.epochs_completed == 2 and not together.stopped


def test_stop_and_pause_act_on_one_run_only(room):
    for job_id in ("a", "b", "c"):
        room.worker.add(job_id, CONFIG.__class__(**{**CONFIG.to_dict(), "epochs": 50}))
    room.work_until(lambda: room.of("a", Progress))
    room.worker.command("a", "pause")
    room.work_until(lambda: room.of("a", Held))
    held_at = room.of("a", Progress)[-1].event
    assert held_at.paused and held_at.peek is not None
    room.worker.command("b", "stop")
    b_reports = len(room.of("c", Progress))
    room.work_until(lambda: room.outcome("b") is not None and
                    len(room.of("c", Progress)) > b_reports + 5)
    assert room.outcome("b").stopped and room.outcome("b").epochs_completed < 50
    assert room.of("a", Progress)[-1].event == held_at  # a held meanwhile: no progress
    assert room.worker.runs["a"].gate.paused
    room.worker.command("a", "step", 1)  # one report more, then held again
    room.work_until(lambda: len(room.of("a", Held)) >= 3)
    assert [h.held for h in room.of("a", Held)] == [True, False, True]
    room.worker.command("a", "stop")
    room.worker.command("c", "stop")
    room.work_until(lambda: not room.worker.busy)
    assert room.outcome("a").stopped and room.outcome("c").stopped


def test_a_stopped_run_reports_its_part_epoch_as_fit_does(room):
    room.worker.add("a", CONFIG)
    room.work_until(lambda: room.of("a", Progress))  # after its first chunk (63 steps of 63)
    # 250 steps an epoch, reported every 128 steps: the stop lands mid-epoch 2.
    room.worker.add("b", TrainConfig(epochs=20, batch_size=8, test_limit=200))
    room.work_until(lambda: any(e.event.epoch == 2 for e in room.of("b", Progress)))
    room.worker.command("b", "stop")
    room.worker.run_alone()
    stopped = room.outcome("b")
    assert stopped.stopped and stopped.epochs_completed == 1
    assert len(stopped.history["loss"]) == 2  # epoch 1 and the part of epoch 2
    assert room.outcome("a").epochs_completed == 2 and not room.outcome("a").stopped


def test_a_run_joining_mid_way_finishes_with_its_own_epochs(room, small_mnist):
    first = TrainConfig(epochs=4, batch_size=16, seed=1, train_limit=1000, test_limit=200)
    late = TrainConfig(epochs=2, batch_size=16, seed=2, dropout=0.5, train_limit=600,
                       test_limit=200)
    room.worker.add("first", first)
    room.work_until(lambda: any(e.event.kind == "epoch" for e in room.of("first", Progress)))
    room.worker.add("late", late)  # joins at the next chunk, with another training-set size
    room.worker.run_alone()
    assert len(room.outcome("first").history["loss"]) == 4
    joined = room.outcome("late")
    assert joined.epochs_completed == 2 and len(joined.history["loss"]) == 2
    epochs = [e.event.epoch for e in room.of("late", Progress) if e.event.kind == "epoch"]
    assert epochs == [1, 2]
    assert room.of("late", Progress)[0].event.steps_per_epoch == 38  # 600 / 16
    alone = train(late, small_mnist)
    np.testing.assert_allclose(joined.history["loss"], alone.history["loss"], rtol=1e-4)


def test_runs_that_cannot_stack_are_refused_with_a_reason(room):
    assert not stackable(TrainConfig(arch="cnn")) and not stackable(TrainConfig(augment=True))
    room.worker.add("cnn", TrainConfig(arch="cnn"))
    assert "only the quickstart MLP" in room.of("cnn", Failed)[0].message
    assert not room.worker.busy


def test_a_data_failure_fails_the_run_and_nothing_else():
    calls = []

    def loader():
        calls.append(1)
        raise OSError("no data today")

    room = Room(None)
    room.worker.data_loader = loader
    room.worker.add("a", CONFIG)
    assert "no data today" in room.of("a", Failed)[0].message and not room.worker.busy


def test_an_idle_worker_compiles_the_group_sizes_ahead(room):
    """Between runs a worker compiles the stacked loop for each group size (1, 2, 4, 8) of
    the default settings, then saves a blank model once: a burst of runs then needs no
    compiling, and its first save no building."""
    room.worker.add("a", CONFIG)
    room.worker.run_alone()
    assert room.worker._saving._saver is None
    assert [room.worker.warm_up() for _ in range(6)] == [True] * 5 + [False]
    assert room.worker._saving._saver is not None


def test_a_fresh_worker_loads_the_data_before_its_first_run(room):
    """A worker process started with the room's first run loads MNIST while idle, so the
    burst that follows does not wait for it (it did: 2.2 s for the second worker)."""
    assert room.worker._data is None
    assert room.worker.warm_up() and room.worker._data is not None
    assert room.worker.warm_up()  # then the first group size compiles


def test_a_fresh_worker_traces_its_test_pass_while_idle(mnist):
    """The first test pass of a worker traced the evaluation (0.3 s, on the last run of a
    room's burst to reach it): warming traces it, so the run that follows traces nothing."""
    from mnist_core.stacked import _evaluate

    data = mnist.limit(1000, 173)  # a test set no other test evaluates: a shape not traced
    room = Room(data)
    before = _evaluate.experimental_get_tracing_count()
    assert room.worker.warm_up()  # the data, and the test pass traced
    assert _evaluate.experimental_get_tracing_count() == before + 1
    room.worker.add("a", TrainConfig(epochs=1, batch_size=16, train_limit=1000))
    room.worker.run_alone()
    assert room.outcome("a").epochs_completed == 1
    assert _evaluate.experimental_get_tracing_count() == before + 1


def test_a_worker_without_data_stops_warming_and_the_run_says_why():
    room = Room(None)
    room.worker.data_loader = lambda: (_ for _ in ()).throw(OSError("no data today"))
    assert not room.worker.warm_up() and not room.worker.warm_up()
    room.worker.add("a", CONFIG)
    assert "no data today" in room.of("a", Failed)[0].message


def test_a_worker_saves_the_runs_it_is_given_a_folder_for(room, tmp_path, small_mnist):
    """A run with a SaveTo is saved by its worker, in a thread (the group trains on), as
    the server saves it: a quickstart model and its owner; the worker is busy until then."""
    store = ModelStore(tmp_path)
    room.worker.add("saved", CONFIG, save_to=SaveTo(str(tmp_path), "alice"))
    room.worker.add("passed", CONFIG)  # its Finished carries the weights: the server saves
    room.worker.run_alone()
    saved, passed = room.of("saved", Finished), room.of("passed", Finished)
    assert len(saved) == 1 and saved[0].ref is not None and saved[0].save_error is None
    assert passed[0].ref is None and passed[0].save_error is None
    assert [info.ref for info in store.list_models()] == [saved[0].ref]
    metadata = store.read_metadata(saved[0].ref)
    assert metadata.owner == "alice" and metadata.config == CONFIG
    model = store.load(saved[0].ref)
    assert model.count_params() == 101_770
    accuracy = np.mean(predict_logits(model, small_mnist.x_test[:200]).argmax(1)
                       == small_mnist.y_test[:200])
    assert accuracy == pytest.approx(saved[0].outcome.test_accuracy, abs=1e-6)


def test_a_run_its_worker_cannot_save_ends_with_why(room, tmp_path):
    """A worker that cannot save a run (here its folder is a file) still ends it, with its
    weights and the reason: the server then saves it, or keeps it in memory."""
    not_a_folder = tmp_path / "models"
    not_a_folder.write_text("a file")
    room.worker.add("a", CONFIG, save_to=SaveTo(str(not_a_folder), "alice"))
    room.worker.run_alone()
    ended = room.of("a", Finished)[0]
    assert ended.ref is None and "could not save the model" in ended.save_error
    assert ended.outcome.epochs_completed == 2 and len(ended.outcome.weights) == 4
