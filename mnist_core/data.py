"""Load MNIST once per process, from the bundled copy first, verified by checksum."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import stat
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

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

MB = 1 << 20
# MNIST is 11 MB compressed (55 MB stored): anything far larger is refused before reading.
MAX_DATA_FILE_BYTES = 128 * MB
MAX_NPZ_MEMBERS = 16  # the Keras layout has four
NPY_HEADER_SLACK = 64 * 1024  # an .npy header is 128 bytes; a member may be this much more

# Where Keras downloads MNIST from (tests point it at a loopback server).
MNIST_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DOWNLOAD_IDLE_TIMEOUT = 10.0  # seconds with no byte from the server (or no answer at all)
DOWNLOAD_TIMEOUT = 60.0  # seconds a caller waits for the whole download (11 MB)
DOWNLOAD_CHUNK = 64 * 1024
# A failed download is remembered this long: pages asking meanwhile fail at once instead
# of each waiting for another timeout in turn.
FAILURE_MEMORY = 30.0


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


def read_npz(path: Path | str, verify: bool = True) -> dict[str, np.ndarray]:
    """Read and check the four uint8 arrays of a Keras-layout mnist.npz.

    The file's size, its zip directory (member count and declared sizes) and each array's
    .npy header (shape, dtype) are checked before any array is read."""
    path = Path(path)
    try:
        status = path.stat()
    except FileNotFoundError as e:
        raise DataError(f"{path}: file not found") from e
    except OSError as e:
        raise DataError(f"{path}: unreadable or truncated ({e})") from e
    if not stat.S_ISREG(status.st_mode):
        raise DataError(f"{path}: not a regular file")
    if status.st_size > MAX_DATA_FILE_BYTES:
        raise DataError(f"{path}: the file is {status.st_size / MB:.1f} MB; the limit is "
                        f"{MAX_DATA_FILE_BYTES // MB} MB (MNIST is about 11 MB)")
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(path, archive)
            arrays = {}
            for key in ARRAY_SHAPES:
                with archive.open(f"{key}.npy") as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
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


def _check_members(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse an npz from its zip directory and .npy headers, before reading any array."""
    members = {member.filename: member for member in archive.infolist()}
    if len(members) > MAX_NPZ_MEMBERS:
        raise DataError(f"{path}: not an MNIST file ({len(members)} files in it; MNIST has 4)")
    for key, shape in ARRAY_SHAPES.items():
        member = members.get(f"{key}.npy")
        if member is None:
            raise DataError(f"{path}: not an MNIST file (missing array {key!r})")
        most = math.prod(shape) + NPY_HEADER_SLACK  # uint8: one byte per value
        if member.file_size > most:
            raise DataError(f"{path}: {member.filename} unpacks to "
                            f"{member.file_size / MB:.1f} MB, more than an MNIST array "
                            f"({math.prod(shape) / MB:.1f} MB)")
        with archive.open(member) as handle:
            header_shape, dtype = _npy_header(handle)
        if header_shape != shape or dtype != np.uint8:
            raise DataError(f"{path}: {key} is {dtype} {header_shape}, expected uint8 {shape}")


def _npy_header(handle) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the header of an .npy stream, without reading its data."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    return tuple(shape), dtype


def keras_cache_file() -> Path:
    """Where Keras keeps its mnist.npz: $KERAS_HOME/datasets, else ~/.keras/datasets (or
    /tmp/.keras when that is not writable, as Keras does)."""
    home = Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())
    if home.exists() and not os.access(home, os.W_OK):
        home = Path(tempfile.gettempdir(), ".keras")
    return home / "datasets" / "mnist.npz"


