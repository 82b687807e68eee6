"""Load a .keras file without running its code: sizes, the archive and every layer class
are checked before Keras reads it, then Keras loads it with safe_mode=True."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from pathlib import Path
from typing import Any

from mnist_core.constants import IMAGE_SHAPE, NUM_CLASSES
from mnist_core.errors import ModelLoadError

MB = 1 << 20
# Our models are under 2 MB. Everything is checked against these before it is read, so a
# bomb is refused at the cost of a stat and the zip's directory.
MAX_MODEL_BYTES = 50 * MB
MAX_MODEL_UNPACKED_BYTES = 100 * MB  # sum of the archive's declared member sizes
MAX_MODEL_MEMBERS = 100  # a .keras file has three
MAX_COMPRESSION_RATIO = 100  # Keras stores members uncompressed; zip bombs are ~1000-fold
MAX_CONFIG_BYTES = 1 * MB  # config.json: ~4 kB for the quickstart, ~8 kB for the CNN
HASH_CHUNK_BYTES = 1 * MB

# The layer classes of the models MNIST Studio builds (mnist_core.model): a model with any
# other layer is refused before Keras deserializes anything.
ALLOWED_LAYERS = frozenset({
    "Sequential", "Functional", "InputLayer", "Flatten", "Dense", "Dropout", "Reshape",
    "Conv2D", "MaxPooling2D",
})
REFUSAL_REASONS = {
    "Lambda": "runs Python code, and safe mode refuses to run it",
    "TFSMLayer": "loads an external TensorFlow SavedModel (code from outside the file)",
    "StringLookup": "reads text, not images (and may read files outside the model)",
    "IntegerLookup": "may read vocabulary files outside the model",
    "TextVectorization": "reads text, not images (and may read files outside the model)",
}


def _megabytes(size: float) -> str:
    return f"{size / MB:.1f} MB"


def file_sha256(path: Path | str) -> str:
    """sha256 hex digest of a file, read a chunk at a time (never the whole file at once)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def load_model_file(path: Path | str, label: str | None = None):  # -> keras.Model
    """Load any .keras file with safe_mode=True; every failure becomes ModelLoadError.

    Its size, its zip directory and its config.json's layer classes are checked first, so
    a bomb or a model carrying code is refused before Keras reads anything of it."""
    label = label or str(path)
    path = Path(path)
    check_model_archive(path, label)
    from mnist_core.tf_setup import keras  # deferred: importing Keras takes seconds

    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:
        raise ModelLoadError(f"{label}: can't load this model: {_keras_refusal(e)}") from e
    input_shape = tuple(getattr(model, "input_shape", ()) or ())
    output_shape = tuple(getattr(model, "output_shape", ()) or ())
    if input_shape[1:] != IMAGE_SHAPE or output_shape[1:] != (NUM_CLASSES,):
        raise ModelLoadError(
            f"{label}: not an MNIST model (takes {input_shape}, gives {output_shape}; "
            f"expected (None, 28, 28) -> (None, 10))"
        )
    return model


def check_model_archive(path: Path, label: str) -> None:
    """Refuse a .keras file from its size, zip directory and config.json (ModelLoadError)."""
    try:
        status = path.stat()
    except FileNotFoundError as e:
        raise ModelLoadError(f"{label}: no such file") from e
    except OSError as e:
        raise ModelLoadError(f"{label}: can't read it ({e})") from e
    if not stat.S_ISREG(status.st_mode):
        raise ModelLoadError(f"{label}: not a regular file")
    if status.st_size > MAX_MODEL_BYTES:
        raise ModelLoadError(
            f"{label}: the file is {_megabytes(status.st_size)}; the limit is "
            f"{MAX_MODEL_BYTES // MB} MB (MNIST models are under 2 MB)")
    not_keras = f"{label}: not a Keras model file (corrupt, empty or foreign)"
    try:
        archive = zipfile.ZipFile(path)
    except PermissionError as e:
        raise ModelLoadError(f"{label}: can't read it ({e})") from e
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ModelLoadError(not_keras) from e
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MODEL_MEMBERS:
            raise ModelLoadError(f"{label}: not a Keras model file ({len(members)} files in "
                                 f"it; a model has three)")
        unpacked = sum(member.file_size for member in members)
        if unpacked > MAX_MODEL_UNPACKED_BYTES:
            raise ModelLoadError(
                f"{label}: can't load this model: it unpacks to {_megabytes(unpacked)}; the "
                f"limit is {MAX_MODEL_UNPACKED_BYTES // MB} MB (a zip bomb?)")
        packed = sum(member.compress_size for member in members)
        if unpacked > MB and unpacked > MAX_COMPRESSION_RATIO * max(packed, 1):
            raise ModelLoadError(
                f"{label}: can't load this model: it is compressed "
                f"{unpacked // max(packed, 1)}-fold (a zip bomb?)")
        try:
            config_member = archive.getinfo("config.json")
        except KeyError as e:
            raise ModelLoadError(f"{label}: not a Keras model file (it has no config.json)"
                                 ) from e
        if config_member.file_size > MAX_CONFIG_BYTES:
            raise ModelLoadError(
                f"{label}: can't load this model: its config.json is "
                f"{_megabytes(config_member.file_size)}; the limit is "
                f"{MAX_CONFIG_BYTES // MB} MB")
        try:
            config = json.loads(archive.read(config_member).decode("utf-8"))
        except Exception as e:  # truncated, not JSON, nested too deep, ...
            raise ModelLoadError(f"{label}: can't load this model: unreadable config.json "
                                 f"({e})") from e
    refused = _refused_part(config)
    if refused is not None:
        raise ModelLoadError(f"{label}: can't load this model: {refused}")


def _refused_part(config: Any) -> str | None:
    """Why a model's config.json is refused before Keras sees it, or None if it is fine."""
    if not isinstance(config, dict):
        return "its config.json does not describe a model"
    layers: list[Any] = [config]  # the model itself, then every entry of a "layers" list
    lambdas, modules = False, []
    stack: list[Any] = [config]
    while stack:  # iterative: a deeply nested config can't exhaust the stack
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if "class_name" in node:
            lambdas = lambdas or node["class_name"] == "__lambda__"
            module = node.get("module")
            if isinstance(module, str) and module.split(".")[0] != "keras":
                modules.append(module)
        for key, value in node.items():
            if key == "layers" and isinstance(value, list):
                layers.extend(value)
            stack.append(value)
    for layer in layers:
        name = layer.get("class_name") if isinstance(layer, dict) else None
        if name not in ALLOWED_LAYERS:
            why = REFUSAL_REASONS.get(str(name), "MNIST Studio does not load (it loads only "
                                      f"{', '.join(sorted(ALLOWED_LAYERS))})")
            return f"it contains a {name} layer, which {why}"
    if lambdas:
        return "it contains Python code (a lambda), which safe mode refuses to run"
    if modules:
        named = next((module for module in modules if module != "builtins"), modules[0])
        return f"it refers to code outside Keras (module {named!r})"
    return None


def _keras_refusal(error: Exception) -> str:
    """A one-line reason from Keras' error, naming the class safe mode refused if it did."""
    text = str(error)
    refused = re.search(r"deserialization of an? `(\w+)`", text)
    if refused:
        return f"it contains a {refused[1]} layer, which safe mode refuses to load"
    return text.splitlines()[0] if text else type(error).__name__
