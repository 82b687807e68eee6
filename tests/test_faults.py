"""Workshop faults at the app level: bad model files, missing data, unsafe models, config."""

from __future__ import annotations

import tomllib
from pathlib import Path

import keras
import pytest

from tests.conftest import PROJECT_ROOT
from tests.test_app import block_text, new_app, open_tab


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


def test_the_draw_tab_loads_its_model_only_once_it_is_open(app_models):
    """A page on another tab does not load the chosen model (a push reran 36 Train tabs at
    once, each loading its new run); opening Draw loads it, and says what is wrong."""
    (app_models / "suspect.keras").write_bytes(b"this is not a keras file")
    (app_models / "suspect.json").write_text((app_models / "quickstart.json").read_text())
    at = new_app("train")
    at.selectbox(key="model").set_value("suspect").run()
    assert not at.exception and not any("Can't use model" in box.value for box in at.error)
    open_tab(at, "Draw")
    assert any("Can't use model **suspect**" in box.value for box in at.error)


def test_text_from_model_files_is_shown_plain(app_models):
    """Markdown in a model file's metadata (a link, a remote image) is never rendered."""
    import json

    model_bytes = (app_models / "quickstart.keras").read_bytes()
    (app_models / "suspect.keras").write_bytes(model_bytes)
    metadata = json.loads((app_models / "quickstart.json").read_text())
    metadata["test_accuracy"] = "![pixel](http://198.51.100.9/track.png) [click](http://x)"
    (app_models / "suspect.json").write_text(json.dumps(metadata))
    at = new_app()
    at.selectbox(key="model").set_value("suspect").run()
    assert not at.exception, at.exception
    shown = "\n".join(caption.value for caption in at.sidebar.caption)
    assert "track.png" in shown  # the reason is shown...
    assert "![pixel](" not in shown and "[click](" not in shown  # ...as text, not Markdown
    assert "\\!\\[pixel\\]" in shown


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


# --- A crash while saving, a full disk, missing data from the CLI (a closed tab: test_browser)

SAVE_RUNS_FOREVER = """
import sys
from mnist_core.data import load_mnist
from mnist_core.jobs import save_result
from mnist_core.store import ModelStore
from mnist_core.training import TrainConfig, train
result = train(TrainConfig(epochs=1, train_limit=300, test_limit=100), load_mnist())
store = ModelStore(sys.argv[1])
while True:
    print(save_result(store, result), flush=True)  # a fresh runs/ name each time, as the app
"""


def test_killed_while_saving_then_restarted_lists_every_finished_run(app_models):
    """SIGKILL in the middle of saving a run (what the server's trainer does), then a fresh
    app on the folder: every run finished before is listed and loads; the half-written one
    (a .tmp-* file) is neither listed nor loaded."""
    import signal
    import subprocess
    import sys
    import time

    runs = app_models / "runs"
    saver = subprocess.Popen([sys.executable, "-c", SAVE_RUNS_FOREVER, str(app_models)],
                             cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    finished = []
    try:
        for line in saver.stdout:
            finished.append(line.strip())
            if len(finished) >= 3:
                break
        deadline = time.monotonic() + 30
        while not list(runs.glob(".tmp-*")) and time.monotonic() < deadline:
            time.sleep(0.001)  # kill it while a save is under way
        saver.send_signal(signal.SIGKILL)
    finally:
        saver.kill()
        saver.wait(timeout=30)
    finished += [line.strip() for line in saver.stdout if line.strip()]  # said before dying
    assert len(finished) >= 3
    complete = sorted(f"runs/{p.stem}" for p in runs.glob("*.keras") if not p.name.startswith("."))
    assert set(finished) <= set(complete)

    at = new_app()  # the restarted server: a fresh session on the same folder
    at.checkbox(key="all_runs").check().run()
    options = at.selectbox(key="model").options
    assert not any("tmp" in label for label in options), options
    assert len(set(options)) == len(options), options  # runs saved in the same minute too
    shipped = [label for label in options if label.startswith(("drawing", "quickstart"))]
    assert len(options) - len(shipped) == len(complete), options
    for ref in complete:  # every run that was saved loads, and nothing else is offered
        at.selectbox(key="model").set_value(ref).run()
        assert not at.exception, at.exception
        assert at.selectbox(key="model").value == ref
        assert not at.error, [box.value for box in at.error]


def test_full_disk_while_saving_keeps_the_model_and_says_why(app_models, monkeypatch):
    """No space left when the trained model is written: training still completes, the page
    says why it was not saved, the model is usable in this session, nothing half-written."""
    import errno
    import os
    import types

    from mnist_core import store as store_module
    from tests.test_app import train_to_the_end

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    full_disk_os = types.SimpleNamespace(**{**vars(os), "replace": disk_full})
    monkeypatch.setattr(store_module, "os", full_disk_os)  # only the model store's renames
    at = new_app("train")
    train_to_the_end(at)
    warning = "\n".join(box.value for box in at.warning)
    assert "Could not save this model" in warning and "No space left on device" in warning
    assert not at.error and not at.exception
    at.button(key="use_model").click().run()  # "Draw with this model": the unsaved one
    assert at.selectbox(key="model").value.startswith("memory:")
    assert not at.error and not at.exception
    runs = app_models / "runs"
    assert not list(runs.glob("*")) if runs.is_dir() else True  # no partial or temp files


def test_cli_missing_data_with_no_network_says_how_to_fix(tmp_path):
    """MNIST_DATA set to a file that is gone: one message naming it and the fix, exit 1."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "mnist_core", "train", "--epochs", "1"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MNIST_DATA": str(tmp_path / "gone.npz"),
             "MNIST_MODELS_DIR": str(tmp_path / "models")},
    )
    assert result.returncode == 1
    assert "Could not load the MNIST data" in result.stderr and "gone.npz" in result.stderr
    assert "Fix:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists()  # nothing written
