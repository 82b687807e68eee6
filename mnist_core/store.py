"""Save and list models, each with a JSON metadata file beside it (loading: safe_load).

Layout: shipped models sit in `models/NAME.keras` (tracked by git); every run a user
makes goes to `models/runs/NAME.keras` (git-ignored). A model is referred to by its
*ref*: "NAME" for a shipped model, "runs/NAME" for a run. Refs are checked against a
strict pattern, so text typed in a UI can never name a file outside the models folder.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import stat
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mnist_core.config import TrainConfig
from mnist_core.constants import RUNS_SUBDIR
from mnist_core.errors import (
    InvalidNameError,
    MnistStudioError,
    ModelLoadError,
    ModelSaveError,
    StoreFullError,
)
from mnist_core.naming import model_label
from mnist_core.safe_load import MB, _megabytes, check_model_archive, file_sha256, load_model_file
from mnist_core.settings import RUNS_FOLDER_MB_ENV_VAR, models_dir, runs_folder_mb

__all__ = ["ModelInfo", "ModelMetadata", "ModelStore", "check_model_archive", "check_name",
           "file_sha256", "load_model_file", "read_small_file", "save_model_file",
           "write_atomic"]

log = logging.getLogger(__name__)

MODEL_SUFFIX = ".keras"
METADATA_SUFFIX = ".json"
METADATA_FORMAT = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
TEMP_PREFIX = ".tmp-"  # half-written saves and name reservations: never listed
RESERVED_SUFFIX = ".reserved"  # runs/.tmp-NAME.reserved holds NAME for a save under way
LEFTOVER_MAX_AGE = 60  # seconds: older temp files are from killed saves (live ones get writes)

# Metadata is a few kB: checked against this before it is read.
MAX_METADATA_BYTES = 1 * MB


@dataclass
class ModelMetadata:
    """What is saved beside each model, so loading never has to guess."""

    name: str
    config: TrainConfig
    test_loss: float | None = None
    test_accuracy: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_completed: int | None = None
    stopped: bool = False
    seconds: float | None = None
    params: int | None = None
    data_checksum: str | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    description: str = ""
    owner: str = ""  # the app session that trained it, so "my runs" survive a restart
    format: int = METADATA_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the config as a dict too)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelMetadata:
        """Rebuild from JSON, ignoring keys this version does not know; ValueError if a
        known key holds the wrong kind of value."""
        if not isinstance(values, dict):
            raise ValueError("the metadata is not a JSON object")
        known = {key: value for key, value in values.items() if key in cls.__dataclass_fields__}
        try:
            known["config"] = TrainConfig.from_dict(known.get("config", {}))
        except MnistStudioError as e:
            raise ValueError(f"config: {e}") from e
        for key, kinds in _FIELD_KINDS.items():
            if key in known and not isinstance(known[key], kinds):
                raise ValueError(f"{key} is {known[key]!r}")
        history = known.get("history", {})
        if not all(isinstance(series, list) and all(_is_number(v) for v in series)
                   for series in history.values()):
            raise ValueError("history holds something other than lists of numbers")
        return cls(**known)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NUMBER = (int, float)
_FIELD_KINDS: dict[str, tuple[type, ...]] = {
    "name": (str,), "test_loss": (*_NUMBER, type(None)), "test_accuracy": (*_NUMBER, type(None)),
    "history": (dict,), "epochs_completed": (int, type(None)), "stopped": (bool,),
    "seconds": (*_NUMBER, type(None)), "params": (int, type(None)),
    "data_checksum": (str, type(None)), "created": (str,), "description": (str,),
    "owner": (str,), "format": (int,),
}


@dataclass(frozen=True)
class ModelInfo:
    """A model found in the store: where it is and what its metadata says."""

    ref: str  # "quickstart" or "runs/NAME"
    path: Path
    shipped: bool
    metadata: ModelMetadata | None
    problem: str | None = None  # why the entry can't be used or its metadata read
    usable: bool = True  # False: not a model file we would load (a link outside, a folder)

    @property
    def label(self) -> str:
        """A short human label, e.g. 'quickstart · 97.7%'."""
        return model_label(self)


def check_name(name: str) -> str:
    """Return `name` if it is a safe model name, else raise InvalidNameError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise InvalidNameError(
            f"invalid model name {name!r}: use 1-80 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (no '/', no '..')"
        )
    return name


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort: not every filesystem supports it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path | str) -> None:
    """Delete a file if it is there; never raises (a clean-up must not hide the real error)."""
    with contextlib.suppress(OSError):
        os.unlink(path)


