"""MNIST Studio: TensorFlow's quickstart as a workshop app - learn, train, draw, evaluate.

Run with `streamlit run streamlit_app.py`. This file only wires Streamlit widgets to
`mnist_core`; every TensorFlow call lives there. TensorFlow is imported in a background
thread started once the first page (and its drawing canvas) has been sent, so the page
shows up at once and a spinner appears only where TensorFlow is needed.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mnist_core.constants import DRAWING_MODEL, IMAGE_SIZE, QUICKSTART_MODEL
from mnist_core.data import MnistData, candidate_sources, load_mnist
from mnist_core.errors import MnistStudioError
from mnist_core.preprocess import canvas_to_mnist
from mnist_core.store import ModelInfo, ModelStore

if TYPE_CHECKING:  # these import TensorFlow: only ever imported lazily below
    from mnist_core.jobs import BatchPoint, EpochPoint, JobManager, JobSnapshot

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
    """A saved model, loaded once per (folder, ref, file modification time)."""
    return ModelStore(models_root).load(ref)


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


def plural(count: int, noun: str) -> str:
    """'1 epoch', '5 epochs'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def percent(value: float | None) -> str:
    """0.9771 -> '97.7%'; None -> '-'."""
    return "-" if value is None else f"{value:.1%}"


# --- Sidebar: the model used for drawing (and evaluating) ------------------------------


def model_choices(owner: str) -> tuple[list[str], dict[str, str], dict[str, ModelInfo]]:
    """Options for the model picker: shipped models, unsaved runs of this session, saved runs."""
    infos = {info.ref: info for info in model_store().list_models()}
    jobs = session_jobs(owner)
    mine = {job.ref for job in jobs if job.ref}
    labels = {ref: f"★ {model_label(info)}" if ref in mine else model_label(info)
              for ref, info in infos.items()}
    shipped = [ref for ref, info in infos.items() if info.shipped]
    runs = [ref for ref, info in infos.items() if not info.shipped]
    unsaved = []
    for job in reversed(jobs):
        if job.model is not None and job.ref is None:
            key = f"{MEMORY_PREFIX}{job.job_id}"
            unsaved.append(key)
            labels[key] = (f"★ {percent(job.test_accuracy)} · {job.config.arch.upper()} "
                           f"{plural(job.config.epochs, 'epoch')} (not saved)")
    return shipped + unsaved + runs, labels, infos


def model_label(info: ModelInfo) -> str:
    """Picker label: 'quickstart · 97.7%'; a run: '91.1% · MLP 4 epochs, dropout 0.2 · 15:22'."""
    metadata = info.metadata
    if metadata is None:
        return f"{info.ref.removeprefix('runs/')} (no metadata)"
    if info.shipped:
        return info.label
    config = metadata.config
    epochs = metadata.epochs_completed if metadata.stopped else config.get("epochs")
    label = f"{percent(metadata.test_accuracy)} · {str(config.get('arch', '?')).upper()} "
    label += f"{plural(epochs or 0, 'epoch')}, dropout {config.get('dropout', 0):g}"
    label += " (stopped)" if metadata.stopped else ""
    try:
        created = datetime.fromisoformat(metadata.created).astimezone()  # local time
    except (TypeError, ValueError):
        return label
    return f"{label} · {created:%H:%M}"


def default_model(options: list[str]) -> str | None:
    """The drawing model if it exists, else the quickstart, else the first one."""
    for ref in (DRAWING_MODEL, QUICKSTART_MODEL):
        if ref in options:
            return ref
    return options[0] if options else None


def model_picker_ui(owner: str) -> str | None:
    """The sidebar model picker; returns the chosen ref (or memory:job-N), None if none."""
    options, labels, infos = model_choices(owner)
    if not options:
        st.error(f"No models found in {model_store().root}. Train one in the Train tab.")
        return None
    if "pending_model" in st.session_state:  # "Draw with this model" was clicked
        st.session_state.model = st.session_state.pop("pending_model")
    if st.session_state.get("model") not in options:
        st.session_state.model = default_model(options)
    choice = st.selectbox(
        "Model used for drawing",
        options,
        key="model",
        format_func=lambda option: labels.get(option, option),
        help="★ = trained in this session. Your finished runs appear here.",
    )
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
        str(config.get("arch", "?")).upper(),
        f"{info.metadata.epochs_completed or config.get('epochs', '?')} epochs",
        f"dropout {config.get('dropout', '?')}",
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


