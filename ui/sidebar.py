"""The sidebar every tab shares: the model picker, the trainer's status, the workshop link."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from mnist_core.naming import NETWORK_NOTES, network_name, percent, plural
from mnist_core.settings import room_seconds, status_seconds
from mnist_core.store import ModelInfo
from ui.board import BOARD_DRAWN, board_fingerprint
from ui.format import plain
from ui.presenter import room, sync_hold
from ui.presets import (
    SEEN_PUSH,
    TAB_KEY,
    TAB_NAMES,
    Presets,
    current_settings,
    keep_link_current,
    share_link,
    tab_label,
    take_up_push,
    undone_push,
)
from ui.resources import model_store, tensorflow_ready, trainer
from ui.session import WATCHED, ModelChoice, Session, default_model, model_options
from ui.share import participant_base, qr_dialog

DEFAULT_APP_URL = "http://localhost:8501/"  # for the share link when the browser's is unknown
ROOM_WATCHED = "room_watched"  # session_state: this page has the room's timer
LIVE_STATUS_SECONDS = 3  # while runs train: how often the status line (and a run's end) is checked
DRAWN_LOADING = "drawn_loading"  # session_state: the page's last whole run had no TensorFlow


def sidebar_ui(owner: str, presets: Presets) -> tuple[Session, bool]:
    """The shared sidebar; returns this session (with its chosen model) and whether
    presenter mode is on."""
    with st.sidebar:
        st.title("MNIST Studio")
        st.caption("TensorFlow's MNIST quickstart, hands-on: train it, then draw digits for it.")
        # Whether this page follows the room, fixed for this run (its status line's timer
        # compares it with the room's: a presenter's arrival reruns the page). Its timer sits
        # here, always at the same place: a fragment's rerun writes where it was last.
        st.session_state[ROOM_WATCHED] = room().live or board_open()
        if st.session_state[ROOM_WATCHED]:
            room_watch_ui(board_open())
        session = Session(owner, *model_picker_ui(Session(owner), presets.model))
        st.divider()
        st.session_state[DRAWN_LOADING] = not tensorflow_ready()
        busy = st.session_state[DRAWN_LOADING] or any(trainer().active_count())
        (live_status_ui if busy else idle_status_ui)(session)
        presenter = workshop_ui(presets, session.choice)
    return session, presenter


FULL_RUN = "full_run"  # session_state: True while the whole page runs (not a fragment)


@contextmanager
def whole_page_run() -> Iterator[None]:
    """Mark the page's whole run, so that the room's timer knows it is not alone."""
    st.session_state[FULL_RUN] = True
    try:
        yield
    finally:
        st.session_state[FULL_RUN] = False


def board_open() -> bool:
    """Whether this page shows the Room tab."""
    return st.session_state.get(TAB_KEY) == tab_label("room")


@st.fragment(run_every=room_seconds())
def room_watch_ui(board_open: bool) -> None:
    """Follow the room: the presenter's new push reruns the page (which takes it up); on
    the Room tab, so does a newly finished run. Cheap: a look at memory and one stat."""
    if st.session_state.get(FULL_RUN):
        return  # the whole page is running: it takes up the push, draws the board itself
    state = room().state
    if state.version != st.session_state.get(SEEN_PUSH, 0) or undone_push():
        # Only a page showing the settings (or sent to another tab) reruns whole: 40 pages
        # rerunning at once kept the server busy for seconds (bench/load.py). The others
        # take the settings into their (unbuilt) widgets' state and their address now.
        open_tab = st.session_state.get(TAB_KEY)
        if open_tab == tab_label("train") or (state.tab and tab_label(state.tab) != open_tab):
            st.rerun(scope="app")
        take_up_push(state)
        keep_link_current(st.session_state.presets)
    if board_open and board_fingerprint() != st.session_state.get(BOARD_DRAWN):
        st.rerun(scope="app")
    sync_hold()


def model_picker_ui(session: Session, preset_model: str | None = None
                    ) -> tuple[ModelChoice | None, str | None]:
    """The model picker (this session's runs, or everyone's) and its "everyone" checkbox;
    returns the choice and its label (without the ★), (None, None) if there is no model."""
    if "pending_model" in st.session_state:  # "Draw with this model" was clicked
        st.session_state.model = st.session_state.pop("pending_model")
    if "model" not in st.session_state and preset_model:  # first run: ?model=... from the link
        st.session_state.model = preset_model
    adopt_finished_run(session)
    current = st.session_state.get("model")
    options, labels, infos = model_options(
        session, everyone=st.session_state.get("all_runs", False),
        keep=(current,) if isinstance(current, str) else (),
    )
    if not options:
        st.error(f"No models found in {model_store().root}. Train one in the Train tab.")
        return None, None
    if current not in options:
        st.session_state.model = default_model(options)
    option = st.selectbox(
        "Model (for Draw, Evaluate and Learn)",
        options,
        key="model",
        on_change=note_pick,
        format_func=lambda option: labels.get(option, option),
        help="★ = trained in this session. Your finished runs appear here; tick "
        "**Show everyone's runs** to pick a run someone else trained on this server.",
    )
    st.checkbox("Show everyone's runs", key="all_runs",
                help="Runs of every participant on this server, newest first.")
    choice = ModelChoice.from_option(option)
    info = infos.get(option)
    if info is not None:
        st.caption(model_summary(info))
    elif choice.job_id is not None:
        st.caption("Trained in this session but not saved: it is gone when the server stops.")
    return choice, labels.get(option, option).removeprefix("★ ")


def note_pick() -> None:
    """Remember when the participant last picked a model themselves."""
    st.session_state.picked_at = time.time()


def adopt_finished_run(session: Session) -> None:
    """This session's run that just ended becomes its model (unless the participant picked
    another since starting it), announced on whatever tab is open."""
    jobs = session.jobs()
    job = jobs[-1] if jobs else None
    if job is not None and not job.status.done:
        st.session_state[WATCHED] = job.job_id
    if job is None or not job.status.done or job.job_id != st.session_state.get(WATCHED):
        return
    del st.session_state[WATCHED]
    if job.test_accuracy is None:  # failed or cancelled: the run panel says why
        return
    if job.ref is None and job.model is None:  # not saved and no longer kept
        return
    if st.session_state.get("picked_at", 0.0) > job.submitted:
        st.toast(f"Your run is done: {percent(job.test_accuracy)} on the test images. "
                 "Pick it in the sidebar to draw with it.", icon=":material/check_circle:")
        return
    choice = ModelChoice(ref=job.ref) if job.ref else ModelChoice(job_id=job.job_id)
    st.session_state.model = choice.option
    st.toast(f"Your run is done: {percent(job.test_accuracy)} on the test images. Draw, "
             "Evaluate and Learn now use it.", icon=":material/check_circle:")


def model_summary(info: ModelInfo) -> str:
    """One line about a model: architecture, epochs, dropout, test accuracy (as Markdown)."""
    if info.metadata is None:
        return f"No metadata: {plain(info.problem)}"
    config = info.metadata.config
    parts = [
        network_name(config.arch).capitalize(),
        plural(info.metadata.epochs_completed or config.epochs, "epoch"),
        f"dropout {config.dropout:g}",
        f"test accuracy {percent(info.metadata.test_accuracy)}",
    ]
    return " · ".join(parts) + (f"  \n{NETWORK_NOTES[config.arch]}" if config.arch != "mlp"
                                else "")


@st.fragment(run_every=LIVE_STATUS_SECONDS)
def live_status_ui(session: Session) -> None:
    """The status line while TensorFlow loads or the trainer is busy, refreshed every few
    seconds."""
    if status_needs_page_run(server_status_ui(session), st.session_state.get(DRAWN_LOADING)):
        st.rerun(scope="app")


def status_needs_page_run(status: bool | None, drawn_loading: bool | None) -> bool:
    """Whether the live status line reruns the whole page: once TensorFlow has loaded, if
    the page was drawn without it. A trainer gone idle changes only this line, which keeps
    its timer until the page's next run: 40 pages rerunning whole as the room's runs ended
    was a burst of work for the server, just as everyone looked at their results."""
    return status is not None and bool(drawn_loading)


@st.fragment(run_every=status_seconds())
def idle_status_ui(session: Session) -> None:
    """The status line of an idle trainer, looked at now and then (a timer's rerun is a
    message from every open page)."""
    if server_status_ui(session):
        st.rerun(scope="app")  # someone started training: switch to live_status_ui


def server_status_ui(session: Session) -> bool | None:
    """A line about the shared trainer: how many runs train or wait (True if any, None while
    TensorFlow loads); when this session's run ends, the whole page reruns to take it up."""
    if not tensorflow_ready():
        st.caption("TensorFlow is loading in the background...")
        return None
    jobs = session.jobs()
    if jobs and not jobs[-1].status.done:
        st.session_state[WATCHED] = jobs[-1].job_id
    elif jobs and st.session_state.get(WATCHED) == jobs[-1].job_id:
        st.rerun(scope="app")  # adopt_finished_run takes it up
    if room().live and not st.session_state.get(ROOM_WATCHED):
        st.rerun(scope="app")  # a presenter arrived: the page starts following the room
    running, queued = trainer().active_count()
    st.caption(f"Trainer: {running} training, {queued} waiting." if running or queued
               else "Trainer: idle, ready to train.")
    if trainer().backend_note:  # MNIST_TRAINING_BACKEND=ray, but the cluster is not there
        st.caption(plain(trainer().backend_note))
    return bool(running or queued)


def workshop_ui(presets: Presets, choice: ModelChoice | None) -> bool:
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
        base, problem = participant_base(st.context.url or DEFAULT_APP_URL)
        link = share_link(base, current_settings(presets), tab.lower() if tab else None,
                          presenter, choice)
        with st.container(key="share_link"):
            st.code(link, language=None, wrap_lines=True)
        if problem:
            st.warning(problem, icon=":material/wifi_off:")
        if st.button("Show as QR code", key="share_qr_button", icon=":material/qr_code_2:"):
            qr_dialog(link)
        st.caption("Copy it with the button in its corner. Everyone who opens it starts with "
                   "these settings and this model, in a session of their own.")
    return presenter