# Names this process has reserved (their placeholder files), so that save() releases them.
_reserved: set[Path] = set()
_reserved_lock = threading.Lock()


# The last listing of each models folder, with the folders' stamp it was read at: every run
# of every page lists the models (twice), and a workshop's folder holds hundreds of runs.
_listings: dict[str, tuple[tuple[int, ...], list[ModelInfo]]] = {}
# A folder changed this recently may change again within the same modification time (its
# clock ticks every few ms): its listing is read again until then, as git treats racy files.
SETTLED_NS = 2_000_000_000
# Each folder's entries as last read, by name: (their files' stamp, (mtime, info)). While
# runs are saved every folder is racy, and a listing then reads only the entries that changed.
_entries: dict[str, dict[str, tuple[tuple, tuple[float, ModelInfo]]]] = {}


def _entry_stamp(model: os.DirEntry, metadata: os.DirEntry | None) -> tuple | None:
    """Inode, size and modification time of a model file and its metadata, or None when
    either is a link, can't be read, or changed within SETTLED_NS (then read afresh)."""
    stamp: list[int] = []
    for entry in (model, metadata):
        if entry is None:
            stamp += [-1, -1, -1]
            continue
        try:
            status = entry.stat(follow_symlinks=False)
        except OSError:
            return None
        if stat.S_ISLNK(status.st_mode) or time.time_ns() - status.st_mtime_ns < SETTLED_NS:
            return None
        stamp += [status.st_ino, status.st_size, status.st_mtime_ns]
    return tuple(stamp)