def sidebar_ui(owner: str) -> tuple[str | None, Any]:
    """The shared sidebar; returns the chosen model and a slot for the trainer's status."""
    with st.sidebar:
        st.title("MNIST Studio")
        st.caption("TensorFlow's MNIST quickstart, hands-on: train it, then draw digits for it.")
        choice = model_picker_ui(owner)
        st.divider()
        return choice, st.empty()


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


# --- Learn (coming next) ---------------------------------------------------------------


def learn_tab() -> None:
    """The Learn tab: a walk through the quickstart (built next)."""
    st.info("Coming soon: a step-by-step tour of the TensorFlow quickstart.")


# --- Train -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    """What the user picked in the Train tab."""

    epochs: int
    dropout: float
    batch_size: int
    learning_rate: float


def train_settings_ui(busy: bool) -> tuple[TrainSettings, bool]:
    """Epochs and dropout sliders, the Train button, batch size and learning rate under
    Advanced; returns the settings and whether Train was clicked."""
    left, right, go = st.columns([2, 2, 1], gap="large", vertical_alignment="bottom")
    epochs = left.slider(
        "Epochs", *EPOCH_CHOICES, value=5, key="epochs",
        help="One epoch = one pass over all 60,000 training images.",
    )
    dropout = right.slider(
        "Dropout", 0.0, 0.8, value=0.2, step=0.05, key="dropout",
        help="Share of neurons switched off at random while training: fights overfitting.",
    )
    clicked = go.button(
        "Train", key="train", type="primary", icon=":material/play_arrow:", disabled=busy,
        width="stretch",
        help="Wait for your current run to end (or stop it) first." if busy else None,
    )
    with st.expander("Advanced"):
        left, right = st.columns(2, gap="large")
        batch_size = left.select_slider(
            "Batch size", BATCH_SIZES, value=32, key="batch_size",
            help="Images looked at before each weight update.",
        )
        learning_rate = right.select_slider(
            "Learning rate", LEARNING_RATES, value=0.001, key="learning_rate",
            format_func=lambda rate: f"{rate:g}",
            help="How big each weight update is (Adam optimizer).",
        )
    return TrainSettings(epochs, dropout, batch_size, learning_rate), clicked


def start_training(settings: TrainSettings, owner: str) -> bool:
    """Queue a run with these settings on the server-wide trainer; False if it can't."""
    if not wait_for_tensorflow():
        return False
    from mnist_core.training import TrainConfig, train_limit_from_env

    try:
        config = TrainConfig(
            epochs=settings.epochs,
            dropout=settings.dropout,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            train_limit=train_limit_from_env(),
        )
    except MnistStudioError as e:
        st.error(f"Can't train with these settings: {e}")
        return False
    job_manager(str(model_store().root)).submit(config, owner)
    return True


def train_tab(owner: str) -> None:
    """The Train tab: settings, the Train button and the live run panel."""
    st.markdown(
        "Train the quickstart network on 60,000 handwritten digits and watch it learn. "
        "You can keep drawing in the **Draw** tab meanwhile."
    )
    jobs = session_jobs(owner)
    busy = bool(jobs) and not jobs[-1].status.done
    settings, clicked = train_settings_ui(busy)
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
    columns = st.columns(3)
    with columns[0].container(key="test_accuracy"):
        st.metric("Test accuracy", percent(job.test_accuracy),
                  help="Share of the 10,000 test images (never used for training) it gets right.")
    columns[1].metric("Test loss", f"{job.test_loss:.3f}",
                      help="Lower is better. A blind guess scores 2.303.")
    columns[2].metric("Training time", f"{job.seconds:.0f} s")
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
                 help="Selects it in the sidebar; then open the Draw tab."):
        st.session_state.pending_model = use  # the picker takes it on the full rerun
        st.rerun()  # this button is in a fragment: rerun the app so the sidebar updates


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


