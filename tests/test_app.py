"""streamlit_app.py through Streamlit's AppTest: real TensorFlow, small slices of MNIST."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"
RUN_TIMEOUT = 120  # seconds for one script run; the first one waits for TensorFlow
WAIT = 120  # seconds for a training run on 2,000 images to finish
TRAIN_LIMIT = "2000"


@pytest.fixture
def app_env(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway models folder and a small training set for the app under test."""
    monkeypatch.setenv("MNIST_TRAIN_LIMIT", TRAIN_LIMIT)
    return models_dir


def new_app() -> AppTest:
    """A fresh session of the app, run once."""
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def keyed(at: AppTest, key: str):
    """The element or container with this key, or None."""
    try:
        return at.get_by_key(key)
    except KeyError:
        return None


def block_text(block) -> str:
    """All markdown, caption and metric text inside a container."""
    parts = [element.value for element in block.markdown]
    parts += [element.value for element in block.caption]
    parts += [f"{element.label} {element.value}" for element in block.metric]
    return "\n".join(parts)


def run_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = WAIT) -> None:
    """Rerun the app (as the polling fragment would) until `done(at)` or the timeout."""
    deadline = time.monotonic() + timeout
    while not done(at):
        assert time.monotonic() < deadline, "timed out waiting for the app"
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception


def all_text(at: AppTest) -> str:
    """Text of every message box and markdown element on the page."""
    parts = [element.value for element in at.markdown]
    for boxes in (at.info, at.success, at.warning, at.error):
        parts += [element.value for element in boxes]
    return "\n".join(parts)


def test_app_loads_with_defaults_and_blank_hint(app_env: Path) -> None:
    at = new_app()
    assert at.title[0].value == "MNIST Studio"
    labels = [tab.label.split()[-1] for tab in at.tabs]
    assert labels == ["Learn", "Train", "Draw", "Evaluate"]
    assert at.slider(key="epochs").value == 5
    assert at.slider(key="dropout").value == pytest.approx(0.2)
    assert at.select_slider(key="batch_size").value == 32
    assert at.button(key="train").disabled is False
    assert keyed(at, "stop") is None  # no run going
    assert re.fullmatch(r"[0-9a-f]{32}", at.query_params["session"])
    options = at.selectbox(key="model").options
    expected = "drawing" if (app_env / "drawing.keras").exists() else "quickstart"
    assert at.selectbox(key="model").value == expected and options
    prediction = block_text(at.get_by_key("prediction"))
    assert "Draw a digit" in prediction
    assert not re.search(r"\d", prediction)  # no digit at all while the canvas is blank
    assert not at.error


def test_train_shows_metrics_saves_and_offers_the_run(app_env: Path) -> None:
    at = new_app()
    at.slider(key="epochs").set_value(1)
    at.slider(key="dropout").set_value(0.3)
    at.button(key="train").click().run()
    assert not at.exception, at.exception
    run_until(at, lambda at: keyed(at, "test_accuracy") is not None)

    accuracy = block_text(at.get_by_key("test_accuracy"))
    match = re.search(r"(\d+\.\d)%", accuracy)
    assert match and 50 < float(match.group(1)) <= 100, accuracy
    assert any(metric.label == "Test loss" for metric in at.metric)
    assert any("Finished" in box.value and "1 epoch " in box.value for box in at.success)
    saved = sorted(p.name for p in (app_env / "runs").glob("*.keras"))
    assert len(saved) == 1 and saved[0].startswith("mlp-e1-d0.30-")
    name = saved[0].removesuffix(".keras")
    labels = at.selectbox(key="model").options
    assert any(re.fullmatch(r"★ \d+\.\d% · MLP 1 epoch, dropout 0\.3 · \d\d:\d\d", label)
               for label in labels), labels
    assert name in all_text(at)  # "Saved as ..." names it
    assert keyed(at, "stop") is None and at.button(key="train").disabled is False

    at.button(key="use_model").click().run()  # "Draw with this model" selects it
    assert at.selectbox(key="model").value == f"runs/{name}"
    assert not at.error


