"""mnist_core.store: atomic save, listing, safe loading, names that cannot escape."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_core.errors import InvalidNameError, ModelLoadError, ModelSaveError
from mnist_core.evaluate import predict_logits
from mnist_core.jobs import metadata_for, save_result
from mnist_core.store import ModelMetadata, ModelStore, check_name
from mnist_core.training import TrainConfig, train


@pytest.fixture(scope="module")
def trained(small_mnist):
    return train(TrainConfig(epochs=1, train_limit=1000, test_limit=200), small_mnist)


@pytest.fixture
def store(models_dir: Path) -> ModelStore:
    return ModelStore(models_dir)


def test_round_trip_predictions(store, trained, small_mnist):
    ref = save_result(store, trained)
    assert ref.startswith("runs/mlp-e1-d0.20-")
    loaded = store.load(ref)
    np.testing.assert_allclose(
        predict_logits(loaded, small_mnist.x_test[:50]),
        predict_logits(trained.model, small_mnist.x_test[:50]),
        rtol=1e-5, atol=1e-5,
    )
    metadata = store.read_metadata(ref)
    assert metadata.name == ref
    assert metadata.config == trained.config
    assert metadata.test_accuracy == pytest.approx(trained.test_accuracy)
    assert metadata.history["val_accuracy"] == trained.history["val_accuracy"]
    assert metadata.params == trained.model.count_params()
    assert metadata.data_checksum and metadata.created


def test_listing_shipped_then_runs(store, trained):
    first = save_result(store, trained, ref="runs/first")
    second = save_result(store, trained, ref="runs/second")
    os.utime(store.resolve(first), (1, 1))  # make "first" the older one
    refs = [info.ref for info in store.list_models()]
    assert refs[0] == "quickstart" or refs[:2] == ["drawing", "quickstart"]
    assert refs[-2:] == [second, first]
    quickstart = next(info for info in store.list_models() if info.ref == "quickstart")
    assert quickstart.shipped and quickstart.metadata.test_accuracy >= 0.975
    assert quickstart.label.startswith("quickstart · 97.")


def test_new_run_refs_are_unique(store, trained):
    first = save_result(store, trained)
    assert store.new_run_ref("mlp-e1-d0.20") != first


def test_no_temp_files_left_and_temp_files_not_listed(store, trained):
    save_result(store, trained, ref="runs/clean")
    assert not [p for p in store.runs_dir.iterdir() if p.name.startswith(".tmp-")]
    (store.runs_dir / ".tmp-123-half.keras").write_bytes(b"PK\x03\x04 half written")
    assert "runs/.tmp-123-half" not in [info.ref for info in store.list_models()]


def test_quickstart_loads_with_plain_keras():
    """The shipped file needs nothing of ours: plain load_model, logits (N, 10)."""
    model = keras.models.load_model(ModelStore().resolve("quickstart"))
    logits = model(np.zeros((4, 28, 28), np.float32), training=False)
    assert tuple(logits.shape) == (4, 10)
    assert model.count_params() == 101_770


@pytest.mark.parametrize(
    "name",
    ["../evil", "/etc/passwd", "runs/../../x", "a/b", "..", ".hidden", "", "x" * 81,
     "with space", "semi;colon", "runs/..", "C:\\windows"],
)
def test_names_that_would_escape_are_refused(store, name):
    with pytest.raises(InvalidNameError, match="invalid model"):
        store.resolve(name)


def test_check_name_accepts_ordinary_names():
    assert check_name("my-run_2.v1") == "my-run_2.v1"


def write_lambda_model(path: Path) -> None:
    """A .keras file that carries Python code (a Lambda layer)."""
    inputs = keras.Input((28, 28))
    outputs = keras.layers.Lambda(lambda x: keras.ops.sum(x, axis=-1)[:, :10])(inputs)
    keras.Model(inputs, outputs).save(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a Keras model file"),
        (b"this is not a zip", "not a Keras model file"),
        ("truncated", "can't load this model"),
        ("foreign", "not an MNIST model"),
        ("lambda", "safe mode refuses"),
    ],
)
def test_bad_model_files(store, content, message):
    path = store.runs_dir / "bad.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == "truncated":
        good = store.resolve("quickstart").read_bytes()
        path.write_bytes(good[: len(good) // 2])
        if not zipfile.is_zipfile(path):
            message = "not a Keras model file"
    elif content == "foreign":
        keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)]).save(path)
    elif content == "lambda":
        write_lambda_model(path)
    else:
        path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        store.load("runs/bad")
    # Listed, with the rest of the store untouched.
    assert "runs/bad" in [info.ref for info in store.list_models()]
    assert store.load("quickstart").count_params() == 101_770


def test_missing_model(store):
    with pytest.raises(ModelLoadError, match="runs/nothing: no such model"):
        store.load("runs/nothing")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_corrupt_metadata_is_reported_not_raised(store, trained, content):
    ref = save_result(store, trained, ref="runs/meta")
    store.resolve(ref).with_suffix(".json").write_text(content)
    info = next(info for info in store.list_models() if info.ref == ref)
    assert info.metadata is None and "unreadable metadata" in info.problem


def test_unwritable_folder_gives_save_error(store, trained, tmp_path):
    """A folder that cannot be created (a file is in the way) fails cleanly."""
    blocker = tmp_path / "blocked"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ModelSaveError, match="could not save the model to"):
        ModelStore(blocker).save(trained.model, metadata_for(trained), "runs/x")


def test_metadata_from_dict_ignores_unknown_keys():
    metadata = ModelMetadata.from_dict({"name": "x", "config": {}, "from_the_future": 1})
    assert metadata.name == "x" and json.dumps(metadata.to_dict())


def test_full_disk_leaves_no_partial_files(store, trained, monkeypatch):
    """ENOSPC while renaming: a clear error, no temp files, nothing half-listed."""
    import errno

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    before = [info.ref for info in store.list_models()]
    monkeypatch.setattr("mnist_core.store.os.replace", disk_full)
    with pytest.raises(ModelSaveError, match="No space left on device"):
        save_result(store, trained, ref="runs/full")
    monkeypatch.undo()
    assert [info.ref for info in store.list_models()] == before
    assert not list(store.runs_dir.glob(".tmp-*"))


SAVE_FOREVER = """
import sys
from mnist_core.jobs import save_result
from mnist_core.store import ModelStore
from mnist_core.training import TrainConfig, train
from mnist_core.data import load_mnist
result = train(TrainConfig(epochs=1, train_limit=200, test_limit=50), load_mnist())
store = ModelStore(sys.argv[1])
for i in range(10_000):
    save_result(store, result, ref=f"runs/run-{i}")
    print(i, flush=True)
