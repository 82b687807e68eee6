"""mnist_core.board: the room board rebuilt from the runs' metadata, capped, summarised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnist_core.board import board_entries, hidden_count, summarise
from mnist_core.config import TrainConfig
from mnist_core.errors import StoreFullError
from mnist_core.jobs import save_result
from mnist_core.store import ModelMetadata, ModelStore
from mnist_core.training import train


@pytest.fixture
def store(models_dir: Path) -> ModelStore:
    return ModelStore(models_dir)


def fake_run(store: ModelStore, name: str, owner: str, created: str, dropout: float = 0.2,
             test: float = 0.9, train_curve: tuple[float, ...] = (0.8, 0.95),
             train_limit: int | None = None) -> str:
    """A run as the trainer leaves it on disk (metadata beside a model file)."""
    ref = f"runs/{name}"
    path = store.resolve(ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not read by the board")
    meta = ModelMetadata(name=ref, config=TrainConfig(epochs=len(train_curve), dropout=dropout,
                                                      train_limit=train_limit),
                         test_accuracy=test, owner=owner, created=created,
                         epochs_completed=len(train_curve),
                         history={"accuracy": list(train_curve),
                                  "val_accuracy": [test] * len(train_curve)})
    path.with_suffix(".json").write_text(json.dumps(meta.to_dict()))
    return ref


def test_runs_of_several_owners_appear_shipped_models_do_not(store: ModelStore) -> None:
    fake_run(store, "a", "alice", "2026-12-01T10:00:00+00:00", dropout=0.0, test=0.86,
             train_curve=(0.9, 1.0), train_limit=500)
    fake_run(store, "b", "bob", "2026-12-01T10:01:00+00:00", dropout=0.5, test=0.88)
    entries = board_entries(store.list_models())
    assert [(entry.ref, entry.owner) for entry in entries] == [("runs/a", "alice"),
                                                              ("runs/b", "bob")]
    alice = entries[0]
    assert alice.train_images == 500 and alice.epochs == 2 and alice.dropout == 0.0
    assert alice.gap == pytest.approx(1.0 - 0.86)
    assert alice.train_curve == (0.9, 1.0) and alice.test_curve == (0.86, 0.86)
    assert entries[1].train_images == 60_000  # no limit: the whole training set


def test_board_is_rebuilt_from_disk_after_a_restart(store: ModelStore) -> None:
    fake_run(store, "a", "alice", "2026-12-01T10:00:00+00:00")
    before = board_entries(store.list_models())
    restarted = ModelStore(store.root)  # a new server process: nothing in memory
    assert board_entries(restarted.list_models()) == before


def test_fresh_start_hides_earlier_runs_and_keeps_them(store: ModelStore) -> None:
    fake_run(store, "old", "alice", "2026-12-01T10:00:00+00:00")
    fake_run(store, "new", "alice", "2026-12-01T11:00:00+00:00")
    entries = board_entries(store.list_models(), since="2026-12-01T10:30:00+00:00")
    assert [entry.ref for entry in entries] == ["runs/new"]
    assert store.resolve("runs/old").exists()


def test_each_participant_shows_their_newest_runs_only(store: ModelStore) -> None:
    for minute in range(5):
        fake_run(store, f"a{minute}", "alice", f"2026-12-01T10:0{minute}:00+00:00")
    fake_run(store, "b", "bob", "2026-12-01T09:00:00+00:00")
    entries = board_entries(store.list_models(), per_owner=3)
    assert [entry.ref for entry in entries] == ["runs/b", "runs/a2", "runs/a3", "runs/a4"]
    assert hidden_count(store.list_models(), "alice", per_owner=3) == 2
    assert hidden_count(store.list_models(), "bob", per_owner=3) == 0


def test_summary_names_the_best_run_and_what_dropout_did(store: ModelStore) -> None:
    fake_run(store, "a", "alice", "2026-12-01T10:00:00+00:00", dropout=0.0, test=0.85,
             train_curve=(1.0,))
    fake_run(store, "b", "bob", "2026-12-01T10:01:00+00:00", dropout=0.0, test=0.87,
             train_curve=(1.0,))
    fake_run(store, "c", "carol", "2026-12-01T10:02:00+00:00", dropout=0.5, test=0.88,
             train_curve=(0.92,))
    summary = summarise(board_entries(store.list_models()))
    assert summary.runs == 3 and summary.people == 3
    assert summary.best.ref == "runs/c"
    trend = summary.trend
    assert (trend.low, trend.high, trend.runs_low, trend.runs_high) == (0.0, 0.5, 2, 1)
    assert trend.test_low == pytest.approx(0.86) and trend.test_high == pytest.approx(0.88)
    assert trend.gap_low == pytest.approx(0.14) and trend.gap_high == pytest.approx(0.04)
    assert summarise([]).best is None and summarise([]).trend is None


def test_a_broken_metadata_file_never_breaks_the_board(store: ModelStore) -> None:
    fake_run(store, "good", "alice", "2026-12-01T10:00:00+00:00")
    ref = fake_run(store, "bad", "bob", "2026-12-01T10:00:00+00:00")
    store.resolve(ref).with_suffix(".json").write_text("{not json")
    assert [entry.ref for entry in board_entries(store.list_models())] == ["runs/good"]


def test_a_small_set_is_memorised_train_accuracy_pulls_away(small_mnist) -> None:
    """Overfitting on purpose: 500 images, no dropout, many epochs."""
    config = TrainConfig(epochs=15, dropout=0.0, train_limit=500, seed=0)
    result = train(config, small_mnist)
    train_accuracy = result.history["accuracy"][-1]
    assert train_accuracy >= 0.99
    assert train_accuracy - result.test_accuracy >= 0.08, (train_accuracy, result.test_accuracy)


def test_the_runs_folder_limit_refuses_a_save_with_a_message(
        store: ModelStore, small_mnist, monkeypatch: pytest.MonkeyPatch) -> None:
    result = train(TrainConfig(epochs=1, train_limit=500, test_limit=100), small_mnist)
    saved = 0
    while store.runs_bytes() <= 2**20:  # ~0.4 MB a run
        save_result(store, result, owner=f"p{saved}")
        saved += 1
    monkeypatch.setenv("MNIST_RUNS_FOLDER_MB", "1")
    with pytest.raises(StoreFullError, match=r"runs folder is full .* MNIST_RUNS_FOLDER_MB"):
        save_result(store, result, owner="alice")
    assert len(board_entries(store.list_models())) == saved
    assert not list(store.runs_dir.glob(".tmp-*"))  # the reservation was released