def epoch_tested(at: AppTest) -> bool:
    """Whether the live panel shows a test accuracy, i.e. an epoch has ended."""
    return any(metric.label == "Test accuracy" and metric.value != "-" for metric in at.metric)


def test_queue_stop_and_cancel(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_MAX_TRAINING_JOBS", "1")  # read when this folder's trainer starts
    first, second = new_app(), new_app()
    first.slider(key="epochs").set_value(20)
    first.button(key="train").click().run()
    run_until(first, lambda at: any(metric.label == "Epoch" for metric in at.metric))
    assert first.button(key="train").disabled  # one run at a time per session

    second.button(key="train").click().run()
    assert any("Queued, position 1" in box.value for box in second.info)
    second.button(key="stop").click().run()  # cancels the queued run
    run_until(second, lambda at: any("Cancelled" in box.value for box in at.info), timeout=10)

    run_until(first, lambda at: epoch_tested(at))  # stop once it is well under way
    started = time.monotonic()
    first.button(key="stop").click().run()
    run_until(first, lambda at: keyed(at, "test_accuracy") is not None, timeout=30)
    assert time.monotonic() - started < 5
    assert any(re.search(r"Stopped at epoch \d+ of 20", box.value) for box in first.warning)
    assert len(list((app_env / "runs").glob("*.keras"))) == 1  # the stopped run is kept


def test_save_failure_keeps_the_model_usable(app_env: Path) -> None:
    assert not (app_env / "runs").exists()
    (app_env / "runs").write_text("a file where the runs folder should be")  # saving fails
    at = new_app()
    at.slider(key="epochs").set_value(1)
    at.button(key="train").click().run()
    run_until(at, lambda at: keyed(at, "test_accuracy") is not None)
    warning = "\n".join(box.value for box in at.warning)
    assert "Could not save this model" in warning and "could not save the model" in warning
    labels = at.selectbox(key="model").options
    assert len([label for label in labels if "(not saved)" in label]) == 1, labels
    at.button(key="use_model").click().run()  # "Draw with this model"
    assert at.selectbox(key="model").value.startswith("memory:")
    assert not at.exception and not at.error


def test_corrupt_model_shows_a_clear_message(app_env: Path) -> None:
    (app_env / "broken.keras").write_bytes(b"this is not a keras file")
    (app_env / "broken.json").write_text((app_env / "quickstart.json").read_text())
    at = new_app()
    assert any(label.startswith("broken") for label in at.selectbox(key="model").options)
    at.selectbox(key="model").set_value("broken").run()
    assert not at.exception, at.exception
    errors = "\n".join(box.value for box in at.error)
    assert "Can't use model **broken**" in errors and "not a Keras model file" in errors
    assert "Traceback" not in errors
    assert "Draw a digit" in block_text(at.get_by_key("prediction"))


def _show_prediction(root: str, probabilities: list[float]) -> None:
    """Script for AppTest.from_function: just the app's prediction element."""
    import sys

    import numpy as np

    if root not in sys.path:
        sys.path.insert(0, root)
    from streamlit_app import prediction_ui

    prediction_ui(np.array(probabilities, dtype=np.float32))


@pytest.mark.parametrize(
    ("probabilities", "expected"),
    [
        ([0.0, 0.0, 0.0, 0.0, 0.45, 0.0, 0.0, 0.0, 0.0, 0.40], r"4\s.*Not sure — maybe 4 or 9"),
        ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.97, 0.03, 0.0], r"7\s.*97% sure"),
    ],
)
def test_prediction_shows_digit_first_and_doubt(probabilities: list[float], expected: str) -> None:
    at = AppTest.from_function(_show_prediction, args=(str(APP.parent), probabilities)).run()
    assert not at.exception, at.exception
    text = re.sub(r"<[^>]+>", " ", block_text(at.get_by_key("prediction")))  # as displayed
    assert re.search(r"\d", text).group() == expected[0]  # the first digit is the answer
    assert re.search(expected, text, re.DOTALL), text
