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


def test_summary_gap_and_labels(two_runs):
    from mnist_core.compare import run_labels

    store, refs = two_runs
    rows = summarize(store, refs)
    assert rows[0].gap == pytest.approx(rows[0].train_accuracy - rows[0].test_accuracy)
    labels = run_labels(store, ["quickstart", *refs, "runs/gone"])
    assert labels["quickstart"] == "quickstart"
    assert labels[refs[0]] == "Run 1 · 2 epochs · dropout 0"  # numbered oldest first
    assert labels[refs[1]] == "Run 2 · 2 epochs · dropout 0.5"
    assert labels["runs/gone"] == "runs/gone"
    assert len(set(labels.values())) == len(labels)


def test_run_labels_are_unique(models_dir):
    import shutil

    from mnist_core.compare import run_labels

    runs = models_dir / "runs"
    runs.mkdir()
    for name in ("a", "b"):  # the same settings, and no model file: not numbered
        shutil.copy(models_dir / "quickstart.json", runs / f"{name}.json")
    labels = run_labels(ModelStore(models_dir), ["runs/a", "runs/b"])
    assert labels["runs/b"] == f"{labels['runs/a']} (2)"


def test_confusion_helpers():
    import numpy as np

    from mnist_core.compare import confusion_cells, top_confusions

    confusion = np.eye(10, dtype=np.int64) * 100
    confusion[4, 9], confusion[7, 2], confusion[3, 5] = 12, 7, 12
    assert top_confusions(confusion, 5) == [(3, 5, 12), (4, 9, 12), (7, 2, 7)]
    cells = confusion_cells(confusion)
    assert len(cells) == 100 and sum(cell["count"] for cell in cells) == confusion.sum()
    assert {"true": 4, "predicted": 9, "count": 12, "correct": False} in cells
    assert all(cell["correct"] == (cell["true"] == cell["predicted"]) for cell in cells)


def test_worst_mistakes_are_filtered_and_sorted(mnist):
    from mnist_core.compare import worst_mistakes
    from mnist_core.evaluate import evaluate

    evaluation = evaluate(ModelStore().load("quickstart"), mnist.x_test, mnist.y_test)
    everything = worst_mistakes(evaluation, mnist.y_test)
    assert sorted(everything) == sorted(evaluation.misclassified)
    confidences = evaluation.confidence[everything]
    assert all(confidences[:-1] >= confidences[1:])
    fours = worst_mistakes(evaluation, mnist.y_test, true_digit=4, predicted_digit=9)
    assert len(fours) > 0
    assert all(mnist.y_test[fours] == 4) and all(evaluation.predictions[fours] == 9)