"""


def test_sigkill_while_saving_loses_nothing_finished(models_dir):
    """Kill -9 a process in the middle of saving runs: every listed run loads."""
    import signal
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    process = subprocess.Popen(
        [sys.executable, "-c", SAVE_FOREVER, str(models_dir)], cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        for line in process.stdout:
            if int(line) >= 3:  # a few saved; the next one is being written right now
                break
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    store = ModelStore(models_dir)
    runs = [info for info in store.list_models() if not info.shipped]
    assert len(runs) >= 4
    for info in runs:
        assert info.metadata is not None and info.metadata.name == info.ref
        assert store.load(info.ref).count_params() == 101_770


def test_saved_files_are_readable_by_others(store, trained):
    ref = save_result(store, trained, ref="runs/shared")
    for path in (store.resolve(ref), store.resolve(ref).with_suffix(".json")):
        assert path.stat().st_mode & 0o044 == 0o044


def test_a_second_save_builds_no_throwaway_layers(store, trained, monkeypatch):
    """Keras' cache of the attributes a save skips never hit (it stores and reads two
    different keys): each save built a Layer and an Optimizer just to list theirs."""
    from keras.src.layers.layer import Layer

    save_result(store, trained)
    built = []
    init = Layer.__init__
    monkeypatch.setattr(Layer, "__init__", lambda self, *a, **k: (built.append(type(self)),
                                                                  init(self, *a, **k))[1])
    ref = save_result(store, trained)
    assert built == []
    assert store.load(ref).count_params() == trained.model.count_params()


def test_a_listing_is_read_again_only_once_a_folder_changed(store, trained, monkeypatch):
    first = save_result(store, trained)
    reads = []
    read = ModelStore.read_metadata
    monkeypatch.setattr(ModelStore, "read_metadata",
                        lambda self, ref: (reads.append(ref), read(self, ref))[1])
    assert first in [info.ref for info in store.list_models()]
    assert reads, "a folder changed a moment ago is listed afresh"
    settled = time.time() - 10
    for folder in (store.root, store.runs_dir):
        os.utime(folder, (settled, settled))
    store.list_models()
    reads.clear()
    assert [info.ref for info in ModelStore(store.root).list_models()] == \
        [info.ref for info in store.list_models()]
    assert reads == []  # nothing changed: the listing read before
    second = save_result(store, trained)
    assert {first, second} <= {info.ref for info in store.list_models()}
    assert second in reads


def test_a_listing_reads_again_only_the_entries_that_changed(store, trained, monkeypatch):
    first = save_result(store, trained)
    settled = time.time() - 10
    for path in [*store.root.iterdir(), *store.runs_dir.iterdir()]:
        os.utime(path, (settled, settled))
    store.list_models()  # settled files: kept
    reads = []
    read = ModelStore.read_metadata
    monkeypatch.setattr(ModelStore, "read_metadata",
                        lambda self, ref: (reads.append(ref), read(self, ref))[1])
    second = save_result(store, trained)  # the runs folder changed: listed afresh
    assert {first, second} <= {info.ref for info in store.list_models()}
    assert reads == [second]  # first unchanged: not read again
    metadata = store.resolve(first).with_suffix(".json")  # edited in place: same inode
    metadata.write_text(metadata.read_text().replace('"description": ""',
                                                     '"description": "edited"'))
    os.utime(metadata, (settled, settled))
    os.utime(store.runs_dir)  # the folder's own stamp would not show an edit in place
    reads.clear()
    edited = next(info for info in store.list_models() if info.ref == first)
    assert edited.metadata.description == "edited"
    assert sorted(reads) == sorted([first, second])  # second's files are not settled yet
    store.resolve(first).unlink()
    assert first not in {info.ref for info in store.list_models()}
