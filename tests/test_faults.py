"""Workshop faults at the app level: bad model files, missing data, unsafe models, config."""

from __future__ import annotations

import tomllib
from pathlib import Path

import keras
import pytest

from tests.conftest import PROJECT_ROOT
from tests.test_app import block_text, new_app


@pytest.fixture
def app_models(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MNIST_TRAIN_LIMIT", "500")
    return models_dir


def write_lambda_model(path: Path) -> None:
    """A .keras file carrying Python code (a Lambda layer) with MNIST shapes."""
    inputs = keras.Input((28, 28))
    outputs = keras.layers.Lambda(lambda x: keras.ops.sum(x, axis=1)[:, :10])(inputs)
    keras.Model(inputs, outputs).save(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.write_bytes(b""), "not a Keras model file"),
        (lambda path: path.write_bytes(b"this is not a keras file"), "not a Keras model file"),
        (lambda path: keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)]).save(path),
         "not an MNIST model"),
        (write_lambda_model, "safe mode refuses"),
    ],
    ids=["empty", "garbage", "foreign", "lambda"],
)
def test_bad_model_file_is_listed_with_a_message(app_models, make, message):
    make(app_models / "suspect.keras")
    (app_models / "suspect.json").write_text((app_models / "quickstart.json").read_text())
    at = new_app()
    assert any(label.startswith("suspect") for label in at.selectbox(key="model").options)
    at.selectbox(key="model").set_value("suspect").run()
    assert not at.exception, at.exception
    errors = "\n".join(box.value for box in at.error)
    assert "Can't use model **suspect**" in errors and message in errors
    # The rest of the app still works: another model can be chosen and used.
    at.selectbox(key="model").set_value("quickstart").run()
    assert not at.exception and not at.error
    assert "Draw a digit" in block_text(at.get_by_key("prediction"))


def test_half_written_temp_files_are_never_offered(app_models):
    runs = app_models / "runs"
    runs.mkdir()
    (runs / ".tmp-4242-mlp-e5.keras").write_bytes(b"PK\x03\x04 cut off by a SIGKILL")
    at = new_app()
    at.checkbox(key="all_runs").check().run()
    assert not any("tmp" in label for label in at.selectbox(key="model").options)
    assert not at.exception


def test_missing_data_and_no_network_gives_one_clear_message(app_models, monkeypatch,
                                                             tmp_path):
    """MNIST_DATA points nowhere: the app says what to fix; drawing still works."""
    import streamlit as st

    from mnist_core import data as data_module

    monkeypatch.setenv("MNIST_DATA", str(tmp_path / "gone.npz"))
    monkeypatch.setattr(data_module, "_cache", {})
    st.cache_resource.clear()  # a fresh server: nothing loaded yet
    try:
        at = new_app()
    finally:
        st.cache_resource.clear()
    assert not at.exception, at.exception
    messages = "\n".join(box.value for box in [*at.error, *at.warning])
    assert "Could not load the MNIST data" in messages and "gone.npz" in messages
    assert "Traceback" not in messages
    assert "Draw a digit" in block_text(at.get_by_key("prediction"))


def test_streamlit_config_is_workshop_safe():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False
