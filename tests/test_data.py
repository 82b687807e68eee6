"""mnist_core.data: the bundled MNIST loads, verifies, and fails clearly."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnist_core import data as data_module
from mnist_core.data import ARRAY_SHAPES, load_mnist, read_npz
from mnist_core.errors import DataError


def test_shapes_dtypes_and_range(mnist):
    assert mnist.x_train.shape == (60000, 28, 28)
    assert mnist.x_test.shape == (10000, 28, 28)
    assert mnist.x_train.dtype == np.float32 and mnist.x_test.dtype == np.float32
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    assert set(np.unique(mnist.y_train)) == set(range(10))


def test_known_statistics(mnist):
    # The well-known normalisation constants of MNIST and its first labels.
    assert mnist.x_train.mean() == pytest.approx(0.1307, abs=1e-4)
    assert mnist.x_train.std() == pytest.approx(0.3081, abs=1e-4)
    assert mnist.y_train[0] == 5
    assert list(mnist.y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_loaded_once_per_process(mnist):
    assert load_mnist() is mnist


def test_limit_is_a_view(mnist):
    small = mnist.limit(100, 10)
    assert small.x_train.shape == (100, 28, 28) and small.y_test.shape == (10,)
    assert np.shares_memory(small.x_train, mnist.x_train)


@pytest.fixture
def bad_files(tmp_path: Path, mnist) -> dict[str, Path]:
    """A truncated file, a foreign .npz, a wrong-content file and an empty file."""
    good = Path(mnist.source).read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 3])
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, images=np.zeros((3, 28, 28), np.uint8))
    tampered = tmp_path / "tampered.npz"
    arrays = {key: np.zeros(shape, np.uint8) for key, shape in ARRAY_SHAPES.items()}
    np.savez_compressed(tampered, **arrays)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    return {"truncated": truncated, "foreign": foreign, "tampered": tampered, "empty": empty}


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated", "unreadable or truncated"),
        ("foreign", "not an MNIST file"),
        ("tampered", "does not match the MNIST checksum"),
        ("empty", "unreadable or truncated"),
    ],
)
def test_bad_file_errors(bad_files, kind, message):
    with pytest.raises(DataError, match=message):
        read_npz(bad_files[kind])


def test_explicit_bad_path_names_source_and_fix(tmp_path):
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path / "nowhere.npz")
    text = str(info.value)
    assert "nowhere.npz: file not found" in text
    assert "MNIST_DATA" in text and "Fix:" in text


def test_env_var_is_used(monkeypatch, bad_files):
    monkeypatch.setenv("MNIST_DATA", str(bad_files["foreign"]))
    with pytest.raises(DataError, match=r"foreign\.npz: not an MNIST file"):
        load_mnist()


def test_missing_bundle_and_no_network(monkeypatch, tmp_path):
    """No bundled file and no network: one error naming both sources and the fix."""

    def no_network():
        raise OSError("URL fetch failure: network unreachable")

    monkeypatch.setattr(data_module, "BUNDLED_DATA_PATH", tmp_path / "missing.npz")
    monkeypatch.setattr(data_module, "_keras_download", no_network)
    monkeypatch.setattr(data_module, "_cache", {})
    with pytest.raises(DataError) as info:
        load_mnist()
    text = str(info.value)
    assert "missing.npz: file not found" in text
    assert "Keras download: OSError: URL fetch failure" in text
    assert "connect to the internet" in text


def test_keras_fallback_when_bundle_missing(monkeypatch, tmp_path, mnist):
    """Without the bundled copy, the file Keras caches/downloads is used."""
    monkeypatch.setattr(data_module, "BUNDLED_DATA_PATH", tmp_path / "missing.npz")
    monkeypatch.setattr(data_module, "_keras_download", lambda: Path(mnist.source))
    monkeypatch.setattr(data_module, "_cache", {})
    loaded = load_mnist()
    assert loaded.x_train.shape == (60000, 28, 28)


def test_bundled_file_is_a_zip_with_the_keras_layout():
    with zipfile.ZipFile(data_module.BUNDLED_DATA_PATH) as archive:
        assert sorted(archive.namelist()) == sorted(f"{key}.npy" for key in ARRAY_SHAPES)
