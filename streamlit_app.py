"""MNIST Studio: TensorFlow's quickstart as a workshop app - learn, train, draw, evaluate.

Run with `streamlit run streamlit_app.py`. This file only wires Streamlit widgets to
`mnist_core`; every TensorFlow call lives there. TensorFlow is imported in a background
thread started once the first page (and its drawing canvas) has been sent, so the page
shows up at once and a spinner appears only where TensorFlow is needed.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import math
import re
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mnist_core import compare, lesson
from mnist_core.constants import DRAWING_MODEL, IMAGE_SIZE, NUM_CLASSES, QUICKSTART_MODEL
from mnist_core.data import MnistData, candidate_sources, load_mnist
from mnist_core.errors import MnistStudioError
from mnist_core.naming import model_label, percent, plural
from mnist_core.preprocess import canvas_to_mnist
from mnist_core.store import ModelInfo, ModelStore

if TYPE_CHECKING:  # these import TensorFlow: only ever imported lazily below
    from mnist_core.evaluate import Evaluation
    from mnist_core.jobs import BatchPoint, EpochPoint, JobManager, JobSnapshot
    from mnist_core.lesson import LayerRow

FEW_POINTS = 20  # draw dots on the training curve while it has fewer points than this
POLL_SECONDS = 0.5  # how often the training panel refreshes while a run is going
CANVAS_SIZE = 280  # px; the drawing is shrunk to 28x28 like MNIST
STROKE_WIDTH = 20
PREVIEW_SCALE = 6  # the 28x28 input is shown 6x enlarged (168 px), pixel for pixel
LOW_CONFIDENCE = 0.6  # below this, the app says it is not sure
EPOCH_CHOICES = (1, 20)
BATCH_SIZES = [16, 32, 64, 128, 256, 512]
LEARNING_RATES = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03]
MEMORY_PREFIX = "memory:"  # model choice for a run of this session that could not be saved
OWNER_PATTERN = re.compile(r"[0-9a-f]{32}")
FONT_SIZES = {"labelFontSize": 15, "titleFontSize": 16}  # chart text, readable on a projector
TENSORFLOW_MODULES = ("mnist_core.evaluate", "mnist_core.jobs")  # the app's modules needing TF
TABS = [":material/school: Learn", ":material/model_training: Train", ":material/draw: Draw",
        ":material/analytics: Evaluate"]  # Material icons ship with Streamlit: no emoji font needed
TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#e4572e"
TAB_NAMES = ("learn", "train", "draw", "evaluate")  # ?tab=... values, in the order of TABS
TAB_KEY = "tab"  # session_state[TAB_KEY]: the open tab's label
# Widgets of tabs that are built only while open: their values are kept across tab switches.
TAB_WIDGETS = ("epochs", "dropout", "batch_size", "learning_rate", "learn_image", "eval_true",
               "eval_pred", "compare_runs")
DROPOUT_MAX, DROPOUT_STEP = 0.8, 0.05
DEFAULT_EPOCHS, DEFAULT_DROPOUT, DEFAULT_BATCH_SIZE, DEFAULT_LEARNING_RATE = 5, 0.2, 32, 0.001
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
DEFAULT_APP_URL = "http://localhost:8501/"  # for the share link when the browser's is unknown
SAMPLE_SCALE = 3  # sample digits in Learn and Evaluate: 28x28 shown at 84x84 px
SAMPLES_PER_DIGIT = 2
GALLERY_SIZE = 30  # misclassified digits shown at once
ANY = "any"  # the gallery filters' "no filter" option
NEUTRAL_COLOR, CORRECT_COLOR = "#9aa5b1", "#2e7d32"


# --- Server-wide resources ------------------------------------------------------------


def _close_pyplot_figures() -> None:
    """The part of Streamlit's after-run cleanup that is safe here: close pyplot figures."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


def keep_keras_state_between_runs() -> None:
    """Stop Streamlit calling keras.backend.clear_session() after every script run.

    Streamlit does that to free models a script builds on each run. Here models train in
    background threads that outlive script runs, and a polling page reruns twice a
    second: each clear_session() reset Keras' global state under the training thread,
    emptied TensorFlow's kernel cache and forced a full garbage collection, which made
    training ten times slower. Streamlit has no setting for it, so its private hook is
    replaced by one that only does the matplotlib part (see script_runner.py).
    """
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = _close_pyplot_figures


@dataclass
class Warmup:
    """TensorFlow being imported in a background thread, started once."""

    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: bool = False

    def start(self) -> None:
        """Start importing (only the first call does anything)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=_warm_up, args=(self,), name="tf-warmup", daemon=True).start()


def _warm_up(warmup: Warmup) -> None:
    """Import the TensorFlow-backed modules and read MNIST if it is local (runs in a thread)."""
    try:
        for module in TENSORFLOW_MODULES:
            importlib.import_module(module)
        source = candidate_sources()[0]
        if source != "keras":  # a local file: never download anything on page load
            load_mnist(source)  # kept per process by mnist_core for the training workers
    except MnistStudioError:
        pass  # a data problem is reported where the data is needed
    except Exception as e:  # reported in the page instead of a traceback
        warmup.error = f"{type(e).__name__}: {e}"
    finally:
        warmup.done.set()
    # TensorFlow and Keras leave ~360k long-lived objects that every full garbage collection
    # then walks (~0.2 s, holding the GIL: every session waits). Collect once, then keep
    # them out of later collections.
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def tensorflow_warmup() -> Warmup:
    """The server's TensorFlow loader (started by the first page that needs it)."""
    return Warmup()


def tensorflow_ready() -> bool:
    """Whether TensorFlow has finished loading (never waits)."""
    warmup = tensorflow_warmup()
    return warmup.done.is_set() and warmup.error is None


def wait_for_tensorflow() -> bool:
    """Wait (with a spinner) until TensorFlow is loaded; False, with a message, if it failed."""
    warmup = tensorflow_warmup()
    warmup.start()
    if not warmup.done.is_set():
        with st.spinner("Loading TensorFlow (only the first time, about 10 seconds)..."):
            warmup.done.wait()
    if warmup.error:
        st.error(f"TensorFlow could not be loaded: {warmup.error}")
        return False
    return True


@st.cache_resource(show_spinner=False)
def mnist_data() -> MnistData:
    """The MNIST dataset, loaded once per server process (for the Learn and Evaluate tabs)."""
    return load_mnist()


@st.cache_resource(show_spinner=False)
def job_manager(models_root: str) -> JobManager:
    """The server-wide training queue (one per models folder, i.e. one per server)."""
    from mnist_core.jobs import JobManager

    # Workers call load_mnist itself (not the st.cache_resource wrapper, which needs a
    # script thread); it keeps one copy per process, the same one mnist_data() returns.
    return JobManager(ModelStore(models_root), data_loader=load_mnist)


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_model(models_root: str, ref: str, mtime_ns: int) -> Any:
    """A saved model, loaded once per (folder, ref, file modification time), its prediction
    traced for one drawing here, once: otherwise many sessions drawing their first digit
    at once would each trace it (~0.1 s of CPU apiece; bench/load.py)."""
    from mnist_core.evaluate import predict_logits

    model = ModelStore(models_root).load(ref)
    predict_logits(model, np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32))
    return model


@st.cache_data(max_entries=256, show_spinner=False)
def file_fingerprint(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of a model file, read once per (path, modification time, size)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@st.cache_resource(max_entries=32, show_spinner=False)
def cached_evaluation(identity: str, _model: Any) -> Evaluation:
    """A model's figures on the 10,000 test images, computed once per model identity."""
    from mnist_core.evaluate import evaluate

    data = mnist_data()
    return evaluate(_model, data.x_test, data.y_test)


@st.cache_resource(show_spinner=False)
def untrained_model() -> Any:
    """The quickstart network before training (fixed seed: the same numbers for everyone)."""
    return lesson.untrained_model()


@st.cache_data(show_spinner=False)
def quickstart_layers() -> list[LayerRow]:
    """The quickstart's layer table, read from the real (untrained) model."""
    from mnist_core.model import layer_summary

    return layer_summary(untrained_model())


def model_store() -> ModelStore:
    """The models folder ($MNIST_MODELS_DIR or models/)."""
    return ModelStore()


def session_jobs(owner: str) -> list[JobSnapshot]:
    """This session's training runs, oldest first ([] while TensorFlow is still loading)."""
    if not tensorflow_ready():
        return []  # no run can exist before TensorFlow is loaded
    return job_manager(str(model_store().root)).jobs(owner)


# --- Session ---------------------------------------------------------------------------


def session_owner() -> str:
    """This browser session's id, kept in ?session=... so a refreshed page finds its runs."""
    if "owner" not in st.session_state:
        from_url = st.query_params.get("session", "")
        st.session_state.owner = from_url if OWNER_PATTERN.fullmatch(from_url) else uuid.uuid4().hex
    if st.query_params.get("session") != st.session_state.owner:
        st.query_params["session"] = st.session_state.owner
    return st.session_state.owner


def format_seconds(seconds: float | None) -> str:
    """Short durations for big numbers: '25 s', '1:05 min', '...' while unknown."""
    if seconds is None:
        return "..."
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60}:{seconds % 60:02d} min"


# --- Sidebar: the model used for drawing (and evaluating) ------------------------------


