"""The room's labelled drawings: one JSON file per drawing, saved atomically, anonymous.

A file holds the 28x28 input the model saw (uint8, as MNIST), the canvas's raw strokes
(streamlit-drawable-canvas `json_data`), the label, the model's guess, a timestamp and a
hash of the owner's session id (never the id: a file must not hand out a session).
Its name, LABEL-OWNERHASH-MICROSECONDS-RANDOM.json, is all that listing and counting read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mnist_core.constants import IMAGE_SHAPE, NUM_CLASSES
from mnist_core.data import MnistData
from mnist_core.errors import DrawingError, DrawingSaveError, ModelSaveError
from mnist_core.settings import drawings_dir
from mnist_core.store import write_atomic

SUFFIX = ".json"
TEMP_PREFIX = ".tmp-"  # half-written saves: never listed
FORMAT = 1
MAX_PER_OWNER = 200  # drawings one session may keep: a busy participant, not a script
MAX_TOTAL = 5000  # the whole room: ~25 MB on disk at most
MAX_STROKES_BYTES = 256 * 1024  # a digit's strokes are 2-20 KB of JSON
MAX_FILE_BYTES = MAX_STROKES_BYTES + 64 * 1024
OWNER_HASH_CHARS = 16
TRAINING_REPEAT = 10  # each drawing is seen this many times per pass: a few drawings matter
ID_PATTERN = re.compile(r"([0-9])-([0-9a-f]{16})-([0-9]{16})-([0-9a-f]{8})")
_last_stamp = 0  # microseconds of this process's last save: each save gets a later one
_stamp_lock = threading.Lock()


def owner_hash(owner: str) -> str:
    """The short hash of a session id that a drawing file keeps instead of the id."""
    return hashlib.sha256(f"mnist-studio-drawing:{owner}".encode()).hexdigest()[:OWNER_HASH_CHARS]


def check_label(label: Any) -> int:
    """The label as an int 0-9, or DrawingError saying what it must be."""
    integral = isinstance(label, (int, np.integer)) and not isinstance(label, bool)
    if isinstance(label, str) and label.strip().isdigit():
        label, integral = int(label.strip()), True
    if not integral or not 0 <= int(label) < NUM_CLASSES:
        raise DrawingError(f"a drawing's label must be a digit from 0 to 9, got {label!r}")
    return int(label)


def _as_image(image: Any) -> np.ndarray:
    """A (28, 28) uint8 image from a float [0, 1] or uint8 array; DrawingError if empty."""
    if image is None:
        raise DrawingError("the canvas is empty: draw a digit before labelling it")
    arr = np.asarray(image)
    if arr.shape != IMAGE_SHAPE:
        raise DrawingError(f"a drawing must be a 28x28 image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.round(np.clip(np.nan_to_num(arr.astype(np.float64)), 0.0, 1.0) * 255)
    arr = arr.astype(np.uint8)
    if not arr.any():
        raise DrawingError("the canvas is empty: draw a digit before labelling it")
    return arr


@dataclass(frozen=True)
class DrawingInfo:
    """One saved drawing as its file name tells it (no file read)."""

    id: str
    label: int
    owner_hash: str
    created_us: int

    def is_mine(self, owner: str) -> bool:
        """Whether the session `owner` made it."""
        return self.owner_hash == owner_hash(owner)


@dataclass(frozen=True)
class Drawing:
    """One saved drawing, read from its file."""

    info: DrawingInfo
    image: np.ndarray  # (28, 28) uint8 in 0..255, what the model saw
    guess: int | None  # what the model said when it was labelled
    strokes: Any  # the canvas's json_data (or None)
    created: str  # ISO 8601, UTC


class DrawingStore:
    """The folder of the room's labelled drawings."""

    def __init__(self, root: Path | str | None = None, max_per_owner: int = MAX_PER_OWNER,
                 max_total: int = MAX_TOTAL) -> None:
        self.root = Path(root) if root is not None else drawings_dir()
        self.max_per_owner = max_per_owner
        self.max_total = max_total

    def _names(self) -> list[str]:
        """The names in the folder ([] before the first save)."""
        try:
            return [entry.name for entry in os.scandir(self.root)]
        except FileNotFoundError:
            return []
        except OSError as e:
            raise DrawingError(f"can't read the drawings folder {self.root}: {e}") from e

    def list(self, owner: str | None = None) -> list[DrawingInfo]:
        """Every saved drawing (only `owner`'s, if given), oldest first."""
        found = [info for name in self._names() if (info := _parse(name)) is not None]
        if owner is not None:
            mine = owner_hash(owner)
            found = [info for info in found if info.owner_hash == mine]
        return sorted(found, key=lambda info: (info.created_us, info.id))

    def count(self, owner: str | None = None) -> int:
        """How many drawings there are (`owner`'s only, if given), from their names alone:
        ~1 ms for a full room of 5,000 (parsing each name takes ~15)."""
        names = self._stored()
        if owner is None:
            return len(names)
        mine = f"-{owner_hash(owner)}-"
        return sum(mine in name for name in names)

    def _stored(self) -> list[str]:
        """Names of saved drawings, not parsed (temp files left out)."""
        return [n for n in self._names() if n.endswith(SUFFIX) and not n.startswith(TEMP_PREFIX)]

    def counts(self, owner: str | None = None) -> np.ndarray:
        """How many drawings there are of each digit: (10,) int64."""
        labels = [info.label for info in self.list(owner)]
        return np.bincount(np.array(labels, dtype=np.int64), minlength=NUM_CLASSES)

    def save(self, owner: str, image: Any, label: Any, guess: int | None = None,
             strokes: Any = None) -> DrawingInfo:
        """Save one labelled drawing atomically; DrawingError for bad input or a full room,
        DrawingSaveError if the disk refuses (nothing else is changed then)."""
        label = check_label(label)
        pixels = _as_image(image)
        if guess is not None:
            guess = check_label(guess)
        try:
            strokes_text = json.dumps(strokes, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise DrawingError(f"the canvas strokes are not plain JSON ({e})") from e
        if len(strokes_text) > MAX_STROKES_BYTES:
            raise DrawingError(f"the drawing has too many strokes to keep "
                               f"({len(strokes_text) // 1024} KB; at most "
                               f"{MAX_STROKES_BYTES // 1024} KB): clear it and draw it again")
        mine = owner_hash(owner)
        names = self._stored()  # one listing for both caps
        if sum(f"-{mine}-" in name for name in names) >= self.max_per_owner:
            raise DrawingError(f"you have kept {self.max_per_owner} drawings, the most one "
                               "person can: delete some of yours to label more")
        if len(names) >= self.max_total:
            raise DrawingError(f"the room has {self.max_total} drawings, as many as the "
                               "server keeps: no more can be labelled")
        stamp = _next_stamp()
        now = stamp / 1e6
        info = DrawingInfo(f"{label}-{mine}-{stamp:016d}-{secrets.token_hex(4)}",
                           label, mine, stamp)
        record = {
            "format": FORMAT,
            "label": label,
            "guess": guess,
            "created": datetime.fromtimestamp(now, UTC).isoformat(),
            "owner": mine,
            "image": pixels.ravel().tolist(),  # 784 values 0..255, row by row
        }
        text = json.dumps(record)[:-1] + f', "strokes": {strokes_text}}}'
        self._write(info.id + SUFFIX, text)
        return info

    def _write(self, name: str, text: str) -> None:
        """Write `name` via a temp file and a rename: never a half-written drawing."""
        try:
            write_atomic(self.root / name, text, mode=0o600)
        except ModelSaveError as e:
            reason = e.__cause__
            raise DrawingSaveError(f"could not save the drawing in {self.root} "
                                   f"({getattr(reason, 'strerror', None) or reason}); "
                                   "nothing else was changed") from e

    def load(self, drawing_id: str) -> Drawing:
        """Read one drawing by id; DrawingError if the id is foreign or the file is bad."""
        info = _parse(f"{drawing_id}{SUFFIX}")
        if info is None:
            raise DrawingError(f"not a drawing id: {drawing_id!r}")
        path = self.root / f"{info.id}{SUFFIX}"
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise DrawingError(f"drawing {info.id}: the file is too large")
            record = json.loads(path.read_text(encoding="utf-8"))
            pixels = np.asarray(record["image"], dtype=np.int64)
            guess = record.get("guess")
            if pixels.shape != (IMAGE_SHAPE[0] * IMAGE_SHAPE[1],) or pixels.min() < 0 \
                    or pixels.max() > 255 or record["label"] != info.label:
                raise ValueError("its image or label does not match")
        except FileNotFoundError as e:
            raise DrawingError(f"drawing {info.id} is gone") from e
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DrawingError(f"drawing {info.id}: unreadable ({e})") from e
        return Drawing(info, pixels.astype(np.uint8).reshape(IMAGE_SHAPE),
                       guess if isinstance(guess, int) else None, record.get("strokes"),
                       str(record.get("created", "")))

    def delete(self, owner: str, drawing_id: str) -> None:
        """Delete one of `owner`'s drawings; DrawingError if it is someone else's."""
        info = _parse(f"{drawing_id}{SUFFIX}")
        if info is None:
            raise DrawingError(f"not a drawing id: {drawing_id!r}")
        if not info.is_mine(owner):
            raise DrawingError("that drawing is someone else's: you can only delete your own")
        try:
            (self.root / f"{info.id}{SUFFIX}").unlink()
        except FileNotFoundError:
            return  # already gone: what was asked for
        except OSError as e:
            raise DrawingSaveError(f"could not delete the drawing ({e.strerror or e})") from e

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every readable drawing: ((N, 28, 28) uint8, (N,) uint8), oldest first.
        An unreadable file is left out (it never breaks the room's figures)."""
        images, labels = [], []
        for info in self.list():
            try:
                drawing = self.load(info.id)
            except DrawingError:
                continue
            images.append(drawing.image)
            labels.append(info.label)
        if not images:
            return np.zeros((0, *IMAGE_SHAPE), np.uint8), np.zeros(0, np.uint8)
        return np.stack(images), np.array(labels, np.uint8)

    def export(self, path: Path | str, into: str = "train") -> int:
        """Write the drawings as a Keras-layout mnist.npz (all in `into`: "train" or "test",
        the other split empty); returns how many."""
        if into not in ("train", "test"):
            raise DrawingError(f"export into 'train' or 'test', got {into!r}")
        x, y = self.arrays()
        empty_x, empty_y = np.zeros((0, *IMAGE_SHAPE), np.uint8), np.zeros(0, np.uint8)
        splits = {"train": (x, y), "test": (empty_x, empty_y)}
        if into == "test":
            splits = {"train": (empty_x, empty_y), "test": (x, y)}
        path = Path(path)
        temp = path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(4)}-{path.name}")
        try:
            with open(temp, "wb") as handle:
                np.savez_compressed(handle, x_train=splits["train"][0], y_train=splits["train"][1],
                                    x_test=splits["test"][0], y_test=splits["test"][1])
            os.replace(temp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise DrawingSaveError(f"could not write {path} ({e.strerror or e})") from e
        return len(y)


def _next_stamp() -> int:
    """Now in microseconds, later than this process's previous save: names sort in order."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time_ns() // 1000, _last_stamp + 1)
        return _last_stamp


def _parse(name: str) -> DrawingInfo | None:
    """The DrawingInfo a file name stands for, or None for anything else (temp files...)."""
    if not name.endswith(SUFFIX):
        return None
    match = ID_PATTERN.fullmatch(name[: -len(SUFFIX)])
    if match is None:
        return None
    return DrawingInfo(match[0], int(match[1]), match[2], int(match[3]))


def with_room_drawings(data: MnistData, store: DrawingStore | None = None,
                       repeat: int = TRAINING_REPEAT) -> MnistData:
    """MNIST with the room's drawings appended to the training set, each `repeat` times."""
    x, y = (store or DrawingStore()).arrays()
    if not len(y):
        return data
    extra_x = np.tile(x.astype(np.float32) / 255.0, (repeat, 1, 1))  # (R*N, 28, 28) float32
    return MnistData(
        np.concatenate([data.x_train, extra_x]),
        np.concatenate([data.y_train, np.tile(y, repeat).astype(data.y_train.dtype)]),
        data.x_test, data.y_test, f"{data.source} + {len(y)} room drawings x{repeat}")