class ModelStore:
    """The models folder: shipped models at the top, user runs in runs/."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else models_dir()

    @property
    def runs_dir(self) -> Path:
        """Where every user run is saved."""
        return self.root / RUNS_SUBDIR

    def runs_bytes(self) -> int:
        """The size of every file in the runs folder (0 if there is none yet)."""
        total = 0
        try:
            entries = list(os.scandir(self.runs_dir))
        except OSError:
            return 0
        for entry in entries:
            with contextlib.suppress(OSError):
                status = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(status.st_mode):
                    total += status.st_size
        return total

    def check_space(self) -> None:
        """StoreFullError, with a message for the participant, if the runs folder is full."""
        limit = runs_folder_mb() * MB
        used = self.runs_bytes()
        if used >= limit:
            raise StoreFullError(
                f"The server's runs folder is full ({_megabytes(used)} of "
                f"{_megabytes(limit)}): no new run can be saved. The presenter can raise "
                f"{RUNS_FOLDER_MB_ENV_VAR} or move old runs out of {self.runs_dir}.")

    def resolve(self, ref: str) -> Path:
        """Map a ref ("NAME" or "runs/NAME") to its .keras path inside the store."""
        folder, _, name = ref.rpartition("/")
        if folder not in ("", RUNS_SUBDIR):
            raise InvalidNameError(f"invalid model reference {ref!r}: not in the models folder")
        base = (self.root if folder == "" else self.runs_dir).resolve()
        path = base / f"{check_name(name)}{MODEL_SUFFIX}"
        # Only a link can lead out of the folder: resolving every entry's whole path was
        # most of a listing (two realpaths each, listed on every run of every page).
        if path.is_symlink():
            path = path.resolve()
            if path.parent != base:
                raise InvalidNameError(
                    f"invalid model reference {ref!r}: outside the models folder")
        return path

    def list_models(self) -> list[ModelInfo]:
        """Shipped models (by name), then runs (newest first); temp files are skipped. Never
        raises for a bad entry: it is listed with `problem` saying why it can't be used.
        Read again whenever either folder has changed (a save renames a file into it)."""
        stamp = self.folders_stamp()  # before the scan: a change meanwhile gives a new one
        cached = _listings.get(str(self.root))
        if stamp is not None and cached is not None and cached[0] == stamp:
            return list(cached[1])
        shipped = sorted(self._scan(self.root, shipped=True), key=lambda found: found[1].ref)
        runs = sorted(self._scan(self.runs_dir, shipped=False), key=lambda found: found[0],
                      reverse=True)
        infos = [info for _, info in shipped + runs]
        if stamp is not None:
            _listings[str(self.root)] = (stamp, infos)
        return list(infos)

    def folders_stamp(self) -> tuple[int, ...] | None:
        """The models and runs folders' inode and modification time, or None if they can't
        be read or changed within SETTLED_NS (a listing then is read afresh)."""
        stamp = []
        for folder in (self.root, self.runs_dir):
            try:
                status = os.stat(folder)
            except FileNotFoundError:
                if folder == self.root:
                    return None
                stamp += [-1, -1]  # no runs yet: making the folder changes the root's stamp
                continue
            except OSError:
                return None
            if time.time_ns() - status.st_mtime_ns < SETTLED_NS:
                return None
            stamp += [status.st_ino, status.st_mtime_ns]
        return tuple(stamp)

    def _scan(self, folder: Path, shipped: bool) -> list[tuple[float, ModelInfo]]:
        """(modification time, info) of each model-named entry in `folder`; an entry whose
        files are as at the last scan (and settled) is not read again."""
        try:
            entries = {entry.name: entry for entry in os.scandir(folder)} \
                if folder.is_dir() else {}
        except OSError as e:
            log.warning("can't list %s: %s", folder, e)
            return []
        before = _entries.get(str(folder), {})
        kept: dict[str, tuple[tuple, tuple[float, ModelInfo]]] = {}
        found = []
        for file_name in sorted(entries):
            name = file_name[: -len(MODEL_SUFFIX)]
            if not file_name.endswith(MODEL_SUFFIX) or not NAME_PATTERN.fullmatch(name) \
                    or ".." in name:
                continue  # temp files (".tmp-...") and names we would refuse to load
            ref = name if shipped else f"{RUNS_SUBDIR}/{name}"
            path = Path(entries[file_name].path)
            stamp = _entry_stamp(entries[file_name], entries.get(name + METADATA_SUFFIX))
            cached = before.get(name)
            if stamp is not None and cached is not None and cached[0] == stamp:
                found.append(cached[1])
                kept[name] = cached
                continue
            try:
                entry = self._entry(ref, path, shipped)
            except Exception as e:  # the last resort: one entry never breaks the listing
                log.warning("models folder entry %s: %s", path, e, exc_info=True)
                entry = (0.0, ModelInfo(ref, path, shipped, None,
                                        f"{ref}: {type(e).__name__}: {e}", usable=False))
            found.append(entry)
            if stamp is not None:
                kept[name] = (stamp, entry)
        _entries[str(folder)] = kept
        return found

    def _entry(self, ref: str, path: Path, shipped: bool) -> tuple[float, ModelInfo]:
        try:
            mtime = path.lstat().st_mtime
        except OSError as e:
            return 0.0, ModelInfo(ref, path, shipped, None, f"{ref}: can't read it ({e})",
                                  usable=False)
        unusable = self._unusable(ref)
        if unusable is not None:
            return mtime, ModelInfo(ref, path, shipped, None, unusable, usable=False)
        try:
            return mtime, ModelInfo(ref, path, shipped, self.read_metadata(ref))
        except ModelLoadError as e:
            return mtime, ModelInfo(ref, path, shipped, None, str(e))

    def _unusable(self, ref: str) -> str | None:
        """Why the entry for `ref` is not a model file we would load, or None."""
        try:
            target = self.resolve(ref)
        except InvalidNameError:
            return f"{ref}: not used: it is a link to a file outside the models folder"
        try:
            mode = target.stat().st_mode
        except OSError as e:
            return f"{ref}: can't read it ({e})"
        if not stat.S_ISREG(mode):
            return f"{ref}: not used: not a regular file"
        return None

    def read_metadata(self, ref: str) -> ModelMetadata:
        """Read the JSON metadata saved beside a model (at most MAX_METADATA_BYTES of it)."""
        path = self.resolve(ref).with_suffix(METADATA_SUFFIX)
        try:
            # No symlinks followed, and O_NONBLOCK so that a FIFO in its place can't hang us.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
        except FileNotFoundError as e:
            raise ModelLoadError(f"{ref}: no metadata file ({path.name})") from e
        except OSError as e:
            if path.is_symlink():
                raise ModelLoadError(
                    f"{ref}: its metadata file {path.name} is a symbolic link (not followed)"
                ) from e
            raise ModelLoadError(f"{ref}: unreadable metadata ({e})") from e
        try:
            with os.fdopen(fd, "rb") as handle:
                status = os.fstat(handle.fileno())
                if not stat.S_ISREG(status.st_mode):
                    raise ModelLoadError(f"{ref}: its metadata {path.name} is not a regular file")
                if status.st_size > MAX_METADATA_BYTES:
                    raise ModelLoadError(
                        f"{ref}: its metadata file is too large ({_megabytes(status.st_size)}; "
                        f"the limit is {_megabytes(MAX_METADATA_BYTES)})")
                raw = handle.read(MAX_METADATA_BYTES + 1)
        except OSError as e:
            raise ModelLoadError(f"{ref}: unreadable metadata ({e})") from e
        if len(raw) > MAX_METADATA_BYTES:  # it grew since the fstat
            raise ModelLoadError(f"{ref}: its metadata file is too large")
        try:
            return ModelMetadata.from_dict(json.loads(raw.decode("utf-8")))
        except Exception as e:  # anything a hand-edited file can provoke (deep nesting, huge ints)
            raise ModelLoadError(f"{ref}: unreadable metadata ({e})") from e

    def load(self, ref: str):  # -> keras.Model (Keras is imported lazily)
        """Load a model with Keras safe_mode=True and check it maps (N, 28, 28) to (N, 10)."""
        path = self.resolve(ref)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError as e:
            raise ModelLoadError(f"{ref}: no such model") from e
        except OSError as e:
            raise ModelLoadError(f"{ref}: can't read it ({e})") from e
        if not stat.S_ISREG(mode):
            raise ModelLoadError(f"{ref}: not a regular file")
        return load_model_file(path, label=ref)

    def save(self, model, metadata: ModelMetadata, ref: str) -> ModelInfo:
        """Save model + metadata under a ref, atomically; a name reserved by new_run_ref is
        released afterwards, saved or not."""
        path = self.resolve(ref)
        metadata.name = ref
        try:
            if path.parent == self.runs_dir.resolve():
                self.check_space()  # shipped models (--out) are the presenter's own choice
            save_model_file(model, metadata, path)
        finally:
            self.release_run_ref(ref)
        return ModelInfo(ref, path, path.parent == self.root.resolve(), metadata)

    def new_run_ref(self, stem: str) -> str:
        """A fresh run ref "runs/<stem>-<timestamp>[-N]", reserved for this process: no other
        thread or process gets it until save() (or release_run_ref) releases it."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = check_name(f"{stem}-{stamp}")
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ModelSaveError(f"could not save the model to {self.runs_dir}: {e}") from e
        for counter in itertools.count(1):
            ref = f"{RUNS_SUBDIR}/{base}" if counter == 1 else f"{RUNS_SUBDIR}/{base}-{counter}"
            path = self.resolve(ref)
            if os.path.lexists(path):
                continue
            reservation = _reservation_path(path)
            try:  # O_EXCL: of all threads and processes trying this name, one succeeds
                os.close(os.open(reservation, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                continue
            except OSError as e:
                raise ModelSaveError(f"could not save the model to {self.runs_dir}: {e}") from e
            if os.path.lexists(path):  # saved (and released) by an earlier holder meanwhile
                _remove_quietly(reservation)
                continue
            with _reserved_lock:
                _reserved.add(reservation)
            return ref
        raise AssertionError("itertools.count() never ends")

    def release_run_ref(self, ref: str) -> None:
        """Give back a name reserved by new_run_ref in this process (no-op otherwise)."""
        try:
            reservation = _reservation_path(self.resolve(ref))
        except InvalidNameError:
            return
        with _reserved_lock:
            if reservation not in _reserved:
                return
            _reserved.discard(reservation)
        _remove_quietly(reservation)

    def clean_leftovers(self, max_age: float = LEFTOVER_MAX_AGE) -> int:
        """Delete temp files (".tmp-*") older than `max_age` seconds, left by killed saves;
        returns how many. Younger ones may belong to a save under way in another process.
        Never raises (a read-only folder simply keeps them)."""
        cutoff = time.time() - max_age
        removed = 0
        for folder in (self.root, self.runs_dir):
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if not entry.name.startswith(TEMP_PREFIX):
                    continue
                try:
                    status = entry.stat(follow_symlinks=False)
                    if not stat.S_ISREG(status.st_mode) or status.st_mtime > cutoff:
                        continue
                    os.unlink(entry.path)
                    removed += 1
                except OSError:
                    continue
        if removed:
            log.info("removed %d leftover temp file(s) from %s", removed, self.root)
        return removed


def _reservation_path(model_path: Path) -> Path:
    """The placeholder that reserves a run name: runs/.tmp-NAME.reserved."""
    return model_path.with_name(f"{TEMP_PREFIX}{model_path.stem}{RESERVED_SUFFIX}")


def save_model_file(model, metadata: ModelMetadata, path: Path | str) -> None:
    """Write model + metadata via temp files and renames, model last, so a crash
    never leaves a half-written model under the real name."""
    path = Path(path)
    if path.suffix != MODEL_SUFFIX:
        raise InvalidNameError(f"{path}: a model file name must end in {MODEL_SUFFIX}")
    if metadata.params is None:
        metadata.params = int(model.count_params())
    model_tmp = meta_tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        unique = f"{os.getpid()}-{threading.get_ident()}"
        model_tmp = path.with_name(f"{TEMP_PREFIX}{unique}-{path.name}")
        model.save(model_tmp)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, prefix=TEMP_PREFIX, suffix=METADATA_SUFFIX,
            delete=False, encoding="utf-8",
        ) as handle:
            meta_tmp = Path(handle.name)
            os.chmod(meta_tmp, 0o644)  # mkstemp makes it owner-only; it is not a secret
            json.dump(metadata.to_dict(), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        # Metadata first, model last: a listed .keras always has its metadata.
        os.replace(meta_tmp, path.with_suffix(METADATA_SUFFIX))
        os.replace(model_tmp, path)
        _fsync_dir(path.parent)
    except Exception as e:  # Keras may raise more than OSError; none may wedge a trainer
        for leftover in (model_tmp, meta_tmp):
            if leftover is not None:
                _remove_quietly(leftover)
        reason = str(e) if isinstance(e, OSError) else f"{type(e).__name__}: {e}"
        raise ModelSaveError(f"could not save the model to {path.parent}: {reason}") from e


def write_atomic(path: Path | str, text: str, mode: int = 0o644) -> None:
    """Write a small text file atomically (temp file, fsync, rename); ModelSaveError if not."""
    path = Path(path)
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=TEMP_PREFIX,
                                         suffix=path.suffix, delete=False,
                                         encoding="utf-8") as handle:
            temp = Path(handle.name)
            os.chmod(temp, mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        if temp is not None:
            _remove_quietly(temp)
        raise ModelSaveError(f"could not write {path.name} in {path.parent}: {e}") from e


def read_small_file(path: Path | str, limit: int = MAX_METADATA_BYTES) -> str | None:
    """A small regular file's text (no symlink followed), or None if it does not exist;
    ModelLoadError if it is unreadable, not a regular file or over `limit` bytes."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ModelLoadError(f"{path.name}: unreadable ({e})") from e
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ModelLoadError(f"{path.name}: not a regular file")
            raw = handle.read(limit + 1)
    except OSError as e:
        raise ModelLoadError(f"{path.name}: unreadable ({e})") from e
    if len(raw) > limit:
        raise ModelLoadError(f"{path.name}: too large (over {_megabytes(limit)})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelLoadError(f"{path.name}: not text ({e})") from e