def model_choices(
    owner: str, everyone: bool = True, keep: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, str], dict[str, ModelInfo]]:
    """Options for the model picker: shipped models, unsaved runs of this session, saved runs
    (only this session's and those in `keep` unless `everyone`)."""
    infos = {info.ref: info for info in model_store().list_models()}
    jobs = session_jobs(owner)
    mine = {job.ref for job in jobs if job.ref} | {
        ref for ref, info in infos.items() if info.metadata and info.metadata.owner == owner}
    labels = {ref: f"★ {model_label(info)}" if ref in mine else model_label(info)
              for ref, info in infos.items()}
    shipped = [ref for ref, info in infos.items() if info.shipped]
    runs = [ref for ref, info in infos.items()
            if not info.shipped and (everyone or ref in mine or ref in keep)]
    unsaved = []
    for job in reversed(jobs):
        if job.model is not None and job.ref is None:
            key = f"{MEMORY_PREFIX}{job.job_id}"
            unsaved.append(key)
            labels[key] = (f"★ {percent(job.test_accuracy)} · {job.config.arch.upper()} "
                           f"{plural(job.config.epochs, 'epoch')} (not saved)")
    options = shipped + unsaved + runs
    # The picker sends back the label, not the option: two runs with the same settings,
    # accuracy and minute would be one choice. Number the later ones (oldest keeps its label).
    count: dict[str, int] = {}
    for option in reversed(options):
        label = labels.get(option, option)
        count[label] = count.get(label, 0) + 1
        if count[label] > 1:
            labels[option] = f"{label} ({count[label]})"
    return options, labels, infos


def default_model(options: list[str]) -> str | None:
    """The drawing model if it exists, else the quickstart, else the first one."""
    for ref in (DRAWING_MODEL, QUICKSTART_MODEL):
        if ref in options:
            return ref
    return options[0] if options else None


def model_picker_ui(owner: str, preset_model: str | None = None) -> str | None:
    """The sidebar model picker (this session's runs, or everyone's) and its "everyone"
    checkbox; returns the chosen ref (or memory:job-N), None if there is no model."""
    if "pending_model" in st.session_state:  # "Draw with this model" was clicked
        st.session_state.model = st.session_state.pop("pending_model")
    if "model" not in st.session_state and preset_model:  # first run: ?model=... from the link
        st.session_state.model = preset_model
    current = st.session_state.get("model")
    options, labels, infos = model_choices(
        owner, everyone=st.session_state.get("all_runs", False),
        keep=(current,) if isinstance(current, str) else (),
    )
    if not options:
        st.error(f"No models found in {model_store().root}. Train one in the Train tab.")
        return None
    if current not in options:
        st.session_state.model = default_model(options)
    choice = st.selectbox(
        "Model (for Draw, Evaluate and Learn)",
        options,
        key="model",
        format_func=lambda option: labels.get(option, option),
        help="★ = trained in this session. Your finished runs appear here; tick "
        "**Show everyone's runs** to pick a run someone else trained on this server.",
    )
    st.checkbox("Show everyone's runs", key="all_runs",
                help="Runs of every participant on this server, newest first.")
    info = infos.get(choice)
    if info is not None:
        st.caption(model_summary(info))
    elif choice.startswith(MEMORY_PREFIX):
        st.caption("Trained in this session but not saved: it is gone when the server stops.")
    return choice


def model_summary(info: ModelInfo) -> str:
    """One line about a model: architecture, epochs, dropout, test accuracy."""
    if info.metadata is None:
        return f"No metadata: {info.problem}"
    config = info.metadata.config
    parts = [
        config.arch.upper(),
        f"{info.metadata.epochs_completed or config.epochs} epochs",
        f"dropout {config.dropout}",
        f"test accuracy {percent(info.metadata.test_accuracy)}",
    ]
    return " · ".join(parts)


def server_status_ui() -> None:
    """A line about the shared trainer: how many runs are training or waiting."""
    if not tensorflow_ready():
        st.caption("TensorFlow is loading in the background...")
        return
    running, queued = job_manager(str(model_store().root)).active_count()
    st.caption(f"Trainer: {running} training, {queued} waiting." if running or queued
               else "Trainer: idle, ready to train.")


def sidebar_ui(owner: str, presets: Presets) -> tuple[str | None, bool, Any]:
    """The shared sidebar; returns the chosen model, whether presenter mode is on and a slot
    for the trainer's status."""
    with st.sidebar:
        st.title("MNIST Studio")
        st.caption("TensorFlow's MNIST quickstart, hands-on: train it, then draw digits for it.")
        choice = model_picker_ui(owner, presets.model)
        st.divider()
        status_slot = st.empty()
        presenter = workshop_ui(presets, choice)
        return choice, presenter, status_slot


def load_chosen_model(choice: str | None, owner: str) -> Any:
    """The chosen keras model, or None after showing why it can't be used."""
    if choice is None:
        return None
    if not wait_for_tensorflow():
        return None
    if choice.startswith(MEMORY_PREFIX):
        job_id = choice.removeprefix(MEMORY_PREFIX)
        job = next((job for job in session_jobs(owner) if job.job_id == job_id), None)
        if job is None or job.model is None:
            st.error("That unsaved model is gone (the server was restarted). Pick another.")
            return None
        return job.model
    store = model_store()
    try:
        mtime_ns = store.resolve(choice).stat().st_mtime_ns
        with st.spinner(f"Loading model {choice}..."):
            return cached_model(str(store.root), choice, mtime_ns)
    except FileNotFoundError:
        st.error(f"Model **{choice}** no longer exists. Pick another model in the sidebar.")
    except MnistStudioError as e:
        st.error(f"Can't use model **{choice}**: {e}\n\nPick another model in the sidebar.")
    return None


# --- Workshop presets: ?epochs=3&dropout=0.5&tab=train&presenter=1&model=quickstart ----


@dataclass(frozen=True)
class Presets:
    """What a workshop link asks for, made valid; `warnings` says what had to be changed."""

    epochs: int = DEFAULT_EPOCHS
    dropout: float = DEFAULT_DROPOUT
    batch_size: int = DEFAULT_BATCH_SIZE
    learning_rate: float = DEFAULT_LEARNING_RATE
    tab: str | None = None  # one of TAB_NAMES
    presenter: bool = False
    model: str | None = None
    warnings: tuple[str, ...] = ()


def _shown(raw: str) -> str:
    """A query-parameter value as it can be quoted in a message (short, no Markdown)."""
    text = re.sub(r"[^\w .,+-]", "?", raw)
    return text if len(text) <= 20 else f"{text[:20]}..."


def _preset_number(params: Mapping[str, str], name: str, choices: list[float],
                   warnings: list[str], log_scale: bool = False) -> float | None:
    """The allowed setting nearest to ?name=... (None if absent or not a number)."""
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (log_scale and value <= 0):
        warnings.append(f"{name}={_shown(raw)} is not a number the app can use: ignored.")
        return None
    nearest = min(choices, key=lambda choice: abs(math.log(choice / value)) if log_scale
                  else abs(choice - value))
    if not min(choices) <= value <= max(choices):
        warnings.append(f"{name}={_shown(raw)} is out of range ({min(choices):g} to "
                        f"{max(choices):g}): using {nearest:g}.")
    elif not math.isclose(nearest, value, rel_tol=1e-9, abs_tol=1e-9):
        warnings.append(f"{name}={_shown(raw)} is not one of the settings: using the "
                        f"nearest, {nearest:g}.")
    return nearest


def _preset_word(params: Mapping[str, str], name: str, choices: dict[str, Any],
                 warnings: list[str], expected: str) -> Any:
    """The value of ?name=... looked up (case-insensitively) in `choices`, else None."""
    raw = params.get(name)
    if raw is None:
        return None
    if raw.strip().lower() in choices:
        return choices[raw.strip().lower()]
    warnings.append(f"{name}={_shown(raw)} is not {expected}: ignored.")
    return None


def parse_presets(params: Mapping[str, str], models: list[str]) -> Presets:
    """Read ?epochs=&dropout=&batch_size=&learning_rate=&tab=&presenter=&model= from a link;
    out-of-range values are clamped, garbage is ignored, each with a warning. Never raises."""
    warnings: list[str] = []
    epochs = _preset_number(params, "epochs", list(range(EPOCH_CHOICES[0],
                                                         EPOCH_CHOICES[1] + 1)), warnings)
    steps = round(DROPOUT_MAX / DROPOUT_STEP)
    dropout = _preset_number(params, "dropout", [round(i * DROPOUT_STEP, 2)
                                                 for i in range(steps + 1)], warnings)
    batch_size = _preset_number(params, "batch_size", BATCH_SIZES, warnings, log_scale=True)
    learning_rate = _preset_number(params, "learning_rate", LEARNING_RATES, warnings,
                                   log_scale=True)
    tab = _preset_word(params, "tab", {name: name for name in TAB_NAMES}, warnings,
                       "a tab (learn, train, draw or evaluate)")
    presenter = _preset_word(params, "presenter", {**dict.fromkeys(TRUE_WORDS | {""}, True),
                                                   **dict.fromkeys(FALSE_WORDS, False)},
                             warnings, "on or off (1 or 0)")
    model = _preset_word(params, "model", {ref.lower(): ref for ref in models}, warnings,
                         "a model on this server")
    return Presets(
        epochs=DEFAULT_EPOCHS if epochs is None else int(epochs),
        dropout=DEFAULT_DROPOUT if dropout is None else dropout,
        batch_size=DEFAULT_BATCH_SIZE if batch_size is None else int(batch_size),
        learning_rate=DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate,
        tab=tab,
        presenter=bool(presenter),
        model=model,
        warnings=tuple(warnings),
    )