@dataclass
class _Download:
    """One download of mnist.npz into Keras' cache, in a thread of its own."""

    origin: str
    target: Path
    done: threading.Event = field(default_factory=threading.Event)
    error: DataError | None = None

    def run(self) -> None:
        try:
            self._fetch()
        except DataError as e:
            self.error = e
        except Exception as e:  # whatever it was, every caller gets a DataError
            self.error = DataError(f"Keras download: {type(e).__name__}: {e}")
        finally:
            self.done.set()

    def _fetch(self) -> None:
        import urllib.error  # deferred: only needed when the bundled copy is missing
        import urllib.request

        host = urlsplit(self.origin).hostname or self.origin
        deadline = time.monotonic() + DOWNLOAD_TIMEOUT
        partial = self.target.with_name(
            f".tmp-{os.getpid()}-{threading.get_ident()}-{self.target.name}")
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            # The timeout bounds every connect and read; the deadline the whole download.
            with urllib.request.urlopen(self.origin, timeout=DOWNLOAD_IDLE_TIMEOUT) as response, \
                    partial.open("wb") as out:
                size = 0
                while chunk := response.read1(DOWNLOAD_CHUNK):
                    size += len(chunk)
                    if size > MAX_DATA_FILE_BYTES:
                        raise DataError(f"Keras download: {host} sent more than "
                                        f"{MAX_DATA_FILE_BYTES // MB} MB: not MNIST")
                    if time.monotonic() > deadline:
                        raise DataError(f"Keras download: {host} did not finish within "
                                        f"{DOWNLOAD_TIMEOUT:g} s (a slow or stalled network)")
                    out.write(chunk)
            try:
                read_npz(partial)  # verified by the MNIST checksums before it is kept
            except DataError as e:
                reason = str(e).removeprefix(f"{partial}: ")
                raise DataError(f"Keras download: what {host} sent is not MNIST: {reason}") from e
            os.replace(partial, self.target)
        except TimeoutError as e:
            raise DataError(f"Keras download: no answer from {host} within "
                            f"{DOWNLOAD_IDLE_TIMEOUT:g} s (offline, or behind a firewall?)") from e
        except urllib.error.HTTPError as e:
            raise DataError(f"Keras download: {host} answered {e.code} {e.reason}") from e
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError):
                raise DataError(f"Keras download: no answer from {host} within "
                                f"{DOWNLOAD_IDLE_TIMEOUT:g} s (offline, or behind a firewall?)"
                                ) from e
            raise DataError(f"Keras download: could not reach {host} ({e.reason})") from e
        except OSError as e:
            raise DataError(f"Keras download: {type(e).__name__}: {e}") from e
        finally:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)


_downloads: dict[Path, _Download] = {}
_downloads_lock = threading.Lock()


def _keras_download() -> Path:
    """mnist.npz from Keras' cache, downloaded first if it is not there. Waits at most
    DOWNLOAD_TIMEOUT s; callers meanwhile share the one download under way."""
    target = keras_cache_file()
    if target.is_file():
        return target  # read_npz verifies it
    with _downloads_lock:
        download = _downloads.get(target)
        if download is None or download.done.is_set():
            download = _downloads[target] = _Download(MNIST_ORIGIN, target)
            threading.Thread(target=download.run, name="mnist-download", daemon=True).start()
    # A thread of its own, so that no caller waits past the deadline whatever the network
    # does (a server sending headers a byte at a time would outlast any socket timeout).
    if not download.done.wait(DOWNLOAD_TIMEOUT):
        host = urlsplit(MNIST_ORIGIN).hostname or MNIST_ORIGIN
        raise DataError(f"Keras download: {host} did not finish within {DOWNLOAD_TIMEOUT:g} s "
                        "(a slow or stalled network)")
    if download.error is not None:
        raise DataError(str(download.error))
    return target


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
# Per source: when loading it last failed after trying the download, and the message.
_failures: dict[str, tuple[float, str]] = {}


def load_mnist(path: str | os.PathLike | None = None) -> MnistData:
    """Load MNIST (once per process per source) as float32 images in [0, 1]."""
    sources = candidate_sources(path)
    cache_key = str(sources[0])
    with _cache_lock:  # the download inside is bounded by DOWNLOAD_TIMEOUT
        if cache_key in _cache:
            return _cache[cache_key]
        failed = _failures.get(cache_key)
        if failed is not None and time.monotonic() - failed[0] < FAILURE_MEMORY:
            raise DataError(failed[1])
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
            _failures.pop(cache_key, None)
            return data
        tried = "\n".join(f"  - {failure}" for failure in failures)
        message = (
            "Could not load the MNIST data. Tried:\n"
            f"{tried}\n"
            f"Fix: restore the bundled file {BUNDLED_DATA_PATH} (git checkout data/mnist.npz), "
            f"point {DATA_ENV_VAR} at a copy of mnist.npz, or connect to the internet so "
            "Keras can download it."
        )
        if "keras" in sources:  # a download was tried: don't make the next caller wait again
            _failures[cache_key] = (time.monotonic(), message)
    raise DataError(message)
