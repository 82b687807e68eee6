"""mnist_core.data.read_npz: sizes, member counts and array headers checked before any array
is read."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnist_core.data import ARRAY_SHAPES, read_npz
from mnist_core.errors import DataError


@pytest.fixture
def no_array_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if an array is read: the file must be refused from its headers."""

    def must_not_read(*args, **kwargs):
        raise AssertionError("an array was read")

    monkeypatch.setattr(np.lib.format, "read_array", must_not_read)


def npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    """The bytes of an .npy header (magic included) for an array of this shape and dtype."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                 "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def write_npz(path: Path, headers: dict[str, tuple[tuple[int, ...], str]],
              extra_zeros: int = 0, members: int = 0) -> Path:
    """An npz whose members hold only their headers (the arrays cut off), plus
    `extra_zeros` zero bytes in x_train and `members` empty members."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, (shape, dtype) in headers.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                member.write(npy_header(shape, dtype))
                if key == "x_train":
                    chunk = bytes(1 << 20)
                    for start in range(0, extra_zeros, len(chunk)):
                        member.write(chunk[: min(len(chunk), extra_zeros - start)])
        for index in range(members):
            archive.writestr(f"extra{index}.npy", b"")
    return path


MNIST_HEADERS = {key: (shape, "uint8") for key, shape in ARRAY_SHAPES.items()}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({**MNIST_HEADERS, "x_train": ((60000, 28, 28), "float64")},
         r"x_train is float64 \(60000, 28, 28\), expected uint8 \(60000, 28, 28\)"),
        ({**MNIST_HEADERS, "x_test": ((10**9, 28, 28), "uint8")},
         r"x_test is uint8 \(1000000000, 28, 28\), expected uint8 \(10000, 28, 28\)"),
        ({**MNIST_HEADERS, "y_train": ((60000,), "object")}, r"y_train is object"),
    ],
    ids=["float64-images", "billion-images", "pickled-labels"],
)
def test_wrong_array_headers_are_refused_before_reading(tmp_path, no_array_read, headers,
                                                        message):
    with pytest.raises(DataError, match=message):
        read_npz(write_npz(tmp_path / "wrong.npz", headers))


def test_a_member_that_unpacks_to_more_than_its_array_is_refused(tmp_path, no_array_read):
    """x_train.npy with 200 MB of zeros behind its header: refused from the zip directory."""
    path = write_npz(tmp_path / "bomb.npz", MNIST_HEADERS, extra_zeros=200 << 20)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(DataError, match=r"x_train\.npy unpacks to 200\.0 MB, more than"):
        read_npz(path)


def test_too_many_members_are_refused(tmp_path, no_array_read):
    with pytest.raises(DataError, match="1004 files"):
        read_npz(write_npz(tmp_path / "many.npz", MNIST_HEADERS, members=1000))


def test_a_file_larger_than_any_mnist_is_refused_unread(tmp_path, no_array_read):
    path = tmp_path / "huge.npz"
    with path.open("wb") as handle:
        handle.truncate(300 << 20)  # sparse: 300 MB on paper
    with pytest.raises(DataError, match=r"huge\.npz: the file is 300\.0 MB.*limit is"):
        read_npz(path)


def test_not_a_regular_file(tmp_path):
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(DataError, match="not a regular file"):
        read_npz(tmp_path / "dir.npz")


def test_the_real_file_still_reads(mnist):
    arrays = read_npz(Path(mnist.source))
    assert {key: array.shape for key, array in arrays.items()} == ARRAY_SHAPES
