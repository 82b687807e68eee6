"""mnist_core.compare: run comparison reads the saved metadata."""

from __future__ import annotations

import pytest

from mnist_core.compare import history_rows, summarize
from mnist_core.jobs import save_result
from mnist_core.store import ModelStore
from mnist_core.training import TrainConfig, train


@pytest.fixture
def two_runs(models_dir, small_mnist):
    store = ModelStore(models_dir)
    refs = []
    for dropout in (0.0, 0.5):
        result = train(TrainConfig(epochs=2, dropout=dropout, train_limit=500, test_limit=100),
                       small_mnist)
        refs.append(save_result(store, result, ref=f"runs/dropout-{dropout}"))
    return store, refs


def test_summary_rows(two_runs):
    store, refs = two_runs
    rows = summarize(store, refs)
    assert [row.dropout for row in rows] == [0.0, 0.5]
    assert all(row.epochs == 2 and row.test_accuracy > 0.3 for row in rows)
    assert rows[0].test_accuracy == store.read_metadata(refs[0]).test_accuracy


def test_history_rows_long_form(two_runs):
    store, refs = two_runs
    rows = history_rows(store, refs)
    assert len(rows) == 2 * 4 * 2  # runs x series x epochs
    test_accuracy = [row["value"] for row in rows
                     if row["run"] == refs[1] and row["metric"] == "accuracy"
                     and row["split"] == "test"]
    assert test_accuracy == store.read_metadata(refs[1]).history["val_accuracy"]


def test_shipped_model_has_history():
    rows = history_rows(ModelStore(), ["quickstart"])
    assert {row["epoch"] for row in rows} == {1, 2, 3, 4, 5}
