"""The Train tab: settings, the Train button, and the live run panel."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import streamlit as st

from mnist_core.config import (
    BATCH_SIZE_CHOICES,
    DEFAULTS,
    DROPOUT_CHOICES,
    EPOCH_CHOICES,
    LEARNING_RATE_CHOICES,
    OVERFIT_PRESET,
    TRAIN_IMAGE_CHOICES,
    TrainConfig,
    train_limit_for,
)
from mnist_core.errors import MnistStudioError
from mnist_core.settings import train_limit
from ui.charts import metric_chart, steady_domain, training_frame, y_domain
from ui.draw import room_drawings_count, room_drawings_option
from ui.format import format_seconds, percent, plain, plural
from ui.parts import figures_row_ui
from ui.presenter import room, sync_hold
from ui.presets import TAB_KEY, Presets, current_values, tab_label, take_up_push
from ui.resources import model_store, tensorflow_ready, trainer, wait_for_tensorflow
from ui.session import WATCHED, ModelChoice, Session
from ui.watch import watch_ui

if TYPE_CHECKING:
    from mnist_core.jobs import JobSnapshot

POLL_SECONDS = 0.5  # how often the run panel refreshes while a run is going
# In a busy room, once a second: 40 pages polling twice a second took ~0.3 of the server's
# 2 cores from training (7 ms a poll; bench/protocol_client.py).
BUSY_POLL_SECONDS, BUSY_ROOM_RUNS = 1.0, 8
# A poll that expects its run to end before the next poll waits for the end (up to this
# share of the interval), so the result shows when the run ends, not up to a poll later.
END_WAIT_SHARE = 0.8
TRAIN_CLICKED = "train_clicked"  # session_state: Train was pressed while TensorFlow loaded
TRAIN_PROBLEM = "train_problem"  # session_state: why the pressed Train queued no run
TRAIN_TAKEN = "train_taken"  # session_state: a click was taken up in a page run not yet done
CHART_DOMAINS = "chart_domains"  # session_state: the live charts' y ranges (ui.charts)
# The settings keep their values while another tab is open; presets.keep_link_current
# writes them into the address bar.
KEPT = {"persist_state": "session"}


def train_tab(session: Session, presets: Presets, presenter: bool = False) -> None:
    """The Train tab: settings, the Train button and the live run panel."""
    st.markdown(
        "Train the quickstart network on handwritten digits and watch it learn. "
        "You can keep drawing in the **Draw** tab meanwhile."
    )
    if room().state.held:
        st.info("The presenter has paused new training for the room: a run you start waits "
                "in the queue until it resumes.", icon=":material/pause_circle:")
    # Train's run is queued by its on_click, before this run of the page: it draws Train
    # disabled and the panel polling, with no second run of the whole page (a room presses
    # Train at once: every page's run is work for the server and drawing for a browser).
    if st.session_state.pop(TRAIN_CLICKED, False) and wait_for_tensorflow():
        st.session_state[TRAIN_PROBLEM] = start_training(clicked_settings(presets),
                                                         session.owner)
    problem = st.session_state.pop(TRAIN_PROBLEM, None)
    if problem is not None:
        kind, message = problem
        (st.error if kind == "error" else st.warning)(message)
    jobs = session.jobs()
    busy = bool(jobs) and not jobs[-1].status.done
    train_settings_ui(busy, presets, presenter, session.owner)
    panel_for(busy, trainer().active_count()[0] if busy else 0)(session)


def panel_for(busy: bool, running: int) -> Callable[[Session], None]:
    """The run panel to draw: still, live, or live at a busy room's pace."""
    if not busy:
        return run_panel
    return busy_room_run_panel if running > BUSY_ROOM_RUNS else live_run_panel


def note_train_click(owner: str) -> None:
    """Train's on_click: queue the run at once (a room's runs then start together), with
    the presenter's push taken up first; while TensorFlow loads, the Train tab does it."""
    # A newer request that cuts this page's run short gets the click replayed: with the run
    # already ended (500 images train in 0.1 s), that queued a second one (bench/load.py).
    if st.session_state.get(TRAIN_TAKEN):
        return
    st.session_state[TRAIN_TAKEN] = True
    if not tensorflow_ready():
        st.session_state[TRAIN_CLICKED] = True  # train_tab waits for it, with a spinner
        return
    take_up_push(room().state)  # as session_presets does, before the settings are read
    st.session_state[TRAIN_PROBLEM] = start_training(
        clicked_settings(st.session_state.presets), owner)


