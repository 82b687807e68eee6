"""Save, list and safely load models, each with a JSON metadata file beside it.

Layout: shipped models sit in `models/NAME.keras` (tracked by git); every run a user
makes goes to `models/runs/NAME.keras` (git-ignored). A model is referred to by its
*ref*: "NAME" for a shipped model, "runs/NAME" for a run. Refs are checked against a
strict pattern, so text typed in a UI can never name a file outside the models folder.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mnist_core.config import TrainConfig
from mnist_core.constants import IMAGE_SHAPE, NUM_CLASSES, RUNS_SUBDIR
from mnist_core.errors import InvalidNameError, MnistStudioError, ModelLoadError, ModelSaveError
from mnist_core.naming import model_label
from mnist_core.settings import models_dir

MODEL_SUFFIX = ".keras"
METADATA_SUFFIX = ".json"
METADATA_FORMAT = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
TEMP_PREFIX = ".tmp-"


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
    problem: str | None = None  # why the metadata could not be read, if it could not

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


class ModelStore:
    """The models folder: shipped models at the top, user runs in runs/."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else models_dir()

    @property
    def runs_dir(self) -> Path:
        """Where every user run is saved."""
        return self.root / RUNS_SUBDIR

    def resolve(self, ref: str) -> Path:
        """Map a ref ("NAME" or "runs/NAME") to its .keras path inside the store."""
        folder, _, name = ref.rpartition("/")
        if folder not in ("", RUNS_SUBDIR):
            raise InvalidNameError(f"invalid model reference {ref!r}: not in the models folder")
        base = self.root if folder == "" else self.runs_dir
        path = (base / f"{check_name(name)}{MODEL_SUFFIX}").resolve()
        if path.parent != base.resolve():  # belt and braces against symlink tricks
            raise InvalidNameError(f"invalid model reference {ref!r}: outside the models folder")
        return path

    def list_models(self) -> list[ModelInfo]:
        """Shipped models (by name), then runs (newest first); temp files are skipped."""
        shipped = sorted(self._scan(self.root, shipped=True), key=lambda info: info.ref)
        runs = sorted(
            self._scan(self.runs_dir, shipped=False),
            key=lambda info: info.path.stat().st_mtime if info.path.exists() else 0,
            reverse=True,
        )
        return shipped + runs

    def _scan(self, folder: Path, shipped: bool) -> list[ModelInfo]:
        if not folder.is_dir():
            return []
        found = []
        for path in folder.glob(f"*{MODEL_SUFFIX}"):
            name = path.name[: -len(MODEL_SUFFIX)]
            if not NAME_PATTERN.fullmatch(name) or ".." in name:
                continue  # temp files (".tmp-...") and names we would refuse to load
            ref = name if shipped else f"{RUNS_SUBDIR}/{name}"
            metadata, problem = None, None
            try:
                metadata = self.read_metadata(ref)
            except ModelLoadError as e:
                problem = str(e)
            found.append(ModelInfo(ref, path, shipped, metadata, problem))
        return found

    def read_metadata(self, ref: str) -> ModelMetadata:
        """Read the JSON metadata saved beside a model."""
        path = self.resolve(ref).with_suffix(METADATA_SUFFIX)
        try:
            return ModelMetadata.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError as e:
            raise ModelLoadError(f"{ref}: no metadata file ({path.name})") from e
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise ModelLoadError(f"{ref}: unreadable metadata ({e})") from e

    def load(self, ref: str):  # -> keras.Model (Keras is imported lazily)
        """Load a model with Keras safe_mode=True and check it maps (N, 28, 28) to (N, 10)."""
        path = self.resolve(ref)
        if not path.is_file():
            raise ModelLoadError(f"{ref}: no such model")
        return load_model_file(path, label=ref)

    def save(self, model, metadata: ModelMetadata, ref: str) -> ModelInfo:
        """Save model + metadata under a ref, atomically."""
        path = self.resolve(ref)
        metadata.name = ref
        save_model_file(model, metadata, path)
        return ModelInfo(ref, path, path.parent == self.root.resolve(), metadata)

    def new_run_ref(self, stem: str) -> str:
        """A fresh, unused run ref "runs/<stem>-<timestamp>"."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = check_name(f"{stem}-{stamp}")
        ref, counter = f"{RUNS_SUBDIR}/{base}", 1
        while self.resolve(ref).exists():
            counter += 1
            ref = f"{RUNS_SUBDIR}/{base}-{counter}"
        return ref


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
    except OSError as e:
        for leftover in (model_tmp, meta_tmp):
            if leftover is not None:
                leftover.unlink(missing_ok=True)
        raise ModelSaveError(f"could not save the model to {path.parent}: {e}") from e


def load_model_file(path: Path | str, label: str | None = None):  # -> keras.Model
    """Load any .keras file with safe_mode=True; every failure becomes ModelLoadError."""
    from mnist_core.tf_setup import keras  # deferred: importing Keras takes seconds

    label = label or str(path)
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{label}: not a Keras model file (corrupt, empty or foreign)")
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "safe_mode" in str(e) or "lambda" in str(e).lower():
            reason = "it contains code (a Lambda layer) and safe mode refuses to run it"
        raise ModelLoadError(f"{label}: can't load this model: {reason}") from e
    input_shape = tuple(getattr(model, "input_shape", ()) or ())
    output_shape = tuple(getattr(model, "output_shape", ()) or ())
    if input_shape[1:] != IMAGE_SHAPE or output_shape[1:] != (NUM_CLASSES,):
        raise ModelLoadError(
            f"{label}: not an MNIST model (takes {input_shape}, gives {output_shape}; "
            f"expected (None, 28, 28) -> (None, 10))"
        )
    return model
