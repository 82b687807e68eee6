"""The room's labelled drawings: saved atomically, listed, counted, exported, trained on."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from mnist_core.cli import main
from mnist_core.config import TrainConfig
from mnist_core.data import MnistData
from mnist_core.drawings import DrawingStore, owner_hash, with_room_drawings
from mnist_core.errors import DrawingError, DrawingSaveError

ALICE, BOB = "a" * 32, "b" * 32
STROKES = {"version": "4.4.0", "objects": [{"type": "path", "path": [["M", 10, 10],
                                                                      ["L", 100, 200]]}]}


@pytest.fixture
def store(tmp_path: Path) -> DrawingStore:
    return DrawingStore(tmp_path / "drawings")


@pytest.fixture
def digits(small_mnist: MnistData) -> tuple[np.ndarray, np.ndarray]:
    """Six real test digits, (6, 28, 28) float32 in [0, 1], and their labels."""
    return small_mnist.x_test[:6], small_mnist.y_test[:6]


def test_save_list_load_round_trip(store: DrawingStore, digits) -> None:
    x, y = digits
    info = store.save(ALICE, x[0], int(y[0]), guess=3, strokes=STROKES)
    assert [i.id for i in store.list()] == [info.id]
    drawing = store.load(info.id)
    assert drawing.info.label == int(y[0]) and drawing.guess == 3
    assert drawing.strokes == STROKES
    np.testing.assert_array_equal(drawing.image, np.round(x[0] * 255).astype(np.uint8))
    text = (store.root / f"{info.id}.json").read_text()
    assert ALICE not in text and owner_hash(ALICE) in text  # anonymous: never the session id
    assert not [p for p in store.root.iterdir() if p.name.startswith(".tmp-")]


def test_counts_per_label_and_per_owner(store: DrawingStore, digits) -> None:
    x, _ = digits
    for label, owner in [(7, ALICE), (7, BOB), (1, ALICE)]:
        store.save(owner, x[0], label)
    assert store.counts().tolist() == [0, 1, 0, 0, 0, 0, 0, 2, 0, 0]
    assert store.counts(ALICE).tolist() == [0, 1, 0, 0, 0, 0, 0, 1, 0, 0]
    assert len(store.list(BOB)) == 1 and store.list(BOB)[0].is_mine(BOB)
    assert store.count() == 3 and store.count(ALICE) == 2 and store.count("c" * 32) == 0


def test_export_loads_as_a_keras_mnist_npz(store: DrawingStore, digits, tmp_path: Path,
                                           monkeypatch) -> None:
    x, y = digits
    for image, label in zip(x, y, strict=True):
        store.save(ALICE, image, int(label))
    out = tmp_path / "room.npz"
    monkeypatch.setenv("MNIST_DRAWINGS_DIR", str(store.root))
    assert main(["drawings", "export", str(out)]) == 0
    with np.load(out, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["x_test", "x_train", "y_test", "y_train"]
        assert npz["x_train"].dtype == np.uint8 and npz["x_train"].shape == (6, 28, 28)
        assert npz["y_train"].tolist() == y.tolist() and npz["y_train"].dtype == np.uint8
        np.testing.assert_array_equal(npz["x_train"], np.round(x * 255).astype(np.uint8))
        assert npz["x_test"].shape == (0, 28, 28)


def test_cli_count_and_list(store: DrawingStore, digits, monkeypatch, capsys) -> None:
    store.save(ALICE, digits[0][0], 4)
    store.save(BOB, digits[0][1], 4)
    monkeypatch.setenv("MNIST_DRAWINGS_DIR", str(store.root))
    assert main(["drawings", "count"]) == 0
    assert "4: 2" in capsys.readouterr().out
    assert main(["drawings", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("label 4" in line for line in lines)


@pytest.mark.parametrize("image", [None, np.zeros((28, 28), np.float32)])
def test_an_empty_canvas_is_refused(store: DrawingStore, image) -> None:
    with pytest.raises(DrawingError, match="the canvas is empty"):
        store.save(ALICE, image, 3)
    assert store.list() == []


@pytest.mark.parametrize("label", [-1, 10, 3.5, "seven", None, True])
def test_an_invalid_label_is_refused(store: DrawingStore, digits, label) -> None:
    with pytest.raises(DrawingError, match="a digit from 0 to 9"):
        store.save(ALICE, digits[0][0], label)
    assert store.list() == []


def test_a_full_disk_gives_a_message_and_loses_nothing(store: DrawingStore, digits,
                                                      monkeypatch) -> None:
    kept = store.save(ALICE, digits[0][0], 1)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DrawingSaveError, match="No space left on device"):
        store.save(ALICE, digits[0][1], 2)
    names = sorted(p.name for p in store.root.iterdir())
    assert names == [f"{kept.id}.json"]  # the earlier one kept, no temp file left
    assert store.load(kept.id).info.label == 1


def test_a_read_only_folder_gives_a_message(tmp_path: Path, digits, monkeypatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        store = DrawingStore(folder)
        if os.access(folder, os.W_OK):  # root ignores permissions: refuse as a kernel would
            monkeypatch.setattr("tempfile.NamedTemporaryFile", _read_only)
        with pytest.raises(DrawingSaveError, match="could not save the drawing"):
            store.save(ALICE, digits[0][0], 5)
    finally:
        folder.chmod(0o755)


def _read_only(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system")


def test_only_the_owner_can_delete(store: DrawingStore, digits) -> None:
    info = store.save(ALICE, digits[0][0], 7)
    with pytest.raises(DrawingError, match="someone else's"):
        store.delete(BOB, info.id)
    assert len(store.list()) == 1
    store.delete(ALICE, info.id)
    assert store.list() == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "7-x", "", "7-" + "0" * 16])
def test_ids_never_become_paths(store: DrawingStore, bad: str) -> None:
    with pytest.raises(DrawingError, match="not a drawing id"):
        store.delete(ALICE, bad)
    with pytest.raises(DrawingError, match="not a drawing id"):
        store.load(bad)


def test_caps_per_owner_and_for_the_room(tmp_path: Path, digits) -> None:
    store = DrawingStore(tmp_path, max_per_owner=2, max_total=3)
    store.save(ALICE, digits[0][0], 1)
    store.save(ALICE, digits[0][1], 2)
    with pytest.raises(DrawingError, match="delete some of yours"):
        store.save(ALICE, digits[0][2], 3)
    store.save(BOB, digits[0][2], 3)
    with pytest.raises(DrawingError, match="the room has 3 drawings"):
        store.save("c" * 32, digits[0][3], 4)


def test_foreign_and_broken_files_are_skipped(store: DrawingStore, digits) -> None:
    store.save(ALICE, digits[0][0], 1)
    (store.root / "notes.txt").write_text("hello")
    broken = f"2-{owner_hash(BOB)}-0000000000000001-deadbeef.json"
    (store.root / broken).write_text(json.dumps({"image": [1, 2]}))
    x, y = store.arrays()
    assert x.shape == (1, 28, 28) and y.tolist() == [1]


def test_with_room_drawings_appends_them_repeated(store: DrawingStore, small_mnist) -> None:
    data = small_mnist.limit(100, 10)
    store.save(ALICE, data.x_test[0], 4)
    more = with_room_drawings(data, store, repeat=3)
    assert len(more.x_train) == 103 and more.y_train[-3:].tolist() == [4, 4, 4]
    np.testing.assert_allclose(more.x_train[-1], data.x_test[0], atol=1 / 255)
    assert with_room_drawings(data, DrawingStore(store.root / "none")) is data


def test_config_room_drawings_round_trips_and_old_json_loads() -> None:
    config = TrainConfig(room_drawings=True)
    assert TrainConfig.from_dict(config.to_dict()) == config
    old = TrainConfig().to_dict()
    del old["room_drawings"]
    assert TrainConfig.from_dict(old).room_drawings is False


def test_training_with_the_room_drawings_reads_them(small_mnist, tmp_path, monkeypatch) -> None:
    """Drawings labelled against their looks (a digit d labelled d+1): a model trained on
    MNIST alone reads most as d, one trained with the room's drawings as d+1."""
    from mnist_core.evaluate import predict_proba
    from mnist_core.training import train

    store = DrawingStore(tmp_path / "drawings")
    x, y = small_mnist.x_test[:5], small_mnist.y_test[:5]
    shifted = (y.astype(int) + 1) % 10
    for image, label in zip(x, shifted, strict=True):
        store.save(ALICE, image, int(label))
    monkeypatch.setenv("MNIST_DRAWINGS_DIR", str(store.root))
    data = small_mnist.limit(1000, 200)
    plain = train(TrainConfig(epochs=4, seed=1), data).model
    room = train(TrainConfig(epochs=4, seed=1, room_drawings=True), data).model
    assert (predict_proba(plain, x).argmax(1) == shifted).sum() <= 1
    assert (predict_proba(room, x).argmax(1) == shifted).sum() >= 4


def test_cli_train_with_room_drawings(store: DrawingStore, digits, tmp_path, monkeypatch,
                                      capsys) -> None:
    store.save(ALICE, digits[0][0], int(digits[1][0]))
    monkeypatch.setenv("MNIST_DRAWINGS_DIR", str(store.root))
    out = tmp_path / "room.keras"
    assert main(["train", "--room-drawings", "--limit", "300", "--epochs", "1",
                 "--out", str(out)]) == 0
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["config"]["room_drawings"] is True
    assert "the room's 1 labelled drawings, each 10 times" in capsys.readouterr().out