def page_run_done() -> None:
    """The page's whole run has ended: a click of Train from now on is a new one."""
    st.session_state.pop(TRAIN_TAKEN, None)


def clicked_settings(presets: Presets) -> dict[str, float | bool]:
    """The settings as the page that pressed Train showed them (its widgets' state), the
    presenter's pushed values already taken up (ui.presets.session_presets)."""
    settings: dict[str, float | bool] = dict(current_values(presets))
    settings["room_drawings"] = bool(st.session_state.get("room_drawings")) and \
        room_drawings_count() > 0  # its box is gone once no labelled drawing is left
    return settings


def use_overfit_preset() -> None:
    """Few images, no dropout, many epochs: the model memorises its training set."""
    for key, value in OVERFIT_PRESET.items():
        st.session_state[key] = value


def train_settings_ui(busy: bool, presets: Presets, presenter: bool = False,
                      owner: str = "") -> None:
    """Epochs and dropout sliders, the training images, the Train button, batch size and
    learning rate under Advanced (hidden in presenter mode); their values are read from
    their state when Train is clicked (clicked_settings)."""
    left, right, go = st.columns([2, 2, 1], gap="large", vertical_alignment="bottom")
    left.slider("Epochs", EPOCH_CHOICES[0], EPOCH_CHOICES[-1], value=DEFAULTS.epochs,
                key="epochs", help="One epoch = one pass over all the training images.", **KEPT)
    right.slider("Dropout", DROPOUT_CHOICES[0], DROPOUT_CHOICES[-1], value=DEFAULTS.dropout,
                 step=DROPOUT_CHOICES[1], key="dropout",
                 help="Share of neurons switched off at random while training: fights "
                 "overfitting.", **KEPT)
    go.button(
        "Train", key="train", type="primary", icon=":material/play_arrow:", disabled=busy,
        width="stretch", on_click=note_train_click, args=(owner,),
        help="Wait for your current run to end (or stop it) first." if busy else None,
    )
    # The preset beside the images where there is room, under them where not.
    with st.container(horizontal=True, vertical_alignment="bottom", key="train_images_row"):
        st.segmented_control(
            "Training images", TRAIN_IMAGE_CHOICES, key="train_images", required=True,
            format_func=lambda count: f"{count:,}",
            help="Learn from only the first N of the 60,000 images. A few hundred can be "
            "memorised: training accuracy climbs far above test accuracy (overfitting), and "
            "dropout narrows that gap.", **KEPT)
        st.button("Overfit", key="overfit_preset", icon=":material/psychology_alt:",
                  on_click=use_overfit_preset,
                  help="Sets 500 images, no dropout, 20 epochs: the training set is "
                  "memorised. Then try dropout 0.5.")
    room_drawings_option()  # shown once the room labelled some
    if presenter:  # beginners see only what the tutorial uses
        return
    with st.expander("Advanced"):
        left, right = st.columns(2, gap="large")
        left.select_slider(
            "Batch size", BATCH_SIZE_CHOICES, value=DEFAULTS.batch_size, key="batch_size",
            help="Images looked at before each weight update.", **KEPT)
        right.select_slider(
            "Learning rate", LEARNING_RATE_CHOICES, value=DEFAULTS.learning_rate,
            key="learning_rate", format_func=lambda rate: f"{rate:g}",
            help="How big each weight update is (Adam optimizer).", **KEPT)


def start_training(settings: dict[str, float | bool], owner: str) -> tuple[str, str] | None:
    """Queue a run with these settings on the server-wide trainer (TensorFlow loaded);
    None if it was queued, else ("error" or "warning", why not)."""
    settings = dict(settings)
    limits = [limit for limit in (train_limit_for(settings.pop("train_images")),
                                  train_limit()) if limit]
    try:
        config = TrainConfig(**settings, train_limit=min(limits) if limits else None)
        model_store().check_space()  # told now, not after the run has trained
    except MnistStudioError as e:  # StoreFullError: the runs folder is full
        return "error", f"Can't train: {plain(e)}"
    sync_hold()
    try:
        st.session_state[WATCHED] = trainer().submit(config, owner)
    except MnistStudioError as e:  # BusyError: this participant's run is still going
        return "warning", plain(e)
    return None