def session_presets() -> tuple[Presets, bool]:
    """The link's presets, read on the session's first run; True on that first run."""
    first_run = "presets" not in st.session_state
    if first_run:
        models = [info.ref for info in model_store().list_models()]
        st.session_state.presets = parse_presets(st.query_params.to_dict(), models)
    return st.session_state.presets, first_run


def preset_warnings_ui(presets: Presets) -> None:
    """What the link asked for that the app had to change (shown on the first run only)."""
    with st.container(key="preset_warnings"):
        lines = "\n".join(f"- {warning}" for warning in presets.warnings)
        st.warning(f"The link's settings were adjusted:\n{lines}", icon=":material/link:")


def current_settings(presets: Presets) -> TrainSettings:
    """The Train tab's settings as the user has set them (the presets until then)."""
    state = st.session_state
    return TrainSettings(
        epochs=state.get("epochs", presets.epochs),
        dropout=state.get("dropout", presets.dropout),
        batch_size=state.get("batch_size", presets.batch_size),
        learning_rate=state.get("learning_rate", presets.learning_rate),
    )


def share_link(base: str, settings: TrainSettings, tab: str | None, presenter: bool,
               model: str | None) -> str:
    """A link that opens the app with these settings (no ?session=: that one is personal)."""
    params: dict[str, Any] = {"epochs": settings.epochs, "dropout": f"{settings.dropout:g}"}
    if settings.batch_size != DEFAULT_BATCH_SIZE:
        params["batch_size"] = settings.batch_size
    if settings.learning_rate != DEFAULT_LEARNING_RATE:
        params["learning_rate"] = f"{settings.learning_rate:g}"
    if tab:
        params["tab"] = tab
    if presenter:
        params["presenter"] = 1
    if model and not model.startswith(MEMORY_PREFIX):
        params["model"] = model
    return f"{base.split('?')[0]}?{urlencode(params, safe='/')}"


def workshop_ui(presets: Presets, choice: str | None) -> bool:
    """Presenter mode, and a link that opens the app with the current settings (to send to
    a workshop); returns whether presenter mode is on."""
    with st.expander("Workshop: link and presenter mode", icon=":material/co_present:"):
        presenter = st.toggle(
            "Presenter mode", value=presets.presenter, key="presenter",
            help="Hides the advanced controls (batch size, learning rate) so that beginners "
            "see only what the tutorial uses. In a link: presenter=1.",
        )
        tab = st.pills(
            "The link opens", [name.title() for name in TAB_NAMES], key="link_tab",
            default=(presets.tab or "train").title(),
        )
        link = share_link(st.context.url or DEFAULT_APP_URL, current_settings(presets),
                          tab.lower() if tab else None, presenter, choice)
        with st.container(key="share_link"):
            st.code(link, language=None, wrap_lines=True)
        st.caption("Copy it with the button in its corner. Everyone who opens it starts with "
                   "these settings and this model, in a session of their own.")
    return presenter


# --- Learn: the quickstart step by step, with the real numbers --------------------------

DATA_CODE = """\
mnist = tf.keras.datasets.mnist
(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0"""
MODEL_CODE = """\
model = tf.keras.models.Sequential([
  tf.keras.layers.Flatten(input_shape=(28, 28)),
  tf.keras.layers.Dense(128, activation='relu'),
  tf.keras.layers.Dropout(0.2),
  tf.keras.layers.Dense(10)
])"""
PREDICT_CODE = """\
predictions = model(x_train[:1]).numpy()      # logits
tf.nn.softmax(predictions).numpy()             # probabilities
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
loss_fn(y_train[:1], predictions).numpy()      # loss"""
FIT_CODE = """\
model.compile(optimizer='adam',               # Train tab › Advanced: learning rate
              loss=loss_fn,                   # the loss of step 3
              metrics=['accuracy'])
model.fit(x_train, y_train, epochs=5)         # Train tab: Epochs, Dropout, Train
model.evaluate(x_test,  y_test, verbose=2)    # Evaluate tab
probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
probability_model(x_test[:5])                 # Draw tab: your own digits"""
LAYER_NOTES = {  # by layer name in mnist_core.model
    "flatten": "Unrolls the 28×28 image into one row of 784 pixel values.",
    "dense": "128 neurons. Each multiplies the 784 pixels by its own weights, adds a bias, "
             "and keeps the result only if it is positive (ReLU).",
    "dropout": "While training, switches off a random 20% of the 128 neurons at every step, "
               "so no single neuron can be relied on: fights overfitting. Off when predicting.",
    "logits": "One raw score per digit: the logits of step 3.",
}


def digit_pixels(image: np.ndarray, scale: int = SAMPLE_SCALE) -> np.ndarray:
    """A 28x28 image in [0, 1] as uint8 pixels, enlarged pixel for pixel."""
    pixels = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def learn_tab() -> Any:
    """The Learn tab's introduction; returns the slot its steps are drawn into later (they
    need TensorFlow and the data, so they come after the other tabs are on the page)."""
    st.markdown(
        "TensorFlow's [Quickstart for beginners](https://www.tensorflow.org/tutorials/"
        "quickstart/beginner), step by step, with the real numbers: the tutorial's code for "
        "each step, then what it does to real images."
    )
    return loading_slot()


def loading_slot() -> Any:
    """A placeholder saying what is loading, to be replaced by the content once it has."""
    slot = st.empty()
    slot.info("Loading TensorFlow and the MNIST images (the first time, about 10 seconds)...",
              icon=":material/hourglass_top:")
    return slot


@st.cache_resource(show_spinner=False)
def mnist_overview() -> lesson.DataOverview:
    """Shapes, pixel ranges and digit counts of MNIST (computed once per server)."""
    return lesson.data_overview(mnist_data())


def learn_body(choice: str | None, owner: str) -> None:
    """The four steps of the quickstart: data, model, one prediction, training."""
    try:
        data = mnist_data()
    except MnistStudioError as e:
        st.error(str(e))
        return
    learn_data_ui(data)
    if not wait_for_tensorflow():
        return
    learn_model_ui()
    st.fragment(learn_prediction_ui)(choice, owner)
    learn_fit_ui()


def learn_data_ui(data: MnistData) -> None:
    """Step 1: the data set, its shapes, its pixel values, and some of its digits."""
    st.subheader("1 · The data: 70,000 handwritten digits", anchor=False)
    st.code(DATA_CODE, language="python")
    overview = mnist_overview()
    with st.container(key="learn_data"):
        columns = st.columns(3)
        columns[0].metric("x_train.shape", str(overview.train_shape),
                          help="60,000 training images of 28 × 28 pixels.")
        columns[1].metric("x_test.shape", str(overview.test_shape),
                          help="10,000 test images, kept apart to check the trained model.")
        low, high = overview.scaled_range
        columns[2].metric("Pixel values", f"{overview.raw_range[0]}–{overview.raw_range[1]} → "
                          f"{low:.1f}–{high:.1f}", help="Before and after dividing by 255.0.")
    counts = overview.train_counts
    st.markdown(
        f"Each image is 28 × 28 = 784 numbers, one per pixel, from **{overview.raw_range[0]}** "
        f"(black) to **{overview.raw_range[1]}** (white). Dividing by 255.0 scales them to "
        f"**{low:.1f}–{high:.1f}**, which keeps the network's numbers small while it learns. "
        f"`y_train` holds the answers (the *labels*): {counts.min():,} to {counts.max():,} "
        "images of each digit."
    )
    st.fragment(sample_grid_ui)(data)


def next_samples() -> None:
    """Show the next examples of each digit."""
    st.session_state.learn_sample_offset = (
        st.session_state.get("learn_sample_offset", 0) + SAMPLES_PER_DIGIT
    )


def sample_grid_ui(data: MnistData) -> None:
    """Two examples of each digit from x_train, with their labels from y_train."""
    offset = st.session_state.get("learn_sample_offset", 0)
    picked = lesson.sample_indices(data.y_train, SAMPLES_PER_DIGIT, offset)
    rows = picked.reshape(NUM_CLASSES, SAMPLES_PER_DIGIT).T  # one row per example of each digit
    with st.container(key="learn_samples"):
        for row in rows:
            for column, index in zip(st.columns(NUM_CLASSES, gap="small"), row, strict=True):
                column.image(digit_pixels(data.x_train[index]),
                             caption=f"label {data.y_train[index]}", width="stretch",
                             output_format="PNG")
    st.button("Other examples", key="learn_more_samples", icon=":material/refresh:",
              on_click=next_samples)


def learn_model_ui() -> None:
    """Step 2: the network, its layers and parameter counts, read from the real model."""
    rows = lesson.layer_lessons(quickstart_layers())
    total = sum(row.params for row in rows)
    st.subheader(f"2 · The model: {len(rows)} layers, {total:,} numbers to learn", anchor=False)
    st.code(MODEL_CODE, language="python")
    table = pd.DataFrame(
        [{"Layer": row.kind, "Output shape": row.output_shape, "Parameters": f"{row.params:,}",
          "Where they come from": row.formula, "What it does": LAYER_NOTES.get(row.name, "")}
         for row in rows]
        + [{"Layer": "**Total**", "Output shape": "", "Parameters": f"**{total:,}**",
            "Where they come from": "weights and biases, set by training",
            "What it does": ""}]
    )
    with st.container(key="learn_layers"):
        st.table(table, hide_index=True)
    st.caption("`None` in a shape stands for the number of images in a batch: any number. "
               "The parameters start random; training adjusts all of them.")


