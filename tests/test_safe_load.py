"""mnist_core.safe_load: bombs, huge files and foreign layers are refused before Keras
loads anything; file hashes computed a chunk at a time."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import keras
import pytest

from mnist_core import safe_load
from mnist_core.errors import ModelLoadError
from mnist_core.store import ModelStore, file_sha256, load_model_file


@pytest.fixture
def no_keras_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if Keras is asked to load the file: it must be refused before."""

    def must_not_load(*args, **kwargs):
        raise AssertionError("keras.models.load_model was called")

    monkeypatch.setattr(keras.models, "load_model", must_not_load)


@pytest.fixture
def quickstart_parts(models_dir: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(models_dir / "quickstart.keras") as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_archive(path: Path, members: dict[str, bytes], zeros: dict[str, int] | None = None,
                  compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip of `members`, plus members of that many zero bytes (streamed, never in memory)."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        for name, size in (zeros or {}).items():
            chunk = bytes(1 << 20)
            with archive.open(name, "w", force_zip64=True) as member:
                for start in range(0, size, len(chunk)):
                    member.write(chunk[: min(len(chunk), size - start)])
    return path


def test_a_file_larger_than_the_cap_is_refused_unread(models_dir, tmp_path, no_keras_load):
    """A 60 MB .keras (a hole, then a real model: still a valid zip)."""
    path = tmp_path / "huge.keras"
    with path.open("wb") as handle:
        handle.seek(60 * 1024 * 1024)
        handle.write((models_dir / "quickstart.keras").read_bytes())
    assert zipfile.is_zipfile(path)
    with pytest.raises(ModelLoadError, match=r"huge\.keras: the file is 61\.\d MB.*limit is 50"):
        load_model_file(path)


def test_a_zip_bomb_is_refused_from_its_declared_sizes(tmp_path, quickstart_parts,
                                                       no_keras_load):
    """400 MB of zeros as the weights (a 0.4 MB file): refused from the zip directory."""
    parts = {name: content for name, content in quickstart_parts.items()
             if name != "model.weights.h5"}
    path = write_archive(tmp_path / "bomb.keras", parts, zeros={"model.weights.h5": 400 << 20})
    assert path.stat().st_size < 2 << 20
    with pytest.raises(ModelLoadError, match=r"unpacks to 400\.0 MB.*limit is"):
        load_model_file(path)


def test_an_archive_compressed_too_well_is_refused(tmp_path, quickstart_parts, no_keras_load):
    """Under the size cap, but 20 MB of zeros squeezed 1000-fold: a bomb's signature."""
    parts = {name: content for name, content in quickstart_parts.items()
             if name != "model.weights.h5"}
    path = write_archive(tmp_path / "squeezed.keras", parts, zeros={"model.weights.h5": 20 << 20})
    with pytest.raises(ModelLoadError, match=r"compressed \d+-fold"):
        load_model_file(path)


def test_an_archive_with_too_many_members_is_refused(tmp_path, quickstart_parts,
                                                     no_keras_load):
    members = {**quickstart_parts, **{f"junk/{i}": b"" for i in range(5000)}}
    path = write_archive(tmp_path / "many.keras", members)
    with pytest.raises(ModelLoadError, match="5003 files"):
        load_model_file(path)


def test_an_oversized_config_is_refused(tmp_path, quickstart_parts, no_keras_load):
    parts = {**quickstart_parts, "config.json": b"[" * (3 << 20)}
    path = write_archive(tmp_path / "config.keras", parts)
    with pytest.raises(ModelLoadError, match=r"config\.json is 3\.0 MB"):
        load_model_file(path)


def test_a_real_model_still_loads(models_dir):
    assert load_model_file(models_dir / "quickstart.keras").count_params() == 101_770
    assert ModelStore(models_dir).load("drawing").output_shape == (None, 10)


def lambda_model(path: Path) -> None:
    inputs = keras.Input((28, 28))
    outputs = keras.layers.Lambda(lambda x: keras.ops.sum(x, axis=-1)[:, :10])(inputs)
    keras.Model(inputs, outputs).save(path)


def string_lookup_model(path: Path) -> None:
    inputs = keras.Input((1,), dtype="string")
    lookup = keras.layers.StringLookup(vocabulary=["a", "b"])
    keras.Model(inputs, lookup(inputs)).save(path)


def tfsm_model(path: Path) -> None:
    import tensorflow as tf

    class Summer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32)])
        def serve(self, x):
            return tf.reduce_sum(x, axis=2)[:, :10]

    module = Summer()
    saved = path.with_suffix(".savedmodel")
    tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serve})
    inputs = keras.Input((28, 28))
    outputs = keras.layers.TFSMLayer(str(saved), call_endpoint="serving_default")(inputs)
    keras.Model(inputs, outputs).save(path)