@st.fragment(run_every=POLL_SECONDS)
def live_run_panel(session: Session) -> None:
    """The run panel, refreshed on its own while a run is queued or training."""
    run_panel_body(session, POLL_SECONDS)


@st.fragment(run_every=BUSY_POLL_SECONDS)
def busy_room_run_panel(session: Session) -> None:
    """The live run panel while more than BUSY_ROOM_RUNS runs train: once a second."""
    run_panel_body(session, BUSY_POLL_SECONDS)


@st.fragment
def run_panel(session: Session) -> None:
    """The run panel of a session whose runs have all ended."""
    run_panel_body(session)


def end_wait(job: JobSnapshot, poll_seconds: float) -> float:
    """Seconds for a poll to wait for its run's end: 0 unless the run trains and is expected
    to end before the next poll."""
    latest = job.latest
    if (job.status.done or job.paused or job.slow_motion or latest is None or latest.paused
            or latest.seconds_left is None or latest.seconds_left >= poll_seconds):
        return 0.0
    return END_WAIT_SHARE * poll_seconds


def run_panel_body(session: Session, poll_seconds: float = 0.0) -> None:
    """The latest run of this session: live while it runs, its results once it ends (a
    poll of `poll_seconds` waits for an end expected before the next one)."""
    jobs = session.jobs()
    if not jobs:
        st.info("No run yet. Choose epochs and dropout, then press **Train**.")
        return
    job = jobs[-1]
    wait = end_wait(job, poll_seconds)  # 0 for a panel that does not poll
    if wait:  # the script thread sleeps on the trainer's condition: no CPU meanwhile
        job = trainer().wait(job.job_id, timeout=wait)
    just_ended = job.status.done and st.session_state.get("polling_job") == job.job_id
    if not job.status.done:
        st.session_state.polling_job = job.job_id
    elif just_ended:
        del st.session_state["polling_job"]
    run_view_ui(job)
    if just_ended:
        # The result is on screen already; one full rerun then lists the new model in the
        # sidebar (a room's runs end together: their results should not wait for it).
        st.rerun()


def run_view_ui(job: JobSnapshot) -> None:
    """A run as it stands: queued, its live progress, or its result; its charts."""
    from mnist_core.jobs import JobStatus  # TensorFlow is loaded: a job exists

    if job.status is JobStatus.QUEUED:
        queued_ui(job)
    elif job.status is JobStatus.RUNNING:
        progress_ui(job)
        watch_ui(job)
    else:
        result_ui(job)
    if job.batch_points:
        charts_ui(job)
    if job.config.train_limit:
        st.caption(f"Trained on the first {job.config.train_limit:,} of 60,000 images.")


def stop_button(job: JobSnapshot, label: str) -> None:
    """The Stop button of a queued or running job."""
    stopping = st.session_state.get("stopping_job") == job.job_id
    st.button(label, key="stop", icon=":material/stop:", on_click=stop_job, args=(job.job_id,),
              disabled=stopping, width="stretch")


def stop_job(job_id: str) -> None:
    """Ask the trainer to stop a run; the weights so far are kept."""
    st.session_state.stopping_job = job_id
    trainer().stop(job_id)


def queued_ui(job: JobSnapshot) -> None:
    """A run waiting for the trainer: how many are ahead, and about how long it waits."""
    manager = trainer()
    ahead = (job.queue_position or 1) - 1
    wait = estimated_wait(job, manager.jobs(), manager.max_jobs)
    when = "soon" if wait is None else f"in about {format_seconds(wait)}"
    place = "next in line" if ahead == 0 else f"{plural(ahead, 'run')} ahead of yours"
    st.info(
        f"### Queued: {place}\n"
        f"The server trains a few runs at a time. Yours starts by itself {when}."
    )
    stop_button(job, "Cancel")