def lesson_model(choice: str | None, owner: str) -> tuple[str, str]:
    """The trained model Learn shows: the sidebar's if it is the quickstart's network (an
    MLP), else the quickstart; returns it and a note saying which it is."""
    if choice is not None and choice.startswith(MEMORY_PREFIX):
        job = next((job for job in session_jobs(owner)
                    if f"{MEMORY_PREFIX}{job.job_id}" == choice), None)
        if job is not None and job.config.arch == "mlp":
            return choice, "your run (not saved)"
    elif choice is not None:
        try:
            arch = model_store().read_metadata(choice).config.arch
        except MnistStudioError:
            arch = None
        if arch == "mlp":
            return choice, choice.removeprefix("runs/")
    note = QUICKSTART_MODEL
    if choice is not None and choice != QUICKSTART_MODEL:
        note += f" (the sidebar's {choice.removeprefix('runs/')} is another kind of network)"
    return QUICKSTART_MODEL, note


def explain_image(model: Any, image: np.ndarray, label: int) -> lesson.Explanation:
    """Logits, softmax and loss of one image through a model."""
    from mnist_core.evaluate import predict_logits

    return lesson.explain(predict_logits(model, image)[0], label)


def logits_chart(explanation: lesson.Explanation) -> alt.Chart:
    """The ten logits as bars around zero, the true digit highlighted."""
    frame = pd.DataFrame({"digit": [str(d) for d in range(NUM_CLASSES)],
                          "logit": explanation.logits})
    true = str(explanation.label)
    return (
        alt.Chart(frame).mark_bar().encode(
            x=alt.X("digit:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("logit:Q", title=None, axis=alt.Axis(tickCount=4)),
            color=alt.condition(alt.datum.digit == true, alt.value(CORRECT_COLOR),
                                alt.value(NEUTRAL_COLOR)),
            tooltip=["digit", alt.Tooltip("logit:Q", format=".3f")],
        )
        .properties(title="Logits", height=230)
        .configure_axis(**FONT_SIZES).configure_title(fontSize=16)
    )


def lesson_probability_chart(explanation: lesson.Explanation) -> alt.Chart:
    """The softmax probabilities, the true digit highlighted, a line at 1/10."""
    frame = pd.DataFrame({"digit": [str(d) for d in range(NUM_CLASSES)],
                          "probability": explanation.probabilities})
    true = str(explanation.label)
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("digit:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("probability:Q", title=None, scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format=".0%", tickCount=4)),
        color=alt.condition(alt.datum.digit == true, alt.value(CORRECT_COLOR),
                            alt.value(NEUTRAL_COLOR)),
        tooltip=["digit", alt.Tooltip("probability:Q", format=".1%")],
    )
    guess = alt.Chart(pd.DataFrame({"y": [1 / NUM_CLASSES]})).mark_rule(
        strokeDash=[5, 4], color=TEST_COLOR, strokeWidth=2).encode(y="y:Q")
    return ((bars + guess).properties(title="Probabilities (softmax)", height=230)
            .configure_axis(**FONT_SIZES).configure_title(fontSize=16))


def math_number(value: float) -> str:
    """A number inside $...$ (KaTeX): 3 significant digits, grouped thousands, or a power of
    ten for the huge ratios a trained model's logits stand for."""
    if abs(value) >= 1e6:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa} \\times 10^{{{int(exponent)}}}"
    return f"{value:,.0f}".replace(",", "{,}") if abs(value) >= 1000 else f"{value:.3g}"


def loss_metrics_ui(explanation: lesson.Explanation, key: str) -> None:
    """The loss on the image, beside ln 10 (the loss of a blind guess)."""
    with st.container(key=key):
        left, right = st.columns(2)
        left.metric("Loss", f"{explanation.loss:.2f}" if explanation.loss >= 0.1
                    else f"{explanation.loss:.3f}",
                    help="−ln(probability the model gives the true digit).")
        right.metric("ln 10", f"{explanation.uniform_loss:.2f}",
                     help="The loss of a blind guess that gives every digit 1/10.")


def logits_text(untrained: lesson.Explanation, trained: lesson.Explanation) -> str:
    """Logits and log-odds, with this image's numbers."""
    parts = []
    for who, explanation in (("Trained", trained), ("Untrained", untrained)):
        odds = lesson.odds(explanation, explanation.label, lesson.rival(explanation))
        parts.append(
            f"{who}: $z_{odds.digit} - z_{odds.other} = {math_number(odds.log_odds)}$, so "
            f"{odds.digit} is $e^{{{math_number(odds.log_odds)}}} \\approx "
            f"{math_number(odds.ratio)}$ times as likely as {odds.other}."
        )
    return (
        "**Logits** $z_0 \\dots z_9$: the last layer's ten raw scores, any number; bigger "
        "means *more like this digit*. They are **log-odds**: two logits $g$ apart mean "
        f"$e^g$ times as likely. {' '.join(parts)}"
    )


def percent_math(value: float) -> str:
    """'= 6.9\\%' inside $...$, or '\\approx 100\\%' when it would round to 100%."""
    return "\\approx 100\\%" if value >= 0.9995 else "= " + f"{value:.1%}".replace("%", "\\%")


def softmax_text(untrained: lesson.Explanation, trained: lesson.Explanation) -> str:
    """Softmax, with this image's numbers."""
    parts = lesson.softmax_parts(untrained, untrained.label)
    digit = parts.digit
    return (
        "**Softmax** turns logits into probabilities, positive and adding up to 100%: "
        f"$p_{digit} = e^{{z_{digit}}} / \\sum_j e^{{z_j}}$. Untrained: $p_{digit} = "
        f"{math_number(parts.numerator)} / {math_number(parts.denominator)} "
        f"{percent_math(parts.probability)}$, near 1/10 (the dashed line) like every digit: "
        f"a random guess. Trained: $p_{digit} {percent_math(trained.probabilities[digit])}$."
    )


def loss_text(untrained: lesson.Explanation, trained: lesson.Explanation) -> str:
    """The loss and why it starts near ln 10, with this image's numbers."""
    p = untrained.probabilities[untrained.label]
    return (
        f"**The loss** is $-\\ln p_{untrained.label}$: near 0 when the model is sure and "
        f"right. Untrained: $-\\ln {p:.3f} = {untrained.loss:.2f}$, close to "
        f"$\\ln 10 \\approx {untrained.uniform_loss:.2f}$: an untrained model's probabilities "
        "are close to random (1/10 each), so its loss is about $-\\ln(1/10) = \\ln 10$. "
        f"Training makes the loss small: here ${trained.loss:.3f}$."
    )


def model_heading(explanation: lesson.Explanation, title: str) -> str:
    """'**Untrained**, random weights  \n says **8** (16% sure)'."""
    predicted = explanation.predicted
    return (f"{title}  \nsays **{predicted}** "
            f"({explanation.probabilities[predicted]:.0%} sure)")


def learn_prediction_ui(choice: str | None, owner: str) -> None:
    """Step 3: one training image through the untrained and a trained model, side by side,
    each number beside its explanation (reruns alone when another image is picked)."""
    st.subheader("3 · One image through the model: logits → softmax → loss", anchor=False)
    st.code(PREDICT_CODE, language="python")
    data = mnist_data()
    ref, note = lesson_model(choice, owner)
    trained_model = load_chosen_model(ref, owner)
    if trained_model is None:
        return
    widths = [1.35, 1, 1]
    picker, untrained_head, trained_head = st.columns(widths, gap="medium")
    with picker:
        index = st.number_input(
            "Training image", 0, len(data.x_train) - 1, value=0, step=1, key="learn_image",
            help="Which of the 60,000 training images to look at. The tutorial uses the first.",
        )
    image, label = data.x_train[index], int(data.y_train[index])
    untrained = explain_image(untrained_model(), image, label)
    trained = explain_image(trained_model, image, label)
    with picker:
        st.image(digit_pixels(image, 4), caption=f"x_train[{index}], label {label}",
                 output_format="PNG")
    untrained_head.markdown(model_heading(untrained, "**Untrained** (random weights)"))
    trained_head.markdown(model_heading(trained, f"**Trained** ({note.split(' (')[0]})"))
    for text, key, show in (
        (logits_text(untrained, trained), "learn_logits",
         lambda e: show_chart("logits", e)),
        (softmax_text(untrained, trained), "learn_softmax",
         lambda e: show_chart("probabilities", e)),
        (loss_text(untrained, trained), "learn_loss", None),
    ):
        explain_column, untrained_column, trained_column = st.columns(
            widths, gap="medium", vertical_alignment="center")
        with explain_column.container(key=f"{key}_text"):
            st.markdown(text)
        for column, explanation, who in ((untrained_column, untrained, "untrained"),
                                         (trained_column, trained, "trained")):
            with column:
                if show is None:
                    loss_metrics_ui(explanation, f"{key}_{who}")
                else:
                    show(explanation)
    if "(" in note:
        st.caption(f"Trained model: {note}. Pick an MLP run in the sidebar to see it here.")