def metric_chart(frame: pd.DataFrame, title: str, epochs: int, as_percent: bool) -> alt.Chart:
    """A line chart of one metric against epochs, training vs. test set."""
    colors = alt.Scale(domain=["Training", "Test set"], range=[TRAIN_COLOR, TEST_COLOR])
    y_axis = alt.Axis(format=".0%" if as_percent else ".2f", title=None)
    y_scale = alt.Scale(zero=not as_percent)
    base = alt.Chart(frame).encode(
        x=alt.X("epoch:Q", title="Epoch", scale=alt.Scale(domain=[0, epochs]),
                axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("value:Q", axis=y_axis, scale=y_scale),
        color=alt.Color("set:N", scale=colors, title=None,
                        legend=alt.Legend(orient="bottom", labelFontSize=15, symbolSize=200)),
        tooltip=[alt.Tooltip("epoch:Q", format=".2f"),
                 alt.Tooltip("value:Q", format=".4f"), "set:N"],
    )
    few = (frame["set"] == "Training").sum() < FEW_POINTS  # a line needs points to be seen
    training = base.transform_filter(alt.datum.set == "Training").mark_line(
        strokeWidth=3, point=alt.OverlayMarkDef(size=60, filled=True) if few else False
    )
    test = base.transform_filter(alt.datum.set == "Test set").mark_line(
        strokeWidth=3, point=alt.OverlayMarkDef(size=120, filled=True)
    )
    return (
        (training + test)
        .properties(title=title, height=280)
        .configure_axis(**FONT_SIZES)
        .configure_title(fontSize=20)
    )


def charts_ui(job: JobSnapshot) -> None:
    """Accuracy and loss so far, side by side."""
    left, right = st.columns(2, gap="large")
    for column, metric, title, as_percent in (
        (left, "accuracy", "Accuracy (higher is better)", True),
        (right, "loss", "Loss (lower is better)", False),
    ):
        frame = training_frame(job.batch_points, job.epoch_points, metric)
        column.altair_chart(metric_chart(frame, title, job.config.epochs, as_percent),
                            width="stretch")
    st.caption(
        "Training: running average over the current epoch, updated a few times a second. "
        "Test set: 10,000 images the model never trains on, checked after every epoch."
    )


# --- Draw ------------------------------------------------------------------------------


def clear_canvas() -> None:
    """Start a fresh canvas (a new widget key)."""
    st.session_state.canvas_generation = st.session_state.get("canvas_generation", 0) + 1


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
            return_image_data=True,
            key=f"canvas-{generation}",
        )
    st.button("Clear", key="clear", icon=":material/ink_eraser:", on_click=clear_canvas)
    return result.image_data


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


def probability_chart(probabilities: np.ndarray) -> alt.Chart:
    """Bars of the ten probabilities, the winner highlighted."""
    frame = pd.DataFrame({"digit": [str(d) for d in range(10)], "probability": probabilities})
    best = str(int(np.argmax(probabilities)))
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("digit:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("probability:Q", title=None, scale=alt.Scale(domain=[0, 1]),
                    axis=alt.Axis(format=".0%", tickCount=5)),
            color=alt.condition(alt.datum.digit == best, alt.value(TEST_COLOR),
                                alt.value("#9aa5b1")),
            tooltip=["digit", alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(title="How likely each digit is", height=200)
        .configure_axis(labelFontSize=18, titleFontSize=16)
        .configure_title(fontSize=18)
    )


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
        with view:
            model_view_ui(image)
        st.altair_chart(probability_chart(probabilities), width="stretch")


def draw_tab(choice: str | None, owner: str) -> None:
    """The Draw tab: draw a digit and see what the chosen model thinks it is."""
    st.markdown(
        "Draw one digit. The model guesses after every stroke; it sees your drawing shrunk "
        "to 28×28 pixels and centred, like the images it learned from."
    )
    st.space("small")  # room for the canvas toolbar
    st.fragment(draw_area)(choice, owner)


# --- Evaluate (coming next) ------------------------------------------------------------


def evaluate_tab(choice: str | None) -> None:
    """The Evaluate tab: test-set results of the chosen model (built next)."""
    st.info("Coming soon: where the chosen model goes wrong on the 10,000 test images.")


def main() -> None:
    """Lay out the page: shared sidebar, then the Learn · Train · Draw · Evaluate tabs."""
    st.set_page_config(page_title="MNIST Studio", page_icon="✏️", layout="wide")
    keep_keras_state_between_runs()
    owner = session_owner()
    choice, status_slot = sidebar_ui(owner)
    learn, train, draw, evaluate = st.tabs(TABS)
    with learn:
        learn_tab()
    with evaluate:
        evaluate_tab(choice)
    with train:
        train_tab(owner)
    with draw:
        draw_tab(choice, owner)
    tensorflow_warmup().start()  # normally the Draw tab has started it, after its canvas
    with status_slot.container():  # last, so it is up to date once TensorFlow has loaded
        server_status_ui()


if __name__ == "__main__":
    main()