def lambda_activation_model(path: Path, quickstart_parts: dict[str, bytes]) -> None:
    """The quickstart with its first Dense layer's activation swapped for Python code."""
    text = quickstart_parts["config.json"].decode()
    code = ('{"module": "builtins", "class_name": "__lambda__", "config": {"code": "x", '
            '"defaults": null, "closure": null}, "registered_name": null}')
    write_archive(path, {**quickstart_parts,
                         "config.json": text.replace('"relu"', code, 1).encode()})


def foreign_module_model(path: Path, quickstart_parts: dict[str, bytes]) -> None:
    """The quickstart with an initializer that names a module outside Keras."""
    text = quickstart_parts["config.json"].decode()
    write_archive(path, {**quickstart_parts, "config.json": text.replace(
        '"module": "keras.initializers"', '"module": "os"', 1).encode()})


@pytest.mark.parametrize(
    ("make", "messages"),
    [
        (lambda_model, ["contains a Lambda layer", "code", "safe mode refuses"]),
        (string_lookup_model, ["contains a StringLookup layer"]),
        (tfsm_model, ["contains a TFSMLayer layer", "SavedModel"]),
        (lambda_activation_model, ["Python code (a lambda)", "safe mode refuses"]),
        (foreign_module_model, ["refers to code outside Keras", "'os'"]),
    ],
    ids=["lambda", "string-lookup", "tfsm-layer", "lambda-activation", "foreign-module"],
)
def test_refused_layers_are_named(tmp_path, quickstart_parts, make, messages, no_keras_load):
    path = tmp_path / "suspect.keras"
    if make in (lambda_activation_model, foreign_module_model):
        make(path, quickstart_parts)
    else:
        make(path)
    with pytest.raises(ModelLoadError) as info:
        load_model_file(path, label="runs/suspect")
    text = str(info.value)
    assert text.startswith("runs/suspect: can't load this model: ")
    for message in messages:
        assert message in text
    assert "Lambda" not in text or make is lambda_model


def test_an_archive_without_a_config_is_not_a_keras_model(tmp_path, quickstart_parts,
                                                         no_keras_load):
    parts = {name: content for name, content in quickstart_parts.items()
             if name != "config.json"}
    with pytest.raises(ModelLoadError, match="not a Keras model file"):
        load_model_file(write_archive(tmp_path / "noconfig.keras", parts))


@pytest.mark.parametrize("size", [0, 1, 1000, 3 * 1024 * 1024 + 7])
def test_file_sha256_streams_in_chunks(tmp_path, monkeypatch, size):
    path = tmp_path / "blob"
    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path.write_bytes(content)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read it all at once"))
    assert file_sha256(path) == hashlib.sha256(content).hexdigest()


def test_file_sha256_of_a_shipped_model(models_dir):
    path = models_dir / "quickstart.keras"
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    copy = shutil.copy(path, models_dir / "copy.keras")
    assert file_sha256(copy) == file_sha256(path)
    assert safe_load.HASH_CHUNK_BYTES <= 4 << 20