def learn_fit_ui() -> None:
    """Step 4: compile, fit, evaluate, and where each happens in this app."""
    st.subheader("4 · Train and evaluate: this happens in the other tabs", anchor=False)
    st.code(FIT_CODE, language="python")
    steps = lesson.steps_per_epoch(60_000, DEFAULT_BATCH_SIZE)
    st.markdown(
        f"**Epochs.** `fit` goes through all 60,000 training images once per epoch, in "
        f"batches of {DEFAULT_BATCH_SIZE}: **{steps:,} weight updates per epoch**, "
        f"{steps * DEFAULT_EPOCHS:,} for the tutorial's {DEFAULT_EPOCHS} epochs. Each update "
        "nudges all 101,770 parameters to lower the loss on its batch (the *adam* optimizer "
        "decides how far). More epochs learn more, until the model starts memorising the "
        "training images instead of learning digits: *overfitting*, which dropout fights."
    )
    try:
        metadata = model_store().read_metadata(QUICKSTART_MODEL)
        figures = (" The quickstart shipped with this app scored "
                   f"**{percent(metadata.test_accuracy)}** with a test loss of "
                   f"**{metadata.test_loss:.3f}**.")
    except (MnistStudioError, TypeError):
        figures = ""
    st.markdown(
        "**`evaluate`** checks the trained model on the 10,000 test images it never trained "
        f"on.{figures}"
    )
    st.markdown(
        "- :material/model_training: **Train** tab: choose epochs and dropout, press "
        "**Train** and watch loss and accuracy change, epoch by epoch.\n"
        "- :material/analytics: **Evaluate** tab: which test digits the model gets wrong, "
        "and runs compared side by side.\n"
        "- :material/draw: **Draw** tab: the `probability_model`, on digits you draw."
    )


# --- Train -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    """What the user picked in the Train tab."""

    epochs: int
    dropout: float
    batch_size: int
    learning_rate: float


def train_settings_ui(busy: bool, presets: Presets | None = None,
                      presenter: bool = False) -> tuple[TrainSettings, bool]:
    """Epochs and dropout sliders (starting at the link's presets), the Train button, batch
    size and learning rate under Advanced (hidden in presenter mode); returns the settings
    and whether Train was clicked."""
    presets = presets or Presets()
    left, right, go = st.columns([2, 2, 1], gap="large", vertical_alignment="bottom")
    epochs = left.slider(
        "Epochs", *EPOCH_CHOICES, value=presets.epochs, key="epochs",
        help="One epoch = one pass over all 60,000 training images.",
    )
    dropout = right.slider(
        "Dropout", 0.0, DROPOUT_MAX, value=presets.dropout, step=DROPOUT_STEP, key="dropout",
        help="Share of neurons switched off at random while training: fights overfitting.",
    )
    clicked = go.button(
        "Train", key="train", type="primary", icon=":material/play_arrow:", disabled=busy,
        width="stretch",
        help="Wait for your current run to end (or stop it) first." if busy else None,
    )
    if presenter:  # beginners see only what the tutorial uses
        return TrainSettings(epochs, dropout, presets.batch_size, presets.learning_rate), clicked
    with st.expander("Advanced"):
        left, right = st.columns(2, gap="large")
        batch_size = left.select_slider(
            "Batch size", BATCH_SIZES, value=presets.batch_size, key="batch_size",
            help="Images looked at before each weight update.",
        )
        learning_rate = right.select_slider(
            "Learning rate", LEARNING_RATES, value=presets.learning_rate, key="learning_rate",
            format_func=lambda rate: f"{rate:g}",
            help="How big each weight update is (Adam optimizer).",
        )
    return TrainSettings(epochs, dropout, batch_size, learning_rate), clicked


def start_training(settings: TrainSettings, owner: str) -> bool:
    """Queue a run with these settings on the server-wide trainer; False if it can't."""
    if not wait_for_tensorflow():
        return False
    from mnist_core.config import TrainConfig
    from mnist_core.settings import train_limit

    try:
        config = TrainConfig(
            epochs=settings.epochs,
            dropout=settings.dropout,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            train_limit=train_limit(),
        )
    except MnistStudioError as e:
        st.error(f"Can't train with these settings: {e}")
        return False
    job_manager(str(model_store().root)).submit(config, owner)
    return True


def train_tab(owner: str, presets: Presets | None = None, presenter: bool = False) -> None:
    """The Train tab: settings, the Train button and the live run panel."""
    st.markdown(
        "Train the quickstart network on 60,000 handwritten digits and watch it learn. "
        "You can keep drawing in the **Draw** tab meanwhile."
    )
    jobs = session_jobs(owner)
    busy = bool(jobs) and not jobs[-1].status.done
    settings, clicked = train_settings_ui(busy, presets, presenter)
    if clicked and not busy and start_training(settings, owner):
        st.rerun()  # redraw with the Train button disabled and the panel polling
    st.fragment(run_every=POLL_SECONDS if busy else None)(run_panel)(owner)


def run_panel(owner: str) -> None:
    """The latest run of this session: live while it runs, its results once it ends."""
    jobs = session_jobs(owner)
    if not jobs:
        st.info("No run yet. Choose epochs and dropout, then press **Train**.")
        return
    job = jobs[-1]
    if not job.status.done:
        st.session_state.polling_job = job.job_id
    elif st.session_state.get("polling_job") == job.job_id:
        # The run just ended: one full rerun so the sidebar lists the new model.
        del st.session_state["polling_job"]
        st.rerun()
    from mnist_core.jobs import JobStatus  # TensorFlow is loaded: a job exists

    if job.status is JobStatus.QUEUED:
        queued_ui(job)
    elif job.status is JobStatus.RUNNING:
        progress_ui(job)
    else:
        result_ui(job)
    if job.batch_points:
        charts_ui(job)
    if job.config.train_limit:
        st.caption(
            f"Training on the first {job.config.train_limit:,} of 60,000 images "
            "(MNIST_TRAIN_LIMIT is set)."
        )


def stop_button(job: JobSnapshot, label: str) -> None:
    """The Stop button of a queued or running job."""
    stopping = st.session_state.get("stopping_job") == job.job_id
    st.button(label, key="stop", icon=":material/stop:", on_click=stop_job, args=(job.job_id,),
              disabled=stopping, width="stretch")


def stop_job(job_id: str) -> None:
    """Ask the trainer to stop a run; the weights so far are kept."""
    st.session_state.stopping_job = job_id
    job_manager(str(model_store().root)).stop(job_id)


def queued_ui(job: JobSnapshot) -> None:
    """A run waiting for the trainer."""
    st.info(
        f"### Queued, position {job.queue_position}\n"
        "Other runs are using the trainer. Yours starts by itself when it is its turn."
    )
    stop_button(job, "Cancel")


def progress_ui(job: JobSnapshot) -> None:
    """Progress bar and big numbers of a running job."""
    latest = job.latest
    epochs = job.config.epochs
    if latest is None:
        st.progress(0.0, text="Starting: TensorFlow prepares the network (a few seconds)...")
    else:
        st.progress(
            latest.fraction_done,
            text=f"Epoch {latest.epoch} of {epochs} · batch {latest.step:,} of "
            f"{latest.steps_per_epoch:,} · about {format_seconds(latest.seconds_left)} left",
        )
    last_test = job.epoch_points[-1].val_accuracy if job.epoch_points else None
    columns = st.columns([1, 1, 1, 1, 0.8], vertical_alignment="center")
    columns[0].metric("Epoch", f"{latest.epoch if latest else 1} of {epochs}")
    columns[1].metric("Training accuracy", percent(latest.accuracy if latest else None))
    columns[2].metric("Test accuracy", percent(last_test), help="After the last full epoch.")
    columns[3].metric("Time left", format_seconds(latest.seconds_left if latest else None))
    with columns[4]:
        stop_button(job, "Stopping..." if st.session_state.get("stopping_job") == job.job_id
                    else "Stop")


def result_ui(job: JobSnapshot) -> None:
    """How a run ended: test figures, where it was saved, or why it failed."""
    from mnist_core.jobs import JobStatus

    epochs = job.config.epochs
    if job.status is JobStatus.FAILED:
        st.error(f"Training failed: {job.error}")
        return
    if job.status is JobStatus.CANCELLED:
        st.info("Cancelled before it started: nothing was trained.")
        return
    if job.status is JobStatus.STOPPED:
        stopped_at = job.latest.epoch if job.latest else 1
        st.warning(
            f"**Stopped at epoch {stopped_at} of {epochs}.** The model trained so far is kept "
            f"({plural(job.epochs_completed or 0, 'full epoch')})."
        )
    else:
        st.success(f"**Finished:** {plural(epochs, 'epoch')} in {job.seconds:.0f} s.")
    figures_row_ui("test_accuracy", job.test_accuracy, job.test_loss,
                    ("Training time", f"{job.seconds:.0f} s"))
    if job.ref:
        st.markdown(f"Saved as **{job.ref.removeprefix('runs/')}** (★ in the sidebar model list).")
        use = job.ref
    else:
        st.warning(
            f"Could not save this model: {job.save_error}\n\n"
            "You can still draw with it in this session: it is the **(not saved)** one in the "
            "sidebar model list."
        )
        use = f"{MEMORY_PREFIX}{job.job_id}"
    if st.button("Draw with this model", key="use_model", icon=":material/draw:",
                 help="Selects it in the sidebar and opens the Draw tab.",
                 on_click=draw_with_model, args=(use,)):
        st.rerun()  # this button is in a fragment: rerun the app so the sidebar updates


def draw_with_model(choice: str) -> None:
    """Select this model (the picker takes it on the full rerun) and open the Draw tab."""
    st.session_state.pending_model = choice
    st.session_state[TAB_KEY] = TABS[TAB_NAMES.index("draw")]  # before the tabs are built