def estimated_wait(job: JobSnapshot, jobs: list[JobSnapshot], slots: int) -> float | None:
    """Seconds until a queued job starts: the work left in the runs before it, shared over
    the trainer's slots, at the pace of the server's finished runs (None before any)."""
    from mnist_core.jobs import JobStatus  # TensorFlow is loaded: a job exists

    paces = sorted(other.seconds / other.epochs_completed for other in jobs
                   if other.seconds and other.epochs_completed)
    running = [other for other in jobs if other.status is JobStatus.RUNNING]
    if not paces:
        paces = sorted(other.latest.elapsed / max(other.latest.fraction_done, 1e-6)
                       / other.config.epochs for other in running
                       if other.latest and other.latest.fraction_done > 0.05)
    if not paces:
        return None
    per_epoch = paces[len(paces) // 2]
    work = sum(other.latest.seconds_left if other.latest and other.latest.seconds_left
               else per_epoch * other.config.epochs for other in running)
    work += sum(per_epoch * other.config.epochs for other in jobs
                if other.status is JobStatus.QUEUED
                and (other.queue_position or 0) < (job.queue_position or 0))
    return work / max(slots, 1)


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
    from mnist_core.jobs import JobStatus  # TensorFlow is loaded: a job exists

    epochs = job.config.epochs
    if job.status is JobStatus.FAILED:
        st.error(f"Training failed: {plain(job.error)}")
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
    gap_ui(job)
    if job.ref:
        st.markdown(f"Saved as **{job.ref.removeprefix('runs/')}** (★ in the sidebar model list).")
        use = ModelChoice(ref=job.ref)
    else:
        st.warning(
            f"Could not save this model: {plain(job.save_error)}\n\n"
            "You can still draw with it in this session: it is the **(not saved)** one in the "
            "sidebar model list."
        )
        use = ModelChoice(job_id=job.job_id)
    if st.button("Draw with this model", key="use_model", icon=":material/draw:",
                 help="Selects it in the sidebar and opens the Draw tab.",
                 on_click=draw_with_model, args=(use,)):
        st.rerun()  # this button is in a fragment: rerun the app so the sidebar updates


OVERFIT_POINTS = 2.0  # training accuracy this many points above test: call it overfitting


def gap_note(train_accuracy: float | None, test_accuracy: float | None,
             dropout: float) -> str | None:
    """What the last epoch's training accuracy against the test accuracy says, in words."""
    if train_accuracy is None or test_accuracy is None:
        return None
    points = 100 * (train_accuracy - test_accuracy)
    if points >= OVERFIT_POINTS:
        advice = ("dropout narrows the gap: try more." if dropout < 0.5
                  else "more training images would narrow it.")
        return (f"**Overfitting:** {percent(train_accuracy)} on its training images, "
                f"{percent(test_accuracy)} on new ones: {points:.1f} points apart. It has "
                f"memorised some of its images; {advice}")
    return (f"No overfitting: {percent(train_accuracy)} on its training images, "
            f"{percent(test_accuracy)} on new ones (training accuracy is measured with "
            "dropout on, so it can be the lower). To see overfitting, press **Overfit**.")


def gap_ui(job: JobSnapshot) -> None:
    """The run's training-test gap, said as it is (never a gap where there is none)."""
    last = job.epoch_points[-1] if job.epoch_points else None
    note = gap_note(last.accuracy if last else None, job.test_accuracy, job.config.dropout)
    if note:
        with st.container(key="gap_note"):
            st.markdown(note)


def draw_with_model(choice: ModelChoice) -> None:
    """Select this model (the picker takes it on the full rerun) and open the Draw tab."""
    st.session_state.pending_model = choice.option
    st.session_state[TAB_KEY] = tab_label("draw")  # before the tabs are built


def charts_ui(job: JobSnapshot) -> None:
    """Accuracy and loss so far, side by side (one above the other on narrow screens)."""
    steps = job.latest.steps_per_epoch if job.latest else None
    left, right = st.container(key="train_charts").columns(2, gap="large")
    shown = st.session_state.get(CHART_DOMAINS, {})  # this run's y ranges as last drawn
    shown = shown if shown.get("job") == job.job_id else {"job": job.job_id}
    for column, metric, title, as_percent in (
        (left, "accuracy", "Accuracy (higher is better)", True),
        (right, "loss", "Loss (lower is better)", False),
    ):
        frame = training_frame(job.batch_points, job.epoch_points, metric, steps)
        shown[metric] = steady_domain(y_domain(frame, as_percent), shown.get(metric), as_percent)
        column.vega_lite_chart(frame, metric_chart(frame, title, job.config.epochs,
                                                   as_percent, shown[metric]), width="stretch")
    st.session_state[CHART_DOMAINS] = shown
    st.caption(
        "Training: average over about the last quarter of an epoch of batches, updated a few "
        "times a second. Test set: 10,000 images the model never trains on, checked after "
        "every epoch. The scale zooms in on the later half of the run."
    )
