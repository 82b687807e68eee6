"""mnist_core.naming: one rounding for every figure, run names a person can say."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_core.config import TrainConfig
from mnist_core.naming import describe_run, number_repeats, percent, run_numbers, run_stem
from mnist_core.store import ModelInfo, ModelMetadata


@pytest.mark.parametrize(("value", "expected"), [
    (np.float32(0.9565), "95.7%"),  # Keras' float32 val_accuracy: 0.95649999...
    (0.9565, "95.7%"),  # the same figure counted from predictions
    (0.97710001, "97.7%"), (1.0, "100.0%"), (0.0, "0.0%"), (None, "-"),
])
def test_percent_rounds_each_figure_one_way(value, expected):
    assert percent(value) == expected


def metadata(created: str, **config) -> ModelMetadata:
    return ModelMetadata(name="", config=TrainConfig(**config), created=created)


def test_runs_are_named_as_people_say_them():
    named = describe_run(metadata("x", epochs=5, dropout=0.2), 3)
    assert named == "Run 3 · 5 epochs · dropout 0.2"
    stopped = metadata("x", epochs=20)
    stopped.stopped, stopped.epochs_completed = True, 3
    assert describe_run(stopped, 1) == "Run 1 · 3 epochs · dropout 0.2 · stopped"
    cnn = describe_run(metadata("x", arch="cnn", epochs=1, dropout=0.0), 2)
    assert cnn == "Run 2 · convolutional network · 1 epoch · dropout 0"


def test_run_numbers_count_from_the_oldest_and_skip_shipped(tmp_path):
    infos = [ModelInfo("runs/b", tmp_path, False, metadata("2026-12-01T10:00")),
             ModelInfo("runs/a", tmp_path, False, metadata("2026-12-01T09:00")),
             ModelInfo("quickstart", tmp_path, True, metadata("2020-01-01T00:00"))]
    assert run_numbers(infos) == {"runs/a": 1, "runs/b": 2}


def test_repeats_are_numbered_in_order():
    assert number_repeats(["a", "b", "a", "a"]) == ["a", "b", "a (2)", "a (3)"]


def test_run_stem_names_the_settings():
    assert run_stem(TrainConfig(epochs=3, dropout=0.5, augment=True)) == "mlp-e3-d0.50-aug"
    assert run_stem(TrainConfig(epochs=20), epochs=3) == "mlp-e3-d0.20"  # stopped after 3