def training_frame(batch_points: tuple[BatchPoint, ...], epoch_points: tuple[EpochPoint, ...],
                   metric: str) -> pd.DataFrame:
    """Long-form chart data: per-batch training curve and per-epoch test points."""
    rows = [
        {"epoch": point.epoch_progress, "value": getattr(point, metric), "set": "Training"}
        for point in batch_points
    ]
    rows += [
        {"epoch": point.epoch, "value": getattr(point, f"val_{metric}"), "set": "Test set"}
        for point in epoch_points
        if getattr(point, f"val_{metric}") is not None
    ]
    return pd.DataFrame(rows, columns=["epoch", "value", "set"])


def metric_chart(frame: pd.DataFrame, title: str, epochs: int, as_percent: bool) -> dict:
    """A line chart of one metric against epochs, training vs. test set (Vega-Lite spec).

    A plain spec, not Altair: it is rebuilt on every refresh of a running job (twice a
    second), and Altair's schema checks took ~50 ms of server CPU per chart.
    """
    encoding = {
        "x": {"field": "epoch", "type": "quantitative", "title": "Epoch",
              "scale": {"domain": [0, epochs]}, "axis": {"tickMinStep": 1}},
        "y": {"field": "value", "type": "quantitative", "scale": {"zero": not as_percent},
              "axis": {"format": ".0%" if as_percent else ".2f", "title": None}},
        "color": {"field": "set", "type": "nominal", "title": None,
                  "scale": {"domain": ["Training", "Test set"], "range": [TRAIN_COLOR, TEST_COLOR]},
                  "legend": {"orient": "bottom", "labelFontSize": 15, "symbolSize": 200}},
        "tooltip": [{"field": "epoch", "type": "quantitative", "format": ".2f"},
                    {"field": "value", "type": "quantitative", "format": ".4f"},
                    {"field": "set", "type": "nominal"}],
    }
    few = (frame["set"] == "Training").sum() < FEW_POINTS  # a line needs points to be seen
    training_points = {"size": 60, "filled": True} if few else False
    return {
        "layer": [
            {"mark": {"type": "line", "strokeWidth": 3, "point": training_points},
             "encoding": encoding, "transform": [{"filter": "(datum.set === 'Training')"}]},
            {"mark": {"type": "line", "strokeWidth": 3, "point": {"size": 120, "filled": True}},
             "encoding": encoding, "transform": [{"filter": "(datum.set === 'Test set')"}]},
        ],
        "title": title,
        "height": 280,
        "config": {"axis": FONT_SIZES, "title": {"fontSize": 20}},
    }


def charts_ui(job: JobSnapshot) -> None:
    """Accuracy and loss so far, side by side."""
    left, right = st.columns(2, gap="large")
    for column, metric, title, as_percent in (
        (left, "accuracy", "Accuracy (higher is better)", True),
        (right, "loss", "Loss (lower is better)", False),
    ):
        frame = training_frame(job.batch_points, job.epoch_points, metric)
        column.vega_lite_chart(frame, metric_chart(frame, title, job.config.epochs, as_percent),
                               width="stretch")
    st.caption(
        "Training: running average over the current epoch, updated a few times a second. "
        "Test set: 10,000 images the model never trains on, checked after every epoch."
    )


# --- Draw ------------------------------------------------------------------------------


def clear_canvas() -> None:
    """Empty the canvas in place: a new (empty) initial drawing, the same widget.

    A new widget key would mount a new canvas while the old one is still on screen until
    the rerun ends; under load a stroke drawn meanwhile landed on the old one and was lost.
    """
    st.session_state.canvas_generation = st.session_state.get("canvas_generation", 0) + 1
    # Until the canvas has loaded the empty drawing, it still reports the old one.
    st.session_state.cleared_drawing = st.session_state.get("last_drawing")


def canvas_ui() -> np.ndarray | None:
    """The drawing canvas and its Clear button; returns the RGBA drawing (H, W, 4) or None."""
    generation = st.session_state.get("canvas_generation", 0)
    with st.container(key="canvas"):
        result = st_canvas(
            stroke_width=STROKE_WIDTH,
            stroke_color="#FFFFFF",
            background_color="#000000",
            update_streamlit=True,
            height=CANVAS_SIZE,
            width=CANVAS_SIZE,
            drawing_mode="freedraw",
            # Each Clear is a different empty drawing, which the canvas loads (and sends).
            initial_drawing={"objects": [], "cleared": generation} if generation else None,
            return_image_data=True,
            key="drawing_canvas",
        )
        canvas_shortcuts(key="canvas_shortcuts")
    st.button("Clear", key="clear", icon=":material/ink_eraser:", on_click=clear_canvas)
    drawing = result.json_data
    st.session_state.last_drawing = drawing
    if drawing is not None and drawing == st.session_state.get("cleared_drawing"):
        return None  # the drawing from before Clear, still reported for a moment
    return result.image_data


# Two page-side shortcuts to the canvas's own toolbar (streamlit-drawable-canvas 0.13),
# found by their labels. If a canvas release renames a button, that shortcut does
# nothing and the app keeps working as without it.
# - The canvas sends a drawing 200 ms after the pen lifts (a debounce callers cannot
#   change): two thirds of a 300 ms budget from stroke to answer. Its button "Update the
#   app with this drawing" sends at once and cancels that wait: pressed when a stroke ends.
# - The app's Clear button, done on the server, costs two reruns (the button's, then the
#   canvas sending the empty drawing it was given). The canvas's "Reset canvas & history"
#   empties it in the page and sends once, so a click on Clear presses that instead (and
#   the server never sees the click). Without the shortcut Clear works on the server.
SEND_BUTTON_LABEL = "Update the app with this drawing"
RESET_BUTTON_LABEL = "Reset canvas & history"
CANVAS_SHORTCUTS_JS = """
export default function () {
  const findButton = (root, label) => {
    for (const element of root.querySelectorAll("*")) {
      if (element.tagName === "BUTTON" && element.getAttribute("aria-label") === label) {
        return element;
      }
      const inner = element.shadowRoot && findButton(element.shadowRoot, label);
      if (inner) return inner;
    }
    return null;
  };
  const canvasButton = (label) => {
    const canvas = document.querySelector(".st-key-canvas");
    return canvas && findButton(canvas, label);
  };
  const within = (event, className) => event.composedPath().some(
    (element) => element.classList && element.classList.contains(className));
  let drawing = false;
  const down = (event) => { drawing = within(event, "st-key-canvas"); };
  const up = () => {
    if (!drawing) return;
    drawing = false;
    // After the canvas has handled the same event (it adds the stroke, then schedules
    // its delayed send): the button sends the finished stroke now.
    setTimeout(() => {
      const button = canvasButton(SEND_BUTTON_LABEL);
      if (button) button.click();
    }, 0);
  };
  const cancel = () => { drawing = false; };
  const clear = (event) => {
    if (!within(event, "st-key-clear")) return;
    const reset = canvasButton(RESET_BUTTON_LABEL);
    if (!reset) return;  // Clear goes to the server as usual
    event.stopPropagation();
    event.preventDefault();
    reset.click();
  };
  window.addEventListener("pointerdown", down, true);
  window.addEventListener("pointerup", up, true);
  window.addEventListener("pointercancel", cancel, true);
  window.addEventListener("click", clear, true);
  return () => {
    window.removeEventListener("pointerdown", down, true);
    window.removeEventListener("pointerup", up, true);
    window.removeEventListener("pointercancel", cancel, true);
    window.removeEventListener("click", clear, true);
  };
}
""".replace("SEND_BUTTON_LABEL", json.dumps(SEND_BUTTON_LABEL)).replace(
    "RESET_BUTTON_LABEL", json.dumps(RESET_BUTTON_LABEL))
canvas_shortcuts = st.components.v2.component("mnist_studio.canvas_shortcuts",
                                              js=CANVAS_SHORTCUTS_JS)


def top_two(probabilities: np.ndarray) -> tuple[int, int]:
    """The two most likely digits, best first."""
    best, second = np.argsort(probabilities)[::-1][:2]
    return int(best), int(second)


def prediction_ui(probabilities: np.ndarray | None) -> None:
    """The predicted digit, large, and how sure the model is (a hint if nothing is drawn)."""
    with st.container(key="prediction"):
        if probabilities is None:
            st.markdown("### :material/gesture: Draw a digit in the black box", anchors=False)
            st.caption("Use your mouse or finger. Draw big, one digit, like on a form.")
            return
        best, second = top_two(probabilities)
        confidence = float(probabilities[best])
        st.markdown(
            f"<div style='font-size:9rem;font-weight:700;line-height:1'>{best}</div>",
            unsafe_allow_html=True,
        )
        if confidence < LOW_CONFIDENCE:
            st.markdown(f"#### Not sure — maybe {best} or {second} ({confidence:.0%})",
                        anchors=False)
        else:
            st.markdown(f"#### {confidence:.0%} sure", anchors=False)


