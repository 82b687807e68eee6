"""Load MNIST once per process, from the bundled copy first, verified by checksum."""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_core.constants import BUNDLED_DATA_PATH, IMAGE_SHAPE
from mnist_core.errors import DataError
from mnist_core.settings import DATA_ENV_VAR, data_path

# sha256 of each array's bytes, from shared/data/README.md (the canonical split).
ARRAY_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
ARRAY_SHAPES = {
    "x_train": (60000, *IMAGE_SHAPE),
    "y_train": (60000,),
    "x_test": (10000, *IMAGE_SHAPE),
    "y_test": (10000,),
}
# A short fingerprint of the data, stored in every model's metadata.
DATA_CHECKSUM = hashlib.sha256("".join(ARRAY_SHA256.values()).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MnistData:
    """The four MNIST arrays, images scaled to [0, 1]."""

    x_train: np.ndarray  # (60000, 28, 28) float32 in [0, 1]
    y_train: np.ndarray  # (60000,) uint8 in 0..9
    x_test: np.ndarray  # (10000, 28, 28) float32 in [0, 1]
    y_test: np.ndarray  # (10000,) uint8 in 0..9
    source: str  # where it was read from, for messages

    def limit(self, train: int | None = None, test: int | None = None) -> MnistData:
        """Return a view on the first `train`/`test` examples (no copy)."""
        return MnistData(
            self.x_train[:train],
            self.y_train[:train],
            self.x_test[:test],
            self.y_test[:test],
            self.source,
        )


def read_npz(path: Path, verify: bool = True) -> dict[str, np.ndarray]:
    """Read and check the four uint8 arrays of a Keras-layout mnist.npz."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ARRAY_SHAPES}
    except FileNotFoundError as e:
        raise DataError(f"{path}: file not found") from e
    except KeyError as e:
        raise DataError(f"{path}: not an MNIST file (missing array {e})") from e
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: unreadable or truncated ({e})") from e
    for key, shape in ARRAY_SHAPES.items():
        array = arrays[key]
        if array.shape != shape or array.dtype != np.uint8:
            raise DataError(
                f"{path}: {key} is {array.dtype} {array.shape}, expected uint8 {shape}"
            )
        if verify and hashlib.sha256(array.tobytes()).hexdigest() != ARRAY_SHA256[key]:
            raise DataError(f"{path}: {key} does not match the MNIST checksum")
    return arrays


def _keras_download() -> Path:
    """Fetch mnist.npz into Keras' cache (a no-op when already cached)."""
    from keras.utils import get_file  # deferred: importing Keras is slow

    origin = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
    return Path(get_file("mnist.npz", origin=origin))


def candidate_sources(path: str | os.PathLike | None = None) -> list[str | Path]:
    """List the sources tried, in order: explicit path/env var, bundled, Keras."""
    explicit = path if path is not None else data_path()
    if explicit:
        return [Path(explicit)]
    return [BUNDLED_DATA_PATH, "keras"]


def _scale(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28) in [0, 1], never via float64."""
    scaled = images.astype(np.float32)
    scaled *= np.float32(1 / 255)
    return scaled


_cache: dict[str, MnistData] = {}
_cache_lock = threading.Lock()


def load_mnist(path: str | os.PathLike | None = None) -> MnistData:
    """Load MNIST (once per process per source) as float32 images in [0, 1]."""
    sources = candidate_sources(path)
    cache_key = str(sources[0])
    with _cache_lock:
        if cache_key in _cache:
            return _cache[cache_key]
        failures = []
        for source in sources:
            try:
                file = _keras_download() if source == "keras" else Path(source)
                arrays = read_npz(file)
            except DataError as e:
                failures.append(str(e))
                continue
            except Exception as e:
                failures.append(f"Keras download: {type(e).__name__}: {e}")
                continue
            data = MnistData(
                _scale(arrays["x_train"]),
                arrays["y_train"],
                _scale(arrays["x_test"]),
                arrays["y_test"],
                str(file),
            )
            _cache[cache_key] = data
            return data
    tried = "\n".join(f"  - {failure}" for failure in failures)
    raise DataError(
        "Could not load the MNIST data. Tried:\n"
        f"{tried}\n"
        f"Fix: restore the bundled file {BUNDLED_DATA_PATH} (git checkout data/mnist.npz), "
        f"point {DATA_ENV_VAR} at a copy of mnist.npz, or connect to the internet so "
        "Keras can download it."
    )
