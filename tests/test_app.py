"""streamlit_app.py through Streamlit's AppTest: real TensorFlow, small slices of MNIST."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mnist_core.config import DEFAULTS

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"
RUN_TIMEOUT = 120  # seconds for one script run; the first one waits for TensorFlow
WAIT = 120  # seconds for a training run on 2,000 images to finish
TRAIN_LIMIT = "2000"


@pytest.fixture(scope="module")
def ui_train():
    """ui.train, imported as the app imports it: the drawing canvas it pulls in registers
    its component only inside a run of a Streamlit script."""
    at = AppTest.from_string(f"import sys\nsys.path.insert(0, {str(APP.parent)!r})\n"
                             "import ui.train", default_timeout=RUN_TIMEOUT).run()
    assert not at.exception, at.exception
    from ui import train

    return train


@pytest.fixture
def app_env(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway models folder and a small training set for the app under test."""
    monkeypatch.setenv("MNIST_TRAIN_LIMIT", TRAIN_LIMIT)
    return models_dir


def new_app(tab: str | None = None) -> AppTest:
    """A fresh session of the app, run once (on this tab: learn, train, draw, evaluate)."""
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    if tab is not None:
        at.query_params["tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def open_tab(at: AppTest, name: str) -> AppTest:
    """Switch to a tab ("Train", ...) as a click would: only the open tab is built."""
    at.session_state["tab"] = next(tab.label for tab in at.tabs if tab.label.endswith(name))
    at.run()
    assert not at.exception, at.exception
    return at


def open_tab_name(at: AppTest) -> str:
    """The open tab's name ("Draw", ...)."""
    return at.session_state["tab"].split()[-1]


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


def train_to_the_end(at: AppTest, epochs: int = 1) -> None:
    """On the Train tab: press Train for this many epochs, rerun until the result shows."""
    at.slider(key="epochs").set_value(epochs)
    at.button(key="train").click().run()
    run_until(at, lambda at: keyed(at, "test_accuracy") is not None)


def all_text(at: AppTest) -> str:
    """Text of every message box and markdown element on the page."""
    parts = [element.value for element in at.markdown]
    for boxes in (at.info, at.success, at.warning, at.error):
        parts += [element.value for element in boxes]
    return "\n".join(parts)


def test_app_loads_with_defaults_and_blank_hint(app_env: Path) -> None:
    at = new_app("train")
    assert at.title[0].value == "MNIST Studio"
    labels = [tab.label.split()[-1] for tab in at.tabs]
    assert labels == ["Learn", "Train", "Draw", "Evaluate", "Room"]  # no Console: no secret
    assert at.slider(key="epochs").value == 5
    assert at.slider(key="dropout").value == pytest.approx(0.2)
    assert at.select_slider(key="batch_size").value == 32
    assert at.button(key="train").disabled is False
    assert keyed(at, "stop") is None  # no run going
    assert re.fullmatch(r"[0-9a-f]{32}", at.session_state["owner"])
    assert "session" not in at.query_params  # the address carries no identity
    options = at.selectbox(key="model").options
    expected = "drawing" if (app_env / "drawing.keras").exists() else "quickstart"
    assert at.selectbox(key="model").value == expected and options
    prediction = block_text(at.get_by_key("prediction"))
    assert "Draw a digit" in prediction
    assert not re.search(r"\d", prediction)  # no digit at all while the canvas is blank
    assert not at.error


def test_only_the_open_tab_is_built_and_draw_always_is(app_env: Path) -> None:
    at = new_app()
    assert open_tab_name(at) == "Learn" and keyed(at, "learn_image") is not None
    assert keyed(at, "epochs") is None and keyed(at, "eval_accuracy") is None
    assert keyed(at, "canvas") is not None  # a drawing survives a look at another tab
    open_tab(at, "Evaluate")
    assert keyed(at, "eval_accuracy") is not None
    assert keyed(at, "learn_image") is None and keyed(at, "epochs") is None
    open_tab(at, "Train")
    assert keyed(at, "epochs") is not None and keyed(at, "eval_accuracy") is None
    assert keyed(at, "canvas") is not None


def test_settings_survive_a_look_at_another_tab(app_env: Path) -> None:
    at = new_app("train")
    at.slider(key="epochs").set_value(12)
    at.slider(key="dropout").set_value(0.5)
    at.select_slider(key="batch_size").set_value(128).run()
    open_tab(at, "Draw")
    assert keyed(at, "epochs") is None  # not built while Draw is open...
    open_tab(at, "Evaluate")
    at.selectbox(key="eval_true").set_value(3).run()
    open_tab(at, "Train")  # ...yet back as they were
    assert at.slider(key="epochs").value == 12
    assert at.slider(key="dropout").value == pytest.approx(0.5)
    assert at.select_slider(key="batch_size").value == 128
    open_tab(at, "Evaluate")
    assert at.selectbox(key="eval_true").value == 3
    assert not at.exception and not at.error


def test_train_shows_metrics_saves_and_offers_the_run(app_env: Path) -> None:
    at = new_app("train")
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
    assert any(re.fullmatch(r"★ Run 1 · 1 epoch · dropout 0\.3 · \d+\.\d%", label)
               for label in labels), labels
    assert name in all_text(at)  # "Saved as ..." names it
    assert keyed(at, "stop") is None and at.button(key="train").disabled is False

    at.button(key="use_model").click().run()  # "Draw with this model" selects it...
    assert at.selectbox(key="model").value == f"runs/{name}"
    assert open_tab_name(at) == "Draw"  # ...and opens the Draw tab
    assert not at.error


def test_train_starts_the_run_in_the_clicks_own_run_of_the_page(
        app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The click is taken up before the Train tab is built: that one run of the page draws
    Train disabled and the run queued or training (a second run of the whole page, on every
    page of a room pressing Train at once, cost each browser ~0.1 s of CPU)."""
    import streamlit as st

    at = new_app("train")
    reruns = []
    rerun = st.rerun
    monkeypatch.setattr(st, "rerun", lambda *a, **k: (reruns.append(k), rerun(*a, **k)))
    at.slider(key="epochs").set_value(1)
    at.button(key="train").click().run()
    assert not reruns and at.button(key="train").disabled
    assert keyed(at, "stop") is not None  # the live panel: Stop (or Cancel while queued)
    run_until(at, lambda at: keyed(at, "test_accuracy") is not None)


@pytest.mark.parametrize(("busy", "running", "panel", "seconds"), [
    (False, 0, "run_panel", None),
    (True, 1, "live_run_panel", 0.5),
    (True, 8, "live_run_panel", 0.5),
    (True, 9, "busy_room_run_panel", 1.0),  # 40 pages polling twice a second slowed the room
])
def test_a_busy_room_refreshes_its_run_panels_once_a_second(busy, running, panel, seconds,
                                                           ui_train) -> None:
    assert ui_train.panel_for(busy, running) is getattr(ui_train, panel)
    if seconds is not None:
        assert {"live_run_panel": ui_train.POLL_SECONDS,
                "busy_room_run_panel": ui_train.BUSY_POLL_SECONDS}[panel] == seconds


def snapshot(status: str = "running", step: int = 900, elapsed: float = 0.9, **changes):
    """A run's snapshot as the panel sees it: 1 epoch of 1,000 steps, `step` done after
    `elapsed` seconds."""
    from mnist_core.jobs import JobSnapshot, JobStatus
    from mnist_core.training import ProgressEvent

    latest = ProgressEvent("batch", 1, 1, step, 1000, 0.3, 0.9, elapsed)
    fields = dict(job_id="j", owner="o", config=DEFAULTS, status=JobStatus(status),
                  queue_position=None, submitted=0.0, latest=latest, batch_points=(),
                  epoch_points=(), ref=None, test_loss=None, test_accuracy=None,
                  epochs_completed=None, seconds=None, error=None, save_error=None)
    return JobSnapshot(**{**fields, **changes})


@pytest.mark.parametrize(("job", "poll", "wait"), [
    (snapshot(step=900, elapsed=0.9), 0.5, 0.4),  # 0.1 s left: wait for the end
    (snapshot(step=900, elapsed=0.9), 1.0, 0.8),  # a busy room's slower poll
    (snapshot(step=500, elapsed=0.5), 0.5, 0.0),  # 0.5 s left: the next poll sees it
    (snapshot(step=0, elapsed=0.0), 0.5, 0.0),  # nothing to go on yet
    (snapshot(latest=None), 0.5, 0.0),  # queued or starting
    (snapshot(paused=True), 0.5, 0.0),  # held: it ends when its owner says
    (snapshot(slow_motion=1.0), 0.5, 0.0),  # its pace is not its estimate
    (snapshot("finished"), 0.5, 0.0),
    (snapshot(step=900, elapsed=0.9), 0.0, 0.0),  # the still panel of a whole run
])
def test_a_poll_waits_for_a_run_that_ends_before_the_next_one(job, poll, wait,
                                                            ui_train) -> None:
    assert ui_train.end_wait(job, poll) == pytest.approx(wait)


def test_a_click_replayed_after_its_run_was_cut_short_trains_once(app_env: Path) -> None:
    """Streamlit replays a click in the next run when a newer request cuts the page's run
    short. The click's run was queued already (and had ended: a few hundred images train in
    0.1 s): the replay queues none; a click after a whole page run does."""
    from ui.resources import trainer
    from ui.train import TRAIN_TAKEN

    at = new_app("train")
    at.slider(key="epochs").set_value(1)
    at.session_state[TRAIN_TAKEN] = True  # what the cut-short run left: it took the click
    at.button(key="train").click().run()  # the same click, replayed
    assert trainer().jobs(at.session_state["owner"]) == []
    at.button(key="train").click().run()  # a new click: the page's last run was whole
    assert len(trainer().jobs(at.session_state["owner"])) == 1
    run_until(at, lambda at: keyed(at, "test_accuracy") is not None)


def test_a_finished_run_becomes_the_model_on_any_tab(app_env: Path) -> None:
    """Train, go to Draw: when the run ends the page takes it up there and says so."""
    at = new_app("train")
    at.slider(key="epochs").set_value(1)
    at.button(key="train").click().run()
    open_tab(at, "Draw")
    assert not at.selectbox(key="model").value.startswith("runs/")  # shipped, meanwhile
    run_until(at, lambda at: at.selectbox(key="model").value.startswith("runs/"))
    saved = next((app_env / "runs").glob("*.keras")).name.removesuffix(".keras")
    assert at.selectbox(key="model").value == f"runs/{saved}"
    assert any("Your run is done" in toast.value and "now use it" in toast.value
               for toast in at.toast), [toast.value for toast in at.toast]
    at.run()
    assert at.selectbox(key="model").value == f"runs/{saved}"  # taken up once, then kept


def test_a_model_picked_while_training_is_kept(app_env: Path) -> None:
    at = new_app("train")
    at.slider(key="epochs").set_value(1)
    at.button(key="train").click().run()
    at.selectbox(key="model").set_value("quickstart").run()  # picked after starting the run
    run_until(at, lambda at: any("Your run is done" in toast.value for toast in at.toast))
    assert at.selectbox(key="model").value == "quickstart"
    assert any("Pick it in the sidebar" in toast.value for toast in at.toast)


def test_pause_step_resume_a_run(app_env: Path) -> None:
    at = new_app("train")
    at.slider(key="epochs").set_value(20)
    at.button(key="train").click().run()
    run_until(at, lambda at: keyed(at, "pause") is not None)
    at.button(key="pause").click().run()
    run_until(at, lambda at: keyed(at, "resume") is not None and keyed(at, "step") is not None)
    assert any("Paused" in caption.value for caption in at.caption)
    progress = at.get_by_key("watch_controls")
    assert progress is not None
    held = at.session_state["watched_job"]
    from ui.resources import trainer

    def reached() -> tuple[int, int]:
        latest = trainer().snapshot(held).latest
        return latest.epoch, latest.step

    before = reached()
    time.sleep(1.0)
    assert reached() == before  # held: no progress
    at.button(key="step").click().run()
    run_until(at, lambda at: reached() != before)
    run_until(at, lambda at: trainer().snapshot(held).paused  # held again after the step,
              and keyed(at, "resume") is not None)  # and the page has shown it
    at.button(key="resume").click().run()
    run_until(at, lambda at: keyed(at, "pause") is not None)
    at.button(key="stop").click().run()
    run_until(at, lambda at: keyed(at, "test_accuracy") is not None)


def epoch_tested(at: AppTest) -> bool:
    """Whether the live panel shows a test accuracy, i.e. an epoch has ended."""
    return any(metric.label == "Test accuracy" and metric.value != "-" for metric in at.metric)


def test_queue_stop_and_cancel(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_MAX_TRAINING_JOBS", "1")  # read when this folder's trainer starts
    first, second = new_app("train"), new_app("train")
    first.slider(key="epochs").set_value(20)
    first.button(key="train").click().run()
    run_until(first, lambda at: keyed(at, "slow_motion") is not None)
    assert first.button(key="train").disabled  # one run at a time per session
    # 20 epochs of 2,000 images train in well under a second on warm room workers: slowed,
    # the run is still going when Stop is pressed.
    first.toggle(key="slow_motion").set_value(True).run()

    second.button(key="train").click().run()
    waiting = [box.value for box in second.info if "Queued" in box.value]
    assert waiting and "Queued: next in line" in waiting[0], waiting
    assert re.search(r"starts by itself (soon|in about \d+ s)", waiting[0]), waiting
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
    at = new_app("train")
    train_to_the_end(at)
    warning = "\n".join(box.value for box in at.warning)
    assert "Could not save this model" in warning and "could not save the model" in warning
    labels = at.selectbox(key="model").options
    assert len([label for label in labels if "(not saved)" in label]) == 1, labels
    at.button(key="use_model").click().run()  # "Draw with this model"
    assert at.selectbox(key="model").value.startswith("memory:")
    assert not at.exception and not at.error


def _show_prediction(root: str, probabilities: list[float]) -> None:
    """Script for AppTest.from_function: just the app's prediction element."""
    import sys

    import numpy as np

    if root not in sys.path:
        sys.path.insert(0, root)
    from ui.draw import prediction_ui

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


# --- Learn, Evaluate, workshop presets ------------------------------------------------


def default_tab(at: AppTest) -> str:
    """The label of the tab the page opens on (st.tabs' default)."""
    def find(node) -> object | None:
        if getattr(node, "type", None) == "tab_container":
            return node
        for child in getattr(node, "children", {}).values():
            found = find(child)
            if found is not None:
                return found
        return None

    tabs = find(at.main)
    assert tabs is not None, "no st.tabs on the page"
    return at.tabs[tabs.proto.tab_container.default_tab_index].label.split()[-1]


def test_learn_shows_the_real_layer_table_and_the_untrained_loss(app_env: Path) -> None:
    at = new_app()
    assert default_tab(at) == "Learn"
    shapes = {metric.label: metric.value for metric in at.get_by_key("learn_data").metric}
    assert shapes["x_train.shape"] == "(60000, 28, 28)"
    assert shapes["x_test.shape"] == "(10000, 28, 28)"
    assert shapes["Pixel values"] == "0–255 → 0.0–1.0"
    assert len(at.get_by_key("learn_samples").image) == 20  # two of each digit

    table = at.get_by_key("learn_layers").table[0].value
    assert list(table["Layer"]) == ["Flatten", "Dense", "Dropout", "Dense", "**Total**"]
    assert list(table["Output shape"][:4]) == ["(None, 784)", "(None, 128)", "(None, 128)",
                                               "(None, 10)"]
    assert list(table["Parameters"]) == ["0", "100,480", "0", "1,290", "**101,770**"]
    assert "784 × 128 weights + 128 biases" in list(table["Where they come from"])

    untrained = {m.label: m.value for m in at.get_by_key("learn_loss_untrained").metric}
    assert untrained["ln 10"] == "2.30"
    assert abs(float(untrained["Loss"]) - 2.30) < 1.0  # an untrained model: about ln 10
    trained = {m.label: m.value for m in at.get_by_key("learn_loss_trained").metric}
    assert float(trained["Loss"]) < 0.5  # the quickstart knows x_train[0] is a 5
    explanations = block_text(at.get_by_key("learn_loss_text"))
    assert "\\ln 10 \\approx 2.30" in explanations and "1/10" in explanations

    at.number_input(key="learn_image").set_value(1).run()  # x_train[1] is a 0
    assert not at.exception, at.exception
    assert any("x_train[1], label 0" in caption for image in at.image
               for caption in image.captions)
    assert not at.error


def test_evaluate_quickstart_confusion_and_gallery(app_env: Path) -> None:
    at = new_app("evaluate")
    at.selectbox(key="model").set_value("quickstart").run()
    assert not at.exception, at.exception
    accuracy = block_text(at.get_by_key("eval_accuracy"))
    assert float(re.search(r"(\d+\.\d)%", accuracy).group(1)) >= 97.5, accuracy
    heatmap = at.get_by_key("confusion").get("vega_lite_chart")
    assert heatmap and "Predicted digit" in heatmap[0].proto.spec

    gallery = at.get_by_key("gallery")
    total = int(re.search(r"\*\*([\d,]+)\*\* mistakes", block_text(gallery)).group(1))
    assert 100 < total < 300  # 229 for the shipped quickstart
    assert len(gallery.image[0].captions) == 30
    at.selectbox(key="eval_true").set_value(4).run()
    captions = at.get_by_key("gallery").image[0].captions
    assert captions and all(caption.startswith("4 → ") for caption in captions)
    at.selectbox(key="eval_pred").set_value(9).run()
    captions = at.get_by_key("gallery").image[0].captions
    assert captions and all(caption.startswith("4 → 9 (") for caption in captions)
    fours_as_nines = int(re.search(r"\*\*(\d+)\*\* mistakes",
                                   block_text(at.get_by_key("gallery"))).group(1))
    assert fours_as_nines == len(captions) < 30

    # "Most common mistakes" buttons set both filters.
    button = next(b for b in at.button if b.key and b.key.startswith("mistake_"))
    true, predicted = map(int, button.key.split("_")[1:])
    button.click().run()
    assert at.selectbox(key="eval_true").value == true
    assert at.selectbox(key="eval_pred").value == predicted
    assert not at.exception and not at.error


def test_evaluation_is_cached(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mnist_core.evaluate

    evaluated = []
    real_evaluate = mnist_core.evaluate.evaluate
    monkeypatch.setattr(mnist_core.evaluate, "evaluate",
                        lambda *args: evaluated.append(args[0]) or real_evaluate(*args))
    at = new_app("evaluate")
    at.selectbox(key="model").set_value("quickstart").run()
    once = len(evaluated)  # at most one per model (none if an earlier test evaluated it)
    assert once <= 2
    at.selectbox(key="eval_true").set_value(7).run()
    at.selectbox(key="model").set_value("drawing").run()
    at.selectbox(key="model").set_value("quickstart").run()
    started = time.monotonic()
    at.run()
    assert time.monotonic() - started < 5  # generous: the machine may be busy
    assert len(evaluated) == once  # every rerun found its model's figures in the cache
    assert not at.exception, at.exception


def test_compare_lists_saved_runs_and_picker_shows_only_mine(app_env: Path, small_mnist) -> None:
    from mnist_core.jobs import save_result
    from mnist_core.store import ModelStore
    from mnist_core.training import TrainConfig, train

    store = ModelStore(app_env)
    refs = [
        save_result(store, train(TrainConfig(epochs=2, dropout=dropout, train_limit=500,
                                              test_limit=100), small_mnist),
                    ref=f"runs/someone-d{dropout}")
        for dropout in (0.0, 0.5)
    ]
    at = new_app("evaluate")
    def listed_runs(at: AppTest) -> int:
        return sum("· 2 epochs ·" in label for label in at.selectbox(key="model").options)

    assert listed_runs(at) == 0  # the picker lists others' runs only when asked to
    at.checkbox(key="all_runs").check().run()
    assert listed_runs(at) == 2

    at.multiselect(key="compare_runs").set_value(refs).run()
    assert not at.exception, at.exception
    table = at.get_by_key("compare").table[0].value
    assert len(table) == 2
    assert [re.fullmatch(r"Run \d · 2 epochs · dropout 0(\.5)?", row) is not None
            for row in table["Run"]] == [True, True]
    assert list(table["Dropout"]) == ["0", "0.5"]
    assert all(value.endswith("%") for value in table["Test acc."])
    assert not at.error


def test_query_parameters_preset_the_controls(app_env: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.query_params.update({"epochs": "3", "dropout": "0.5", "batch_size": "64",
                            "tab": "train", "presenter": "1", "model": "quickstart"})
    at.run()
    assert not at.exception, at.exception
    assert at.slider(key="epochs").value == 3
    assert at.slider(key="dropout").value == pytest.approx(0.5)
    assert keyed(at, "batch_size") is None  # presenter mode: no advanced controls
    assert at.toggle(key="presenter").value is True
    assert at.selectbox(key="model").value == "quickstart"
    assert default_tab(at) == "Train"
    assert keyed(at, "preset_warnings") is None
    link = at.get_by_key("share_link").code[0].value
    assert "epochs=3&dropout=0.5&batch_size=64&tab=train&presenter=1&model=quickstart" in link
    assert "session=" not in link  # the session is personal

    at.toggle(key="presenter").set_value(False).run()  # advanced controls come back...
    assert at.select_slider(key="batch_size").value == 64  # ...at the link's value
    at.slider(key="epochs").set_value(7).run()  # the link follows the controls
    assert "epochs=7&" in at.get_by_key("share_link").code[0].value
    assert "session" not in at.query_params  # the address bar stays shareable


def test_the_share_link_opens_as_a_qr_code(app_env: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_PUBLIC_URL", "http://studio.example:8501/")
    at = new_app("draw")
    link = at.get_by_key("share_link").code[0].value
    assert link.startswith("http://studio.example:8501/?") and "session" not in link
    at.button(key="share_qr_button").click().run()
    assert not at.exception, at.exception
    dialog = at.get_by_key("share_qr")
    assert dialog is not None and dialog.code[0].value == link


def test_a_session_in_the_url_is_never_adopted(app_env: Path) -> None:
    """Someone else's ?session=... (an address seen on a projector) gives a new session."""
    someone = "0123456789abcdef0123456789abcdef"
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.query_params["session"] = someone
    at.run()
    assert not at.exception, at.exception
    assert re.fullmatch(r"[0-9a-f]{32}", at.session_state["owner"])
    assert at.session_state["owner"] != someone
    assert "session" not in at.query_params


def test_garbage_query_parameters_never_crash(app_env: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.query_params.update({"epochs": "500", "dropout": "lots", "batch_size": "-3",
                            "learning_rate": "nan", "tab": "<script>", "presenter": "maybe",
                            "model": "../../etc/passwd", "session": "not-a-session"})
    at.run()
    assert not at.exception, at.exception
    assert default_tab(at) == "Learn"
    warning = at.get_by_key("preset_warnings").warning[0].value
    for name in ("epochs=500", "dropout=lots", "batch_size=-3", "learning_rate=nan",
                 "tab=", "presenter=maybe", "model="):
        assert name in warning, name
    open_tab(at, "Train")
    assert at.slider(key="epochs").value == 20  # clamped
    assert at.slider(key="dropout").value == pytest.approx(0.2)  # ignored: the default
    assert at.select_slider(key="batch_size").value == 32
    assert at.select_slider(key="learning_rate").value == pytest.approx(0.001)
    assert "<script>" not in warning
    assert re.fullmatch(r"[0-9a-f]{32}", at.session_state["owner"])
    assert keyed(at, "preset_warnings") is None  # shown once, not on every rerun


def _show_presets(root: str, params: dict[str, str]) -> None:
    """Script for AppTest.from_function: the app's parse of some query parameters."""
    import sys

    import streamlit as st

    if root not in sys.path:
        sys.path.insert(0, root)
    from ui.presets import parse_presets

    st.json(parse_presets(params, ["quickstart", "runs/a-b"]).__dict__)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"epochs": "0"}, {"epochs": 1}),
        ({"epochs": "2.6"}, {"epochs": 3}),
        ({"dropout": "0.33"}, {"dropout": 0.35}),
        ({"dropout": "-1"}, {"dropout": 0.0}),
        ({"dropout": "inf"}, {"dropout": 0.2}),
        ({"batch_size": "100"}, {"batch_size": 128}),
        ({"learning_rate": "0.002"}, {"learning_rate": 0.003}),
        ({"learning_rate": "1e-9"}, {"learning_rate": 0.0001}),
        ({"tab": "EVALUATE"}, {"tab": "evaluate"}),
        ({"presenter": "off"}, {"presenter": False}),
        ({"presenter": ""}, {"presenter": True}),
        ({"model": "runs/A-B"}, {"model": "runs/a-b"}),
    ],
)
def test_parse_presets(params: dict[str, str], expected: dict[str, object]) -> None:
    at = AppTest.from_function(_show_presets, args=(str(APP.parent), params)).run()
    assert not at.exception, at.exception
    parsed = json.loads(at.json[0].value)
    for name, value in expected.items():
        assert parsed[name] == pytest.approx(value) if isinstance(value, float) \
            else parsed[name] == value, (name, parsed)
    exact = params in ({"tab": "EVALUATE"}, {"presenter": "off"}, {"presenter": ""},
                       {"model": "runs/A-B"})
    assert bool(parsed["warnings"]) is not exact, parsed["warnings"]


# --- The room: the board, the presenter console, the limits -------------------------------

SECRET = "presenter-secret-for-tests"


@pytest.fixture
def room_env(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app with a known presenter secret."""
    monkeypatch.setenv("MNIST_PRESENTER_SECRET", SECRET)
    return app_env


def presenter_app() -> AppTest:
    """A session opened with the presenter link."""
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.query_params["presenter_key"] = SECRET
    at.run()
    assert not at.exception, at.exception
    return at


def room_file(models: Path) -> dict:
    path = models / "runs" / ".room.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_the_presenter_pushes_and_every_page_follows_once(room_env: Path) -> None:
    participant = new_app("draw")
    presenter = presenter_app()
    assert [tab.label for tab in presenter.tabs][-1] == "Console"
    assert open_tab_name(presenter) == "Console"
    assert "presenter_key" not in presenter.query_params  # out of the address bar at once
    assert SECRET not in presenter.get_by_key("share_link").code[0].value
    presenter.get_by_key("console_epochs").set_value(3)
    presenter.get_by_key("console_dropout").set_value(0.5)
    presenter.get_by_key("console_images").set_value(1000)
    presenter.button(key="presenter_push").click().run()
    assert not presenter.exception and not presenter.error
    assert room_file(room_env)["settings"] == {"epochs": 3, "dropout": 0.5,
                                               "train_images": 1000}
    assert open_tab_name(presenter) == "Console"  # the presenter does not follow

    participant.run()  # what its room timer does within a few seconds
    assert open_tab_name(participant) == "Train"
    assert participant.slider(key="epochs").value == 3
    assert participant.slider(key="dropout").value == pytest.approx(0.5)
    assert participant.get_by_key("train_images").value == 1000
    assert participant.query_params["dropout"] == "0.5"  # its address follows too
    participant.slider(key="dropout").set_value(0.3).run()
    participant.run()
    assert participant.slider(key="dropout").value == pytest.approx(0.3)  # the change stays
    late = new_app()  # a page opened after the push starts from it
    assert late.slider(key="epochs").value == 3 and open_tab_name(late) == "Train"


def pushed_participant(epochs: int, dropout: float) -> AppTest:
    """A participant on the Train tab whose page has taken up the presenter's push of
    these settings."""
    participant = new_app("train")
    presenter = presenter_app()
    presenter.get_by_key("console_epochs").set_value(epochs)
    presenter.get_by_key("console_dropout").set_value(dropout)
    presenter.button(key="presenter_push").click().run()
    participant.run()  # the room timer takes the push up
    return participant


def test_a_request_sent_before_the_page_drew_the_push_does_not_undo_it(room_env: Path) -> None:
    """A slowed browser on the Train tab clicks as the push lands: its request still holds
    the sliders it showed (epochs 5). The push is put back; the participant's own move of a
    slider, even back to where it was, then stays."""
    participant = pushed_participant(epochs=3, dropout=0.5)
    assert participant.slider(key="epochs").value == 3

    participant.slider(key="epochs").set_value(DEFAULTS.epochs)  # what the stale page held
    participant.slider(key="dropout").set_value(DEFAULTS.dropout).run()
    assert participant.slider(key="epochs").value == 3
    assert participant.slider(key="dropout").value == pytest.approx(0.5)
    assert participant.query_params["epochs"] == "3"

    participant.slider(key="epochs").set_value(DEFAULTS.epochs).run()  # meant, this time
    assert participant.slider(key="epochs").value == DEFAULTS.epochs
    participant.slider(key="dropout").set_value(0.3).run()  # never the earlier value: kept
    assert participant.slider(key="dropout").value == pytest.approx(0.3)


def test_train_pressed_before_the_page_drew_the_push_trains_the_push(room_env: Path) -> None:
    """Train pressed on a slowed page as the push lands: its request still holds its earlier
    sliders (5 epochs, dropout 0.2); the run trains what the presenter pushed."""
    from ui.resources import trainer

    participant = pushed_participant(epochs=1, dropout=0.5)
    participant.slider(key="epochs").set_value(DEFAULTS.epochs)  # what the stale page held
    participant.slider(key="dropout").set_value(DEFAULTS.dropout)
    participant.button(key="train").click().run()
    owner = participant.session_state["owner"]
    config = trainer().jobs(owner)[-1].config
    assert (config.epochs, config.dropout) == (1, 0.5)
    run_until(participant, lambda at: keyed(at, "test_accuracy") is not None)


def test_push_pressed_before_the_console_drew_a_preset_sends_the_preset(room_env: Path) -> None:
    """Under load the Push click left while the form still showed its earlier values: the
    request carried those (5 epochs) and the push sent them, not the preset's 20."""
    presenter = presenter_app()
    presenter.get_by_key("console_preset_0").click().run()  # Overfit: 500, 0, 20 epochs
    assert presenter.get_by_key("console_epochs").value == 20
    presenter.get_by_key("console_epochs").set_value(DEFAULTS.epochs)  # what the page held
    presenter.get_by_key("console_dropout").set_value(DEFAULTS.dropout)
    presenter.get_by_key("console_images").set_value(60_000)
    presenter.button(key="presenter_push").click().run()
    assert room_file(room_env)["settings"] == {"epochs": 20, "dropout": 0.0, "train_images": 500}

    presenter.get_by_key("console_epochs").set_value(3)  # then a change of the presenter's
    presenter.button(key="presenter_push").click().run()
    assert room_file(room_env)["settings"]["epochs"] == 3


@pytest.mark.parametrize("params", [
    {"presenter_key": "wrong-secret-of-the-same-length"},
    {"presenter_key": ""},
    {"presenter_key": SECRET.upper()},
    {"tab": "console"},
    {"presenter": "1", "presenter_key": SECRET[:-1]},
])
def test_the_console_is_refused_without_the_secret(room_env: Path, params) -> None:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    assert "Console" not in [tab.label for tab in at.tabs]
    assert keyed(at, "presenter_push") is None and keyed(at, "console_hold") is None
    assert "presenter_key" not in at.query_params
    if "presenter_key" in params:
        assert "presenter link is not valid" in at.error[0].value
    at.session_state["tab"] = "Console"  # even a session that claims the tab gets nothing
    at.run()
    assert keyed(at, "presenter_push") is None
    assert room_file(room_env) == {}


def test_console_actions_need_the_secret_held_in_the_session(room_env: Path) -> None:
    from ui import presenter as console

    at = presenter_app()
    at.session_state[console.SECRET_KEY] = "tampered"  # a wrong secret in the session
    at.run()
    assert "Console" not in [tab.label for tab in at.tabs]
    assert room_file(room_env) == {}


def test_pause_holds_the_room_and_resume_lets_it_train(room_env: Path) -> None:
    presenter = presenter_app()
    presenter.button(key="console_hold").click().run()
    assert room_file(room_env)["held"] is True
    participant = new_app("train")
    assert any("paused new training" in box.value for box in participant.info)
    participant.get_by_key("train_images").set_value(500)
    participant.slider(key="epochs").set_value(1)
    participant.button(key="train").click().run()
    for _ in range(5):
        participant.run()
        time.sleep(0.2)
    assert any("Queued" in box.value for box in participant.info)  # held: it waits
    presenter.run()
    assert "1 waiting" in all_text(presenter)  # the console's queue shows it
    presenter.button(key="console_hold").click().run()  # Resume
    assert room_file(room_env)["held"] is False
    run_until(participant, lambda at: keyed(at, "test_accuracy") is not None)
    assert "first 500 of 60,000 images" in "\n".join(c.value for c in participant.caption)


def test_board_shows_everyones_runs_and_a_fresh_start_hides_them(room_env: Path) -> None:
    from mnist_core.store import ModelStore
    from tests.test_board import fake_run

    store = ModelStore(room_env)
    fake_run(store, "a", "0" * 32, "2026-12-01T10:00:00+00:00", dropout=0.0, test=0.86,
             train_curve=(0.95, 1.0), train_limit=500)
    fake_run(store, "b", "1" * 32, "2026-12-01T10:01:00+00:00", dropout=0.5, test=0.9)
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.session_state["owner"] = "0" * 32
    at.query_params["tab"] = "room"
    at.run()
    assert not at.exception, at.exception
    board = at.get_by_key("room_board")
    figures = {metric.label: metric.value for metric in board.metric}
    assert figures["Runs"] == "2" and figures["People"] == "2"
    assert figures["Best run"] == "90.0%"  # someone else's
    assert "Dropout 0 → 0.5: test 86.0% → 90.0%, gap +14.0 → +5.0 points" in block_text(board)

    presenter = presenter_app()
    presenter.button(key="console_fresh").click().run()
    at.run()
    assert "No finished runs yet" in at.get_by_key("room_board").info[0].value
    assert len(list((room_env / "runs").glob("*.keras"))) == 2  # still on disk


def test_a_second_run_of_the_same_participant_is_refused(room_env: Path) -> None:
    """Two tabs of one browser (one owner), Train pressed in both: one run, and the second
    page says why its Train button is off."""
    from ui.resources import trainer

    first, second = (AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
                     for _ in range(2))
    for at in (first, second):
        at.session_state["owner"] = "2" * 32
        at.query_params["tab"] = "train"
        at.run()
    assert second.button(key="train").disabled is False  # its page still offers Train
    first.slider(key="epochs").set_value(20)
    first.button(key="train").click().run()
    second.button(key="train").click().run()
    assert second.button(key="train").disabled
    assert "Wait for your current run to end" in second.button(key="train").help
    mine = [job for job in trainer().jobs("2" * 32) if not job.status.done]
    assert len(mine) == 1
    with pytest.raises(Exception, match="You already have a run queued or training"):
        trainer().submit(mine[0].config, "2" * 32)  # what a click in a race gets, as a warning
    first.button(key="stop").click().run()
    run_until(first, lambda at: keyed(at, "test_accuracy") is not None
              or any("Cancelled" in box.value for box in at.info), timeout=60)


def test_a_full_runs_folder_is_said_before_training(room_env: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    runs = room_env / "runs"
    runs.mkdir()
    (runs / "old.keras").write_bytes(b"x" * 1_100_000)
    monkeypatch.setenv("MNIST_RUNS_FOLDER_MB", "1")
    at = new_app("train")
    at.button(key="train").click().run()
    assert "runs folder is full" in at.error[0].value
    assert keyed(at, "stop") is None


def test_the_overfit_preset_and_a_gap_said_as_it_is(app_env: Path) -> None:
    at = new_app("train")
    at.button(key="overfit_preset").click().run()
    assert at.slider(key="epochs").value == 20
    assert at.slider(key="dropout").value == 0.0
    assert at.get_by_key("train_images").value == 500
    assert at.query_params["train_images"] == "500"


@pytest.mark.parametrize(("train", "test", "dropout", "expected"), [
    (1.0, 0.85, 0.0, "Overfitting:** 100.0% on its training images, 85.0% on new ones: "
                     "15.0 points apart"),
    (0.95, 0.97, 0.2, "No overfitting"),
    (0.97, 0.96, 0.2, "No overfitting"),
])
def test_gap_note(train: float, test: float, dropout: float, expected: str, ui_train) -> None:
    assert expected in ui_train.gap_note(train, test, dropout)


def test_own_runs_are_marked_on_the_board(models_dir: Path) -> None:
    from mnist_core.board import board_entries
    from mnist_core.store import ModelStore
    from tests.test_board import fake_run
    from ui.board import board_frame

    store = ModelStore(models_dir)
    fake_run(store, "a", "alice", "2026-12-01T10:00:00+00:00", dropout=0.2)
    fake_run(store, "b", "bob", "2026-12-01T10:01:00+00:00", dropout=0.2)
    frame = board_frame(board_entries(store.list_models()), "alice", "dropout")
    assert list(frame["who"]) == ["you", "someone"] and list(frame["mine"]) == [True, False]
    assert frame["x"].iloc[0] != frame["x"].iloc[1]  # the same dropout, side by side
    assert abs(frame["x"] - 0.2).max() <= 0.012