def probability_chart(probabilities: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """Bars of the ten probabilities, the winner highlighted: (data, Vega-Lite spec).

    A plain spec, not Altair: Altair checks every chart against its JSON schema, ~25 ms
    of server CPU on each stroke for a chart whose shape never changes (bench/load.py).
    The spec is the same on every stroke (the winner is a column of the data), so the
    browser only swaps the chart's data instead of building a new chart.
    """
    best = int(np.argmax(probabilities))
    frame = pd.DataFrame({"digit": [str(d) for d in range(NUM_CLASSES)],
                          "probability": probabilities,
                          "best": [d == best for d in range(NUM_CLASSES)]})
    return frame, PROBABILITY_SPEC


PROBABILITY_SPEC = {
    "mark": {"type": "bar"},
    "encoding": {
        "x": {"field": "digit", "type": "nominal", "title": None, "sort": None,
              "axis": {"labelAngle": 0}},
        "y": {"field": "probability", "type": "quantitative", "title": None,
              "scale": {"domain": [0, 1]}, "axis": {"format": ".0%", "tickCount": 5}},
        "color": {"field": "best", "type": "nominal", "legend": None,
                  "scale": {"domain": [True, False], "range": [TEST_COLOR, NEUTRAL_COLOR]}},
        "tooltip": [{"field": "digit", "type": "nominal"},
                    {"field": "probability", "type": "quantitative", "format": ".1%"}],
    },
    "title": "How likely each digit is",
    "height": 200,
    "config": {"axis": {"labelFontSize": 18, "titleFontSize": 16}, "title": {"fontSize": 18}},
}


def model_view_ui(image: np.ndarray) -> None:
    """The 28x28 image the model saw, enlarged pixel for pixel."""
    pixels = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)  # (28, 28) uint8
    enlarged = np.repeat(np.repeat(pixels, PREVIEW_SCALE, axis=0), PREVIEW_SCALE, axis=1)
    st.image(enlarged, caption=f"What the model sees ({IMAGE_SIZE}×{IMAGE_SIZE} pixels)",
             width=IMAGE_SIZE * PREVIEW_SCALE, output_format="PNG")  # PNG: crisp pixels


def draw_area(choice: str | None, owner: str) -> None:
    """Canvas, prediction, probabilities and the model's view (reruns alone on each stroke)."""
    row = st.container(horizontal=True, gap="large")
    with row.container(width=CANVAS_SIZE + 16):
        drawing = canvas_ui()
    image = canvas_to_mnist(drawing) if drawing is not None else None
    with row.container(width="stretch"):
        # The same layout whether or not there is a drawing, so that each stroke updates
        # the answer in place instead of swapping one layout for another.
        answer, view = st.columns([1, 1], vertical_alignment="top")
        if image is None:
            with answer:
                prediction_ui(None)  # the hint first: no need to wait for TensorFlow
            load_chosen_model(choice, owner)  # ready before the first stroke; shows problems
            return
        model = load_chosen_model(choice, owner)
        if model is None:
            return
        from mnist_core.evaluate import predict_proba

        probabilities = predict_proba(model, image)[0]  # (10,)
        with answer:
            prediction_ui(probabilities)
        with view.container(key="model_view"):
            model_view_ui(image)
        st.vega_lite_chart(*probability_chart(probabilities), width="stretch")


def draw_tab(choice: str | None, owner: str) -> None:
    """The Draw tab: draw a digit and see what the chosen model thinks it is."""
    st.markdown(
        "Draw one digit. The model guesses after every stroke; it sees your drawing shrunk "
        "to 28×28 pixels and centred, like the images it learned from."
    )
    st.space("small")  # room for the canvas toolbar
    st.fragment(draw_area)(choice, owner)


# --- Evaluate: the chosen model on the test set; runs compared ---------------------------


def evaluate_tab(choice: str | None, owner: str = "") -> None:
    """The Evaluate tab: the chosen model on the 10,000 test images, then runs compared
    (each part reruns alone when its widgets change)."""
    st.markdown(
        "How the sidebar's model does on the 10,000 test images it never trained on, where it "
        "goes wrong, and how runs with different settings compare."
    )
    st.fragment(evaluation_ui)(choice, owner)
    st.divider()
    st.fragment(compare_ui)(owner)


def model_identity(choice: str, owner: str) -> str | None:
    """What a model's evaluation is cached under: its file's content hash, or its job."""
    store = model_store()
    if choice.startswith(MEMORY_PREFIX):
        return f"{store.root}:{choice}"  # job ids are never reused by a server's trainer
    try:
        path = store.resolve(choice)
        stat = path.stat()
    except (OSError, MnistStudioError):
        return None
    return file_fingerprint(str(path), stat.st_mtime_ns, stat.st_size)


def evaluation_ui(choice: str | None, owner: str) -> None:
    """The chosen model's test figures, confusion matrix and mistakes."""
    if choice is None:
        st.info("No model to evaluate yet: train one in the **Train** tab.")
        return
    model = load_chosen_model(choice, owner)
    identity = model_identity(choice, owner)
    if model is None or identity is None:
        return
    try:
        data = mnist_data()
        with st.spinner("Testing the model on 10,000 images (once per model)..."):
            evaluation = cached_evaluation(identity, model)
    except MnistStudioError as e:
        st.error(f"Can't evaluate this model: {e}")
        return
    evaluation_metrics_ui(evaluation)
    matrix, digits = st.columns([1.25, 1], gap="large")
    with matrix, st.container(key="confusion"):
        st.markdown("#### Confusion matrix", anchors=False)
        show_chart("confusion", evaluation.confusion, width="content")
        st.caption("Rows: the true digit. Columns: what the model said. The diagonal (green) "
                   "is right; every other number is a mistake, darker = more often.")
    with digits:
        st.markdown("#### Accuracy per digit", anchors=False)
        show_chart("per_digit", evaluation.per_class_accuracy)
        common_mistakes_ui(evaluation)
    gallery_ui(evaluation, data)


def evaluation_metrics_ui(evaluation: Evaluation) -> None:
    """Test accuracy, test loss and the number of mistakes."""
    total = len(evaluation.predictions)
    figures_row_ui("eval_accuracy", evaluation.accuracy, evaluation.loss,
                    ("Mistakes", f"{len(evaluation.misclassified):,} of {total:,}"))


def figures_row_ui(key: str, accuracy: float | None, loss: float | None,
                    third: tuple[str, str]) -> None:
    """Test accuracy (in a container with `key`), test loss, and one more figure, in a row."""
    columns = st.columns(3)
    with columns[0].container(key=key):
        st.metric("Test accuracy", percent(accuracy),
                  help="Share of the 10,000 test images (never used for training) it gets right.")
    columns[1].metric("Test loss", "-" if loss is None else f"{loss:.3f}",
                      help="Average −ln(probability of the true digit). "
                           "Lower is better; a blind guess scores ln 10 = 2.303.")
    columns[2].metric(*third)


def confusion_chart(confusion: np.ndarray) -> alt.Chart:
    """A 10x10 heatmap of counts: the diagonal in green, mistakes on a log colour scale."""
    frame = pd.DataFrame(compare.confusion_cells(confusion))
    wrong = frame.loc[~frame["correct"], "count"]
    dark = max(int(wrong.max()), 1) ** 0.6  # mistakes this frequent get white numbers
    frame["text"] = [str(count) if count else "" for count in frame["count"]]
    frame["ink"] = ["#1b5e20" if correct else ("white" if count >= dark else "#222")
                    for correct, count in zip(frame["correct"], frame["count"], strict=True)]
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:O", title="Predicted digit", axis=alt.Axis(orient="top",
                                                                     labelAngle=0)),
        y=alt.Y("true:O", title="True digit"),
        tooltip=[alt.Tooltip("true:O", title="True digit"),
                 alt.Tooltip("predicted:O", title="Predicted"),
                 alt.Tooltip("count:Q", title="Images")],
    )
    grid = base.mark_rect(fill="white", stroke="#d0d5db", strokeWidth=1)
    mistakes = base.transform_filter("!datum.correct && datum.count > 0").mark_rect(
        stroke="#d0d5db").encode(
        fill=alt.Fill("count:Q", scale=alt.Scale(type="log", scheme="orangered"),
                      legend=None))
    diagonal = base.transform_filter("datum.correct").mark_rect(
        fill="#dcedc8", stroke=CORRECT_COLOR, strokeWidth=2)
    text = base.mark_text(fontSize=13, fontWeight="bold").encode(
        text="text:N", color=alt.Color("ink:N", scale=None))
    return (alt.layer(grid, mistakes, diagonal, text)
            .resolve_scale(color="independent", fill="independent")
            .properties(width=430, height=370)
            .configure_axis(**FONT_SIZES).configure_view(stroke=None))


def per_digit_chart(accuracy: np.ndarray) -> alt.Chart:
    """Each digit's test accuracy as a dot with its value (the axis starts near the lowest)."""
    frame = pd.DataFrame({"digit": [str(d) for d in range(NUM_CLASSES)], "accuracy": accuracy,
                          "text": [f"{value:.1%}" for value in accuracy]})
    low = math.floor((float(accuracy.min()) - 0.01) * 100) / 100
    base = alt.Chart(frame).encode(
        y=alt.Y("digit:N", title="Digit", sort=None),
        x=alt.X("accuracy:Q", title=None, scale=alt.Scale(domain=[max(low, 0.0), 1.0]),
                axis=alt.Axis(format=".0%", tickCount=4)),
        tooltip=["digit", alt.Tooltip("accuracy:Q", format=".2%")],
    )
    dots = base.mark_circle(size=160, color=TRAIN_COLOR, opacity=1)
    labels = base.mark_text(align="right", dx=-12, fontSize=14).encode(text="text:N")
    return (dots + labels).properties(height=300).configure_axis(**FONT_SIZES)


def filter_gallery(true_digit: int, predicted_digit: int) -> None:
    """Show the gallery's mistakes of one kind (a "most common mistakes" button)."""
    st.session_state.eval_true = true_digit
    st.session_state.eval_pred = predicted_digit


def common_mistakes_ui(evaluation: Evaluation) -> None:
    """The most frequent mistakes, as buttons that filter the gallery."""
    pairs = compare.top_confusions(evaluation.confusion, 4)
    if not pairs:
        return
    st.markdown("**Most common mistakes** (click to see them):")
    row = st.container(horizontal=True, key="common_mistakes")
    for true, predicted, count in pairs:
        row.button(f"{true} read as {predicted}: {count}×", key=f"mistake_{true}_{predicted}",
                   on_click=filter_gallery, args=(true, predicted))


def gallery_ui(evaluation: Evaluation, data: MnistData) -> None:
    """Misclassified test digits, surest mistakes first, filtered by true/predicted digit."""
    with st.container(key="gallery"):
        st.markdown("#### Misclassified test digits", anchors=False)
        options: list[Any] = [ANY, *range(NUM_CLASSES)]
        left, right, info = st.columns([1, 1, 2.2], vertical_alignment="bottom")
        true_digit = left.selectbox("True digit", options, key="eval_true")
        predicted_digit = right.selectbox("Predicted digit", options, key="eval_pred")
        picked = compare.worst_mistakes(
            evaluation, data.y_test,
            None if true_digit == ANY else int(true_digit),
            None if predicted_digit == ANY else int(predicted_digit),
        )
        shown = picked[:GALLERY_SIZE]
        summary = f"**{len(picked):,}** mistakes"
        if len(shown) < len(picked):
            summary += f"; the {len(shown)} it was surest about"
        info.markdown(summary)
        if not len(shown):
            st.info("No mistakes of this kind: the model gets all of these right.")
            return
        st.image(
            [digit_pixels(data.x_test[i]) for i in shown],
            caption=[f"{data.y_test[i]} → {evaluation.predictions[i]} "
                     f"({evaluation.confidence[i]:.0%})" for i in shown],
            width=IMAGE_SIZE * SAMPLE_SCALE, output_format="PNG",
        )
        st.caption("Under each image: true digit → what the model said (how sure it was).")


def compare_defaults(refs: list[str], mine: set[str]) -> list[str]:
    """What Compare starts with: the quickstart and this session's latest saved runs."""
    picked = [QUICKSTART_MODEL] if QUICKSTART_MODEL in refs else []
    picked += [ref for ref in refs if ref in mine][:3]
    if len(picked) < 2 and DRAWING_MODEL in refs:
        picked.append(DRAWING_MODEL)
    return picked


def compare_ui(owner: str) -> None:
    """Several runs' training and test curves overlaid, and their settings side by side."""
    st.subheader("Compare runs", anchor=False)
    store = model_store()
    infos = [info for info in store.list_models() if info.metadata and info.metadata.history]
    refs = [info.ref for info in infos]
    if not refs:
        st.info("No saved runs with a training history yet: train some in the **Train** tab.")
        return
    mine = {job.ref for job in session_jobs(owner) if job.ref}
    labels = compare.run_labels(store, refs)
    if "compare_runs" not in st.session_state:
        st.session_state.compare_runs = compare_defaults(refs, mine)
    selected = st.multiselect(
        "Runs to compare (everyone's saved runs on this server)", refs, key="compare_runs",
        format_func=lambda ref: f"★ {labels[ref]}" if ref in mine else labels[ref],
        placeholder="Pick runs to compare",
    )
    if not selected:
        st.info("Pick one or more runs above.")
        return
    try:
        history = pd.DataFrame(compare.history_rows(store, selected))
        summary = compare.summarize(store, selected)
    except MnistStudioError as e:
        st.warning(f"Could not read a run's saved figures: {e}")
        return
    history["run"] = history["run"].map(labels)
    show_chart("history", history, width="content")
    with st.container(key="compare"):
        st.table(compare_table(summary, labels), hide_index=True)
    st.caption(
        "When training accuracy keeps climbing "
        "while test accuracy stalls (or test loss rises), the model is memorising its training "
        "images — **overfitting**; the *Gap* column shows it. Dropout narrows the gap. "
        "Training figures are measured with dropout switched on, so they can be below the test "
        "figures."
    )


def history_chart(history: pd.DataFrame) -> alt.Chart:
    """Accuracy and loss per epoch for several runs: colour = run, dashes = test set."""
    dashes = alt.Scale(domain=["training", "test"], range=[[1, 0], [7, 4]])
    charts = []
    for metric, title, axis_format in (("accuracy", "Accuracy (higher is better)", ".0%"),
                                       ("loss", "Loss (lower is better)", ".2f")):
        charts.append(
            alt.Chart(history[history["metric"] == metric]).mark_line(
                strokeWidth=3, point=alt.OverlayMarkDef(size=50, filled=True)).encode(
                x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1)),
                y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False),
                        axis=alt.Axis(format=axis_format)),
                color=alt.Color("run:N", title="Run", scale=alt.Scale(scheme="category10"),
                                legend=alt.Legend(orient="bottom", direction="vertical",
                                                  labelLimit=500, symbolType="stroke")),
                strokeDash=alt.StrokeDash("split:N", scale=dashes, legend=None),
                tooltip=["run", "split", "epoch", alt.Tooltip("value:Q", format=".4f")],
            ).properties(title=alt.Title(title, subtitle="solid: training set · dashed: test set",
                                         subtitleFontSize=14), width=315, height=260)
        )
    return (alt.hconcat(*charts).configure_axis(**FONT_SIZES)
            .configure_legend(labelFontSize=14, titleFontSize=14, symbolStrokeWidth=3)
            .configure_title(fontSize=17))


def shown(value: float | None) -> str:
    """A setting for a table: 0.001 -> '0.001', 32 -> '32', None -> '-'."""
    return "-" if value is None else f"{value:g}"


def compare_table(summary: list[compare.RunSummary], labels: dict[str, str]) -> pd.DataFrame:
    """The compared runs' settings and final figures, one row per run, as shown."""
    return pd.DataFrame([
        {"Run": labels.get(row.ref, row.ref), "Net": row.arch.upper(),
         "Epochs": shown(row.epochs), "Dropout": shown(row.dropout),
         "Batch": shown(row.batch_size), "Learning rate": shown(row.learning_rate),
         "Train acc.": percent(row.train_accuracy), "Test acc.": percent(row.test_accuracy),
         "Gap": percent(row.gap), "Test loss": "-" if row.test_loss is None
         else f"{row.test_loss:.3f}"}
        for row in summary
    ])


# --- Charts of Learn and Evaluate, built once per input ----------------------------------

CHARTS = {
    "logits": logits_chart,
    "probabilities": lesson_probability_chart,
    "confusion": confusion_chart,
    "per_digit": per_digit_chart,
    "history": history_chart,
}


@st.cache_data(max_entries=256, show_spinner=False)
def chart_spec(name: str, *args: Any) -> dict[str, Any]:
    """The Vega-Lite spec of one of CHARTS for these inputs, built once: building and checking
    an Altair chart takes tens of milliseconds, on every rerun of every session otherwise."""
    return CHARTS[name](*args).to_dict()


def show_chart(name: str, *args: Any, width: Any = "stretch") -> None:
    """Draw one of CHARTS (its spec cached)."""
    st.vega_lite_chart(spec=chart_spec(name, *args), width=width)


def keep_hidden_tab_settings() -> None:
    """Keep the values of the widgets in tabs this run does not build: Streamlit forgets a
    widget that a run does not draw, and 20 epochs would be back to 5 after a look at Draw."""
    for key in TAB_WIDGETS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


# Streamlit fades an element that waits for its rerun over 1 s (after 0.5 s): about 60
# repaints of the canvas and the answer at each slow stroke. With 40 sessions on one
# machine that doubled the browsers' CPU per stroke and fed on itself (bench/load.py).
# Dim at once instead, after the same 0.5 s; the canvas being drawn on never dims.
PAGE_CSS = """<style>
.stElementContainer[data-stale="true"] { transition: opacity 0s linear 0.5s !important; }
.st-key-canvas .stElementContainer[data-stale="true"] { opacity: 1 !important; }
</style>"""


def main() -> None:
    """Lay out the page: shared sidebar, then the Learn · Train · Draw · Evaluate tabs."""
    st.set_page_config(page_title="MNIST Studio", page_icon="✏️", layout="wide")
    keep_keras_state_between_runs()
    keep_hidden_tab_settings()
    st.html(PAGE_CSS)
    owner = session_owner()
    presets, first_run = session_presets()
    choice, presenter, status_slot = sidebar_ui(owner, presets)
    if first_run and presets.warnings:
        preset_warnings_ui(presets)
    # ?tab=... picks the tab shown first. Only the open tab's content is built and sent (a
    # tab switch reruns the script): a new session costs the server and, above all, the
    # browser far less (bench/load.py). Draw is always built, so a drawing survives a look
    # at another tab.
    learn, train, draw, evaluate = st.tabs(
        TABS, default=TABS[TAB_NAMES.index(presets.tab)] if presets.tab else None,
        key=TAB_KEY, on_change="rerun")
    learn_slot = evaluate_slot = None
    if learn.open:
        with learn:
            learn_slot = learn_tab()
    if evaluate.open:
        with evaluate:
            evaluate_slot = loading_slot()
    if train.open:
        with train:
            train_tab(owner, presets, presenter)
    with draw:
        draw_tab(choice, owner)
    tensorflow_warmup().start()  # normally the Draw tab has started it, after its canvas
    # Learn's steps and Evaluate need TensorFlow and the data: drawn after the canvas, so the
    # page is usable while they load.
    if learn_slot is not None:
        with learn_slot.container():
            learn_body(choice, owner)
    if evaluate_slot is not None:
        with evaluate_slot.container():
            evaluate_tab(choice, owner)
    with status_slot.container():  # last, so it is up to date once TensorFlow has loaded
        server_status_ui()


if __name__ == "__main__":
    main()
