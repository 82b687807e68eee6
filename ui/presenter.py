"""The presenter console: push settings and a tab to every page, hold training, start a
fresh board, see the queue. Only a session that came with the presenter's secret has it."""

from __future__ import annotations

import sys

import pandas as pd
import streamlit as st

from mnist_core.config import (
    DEFAULTS,
    OVERFIT_PRESET,
    TRAIN_IMAGE_CHOICES,
)
from mnist_core.errors import MnistStudioError
from mnist_core.room import PRESENTER_PARAM, ROOM_TABS, Room, RoomState
from mnist_core.store import ModelStore
from ui.format import format_seconds, plain
from ui.presets import SEEN_PUSH, TAB_KEY, remember_changes, restore_changes, tab_label
from ui.resources import model_store, tensorflow_ready, trainer
from ui.share import participant_base

SECRET_KEY = "presenter_secret"  # session_state: the secret, once the presenter link was opened
CONSOLE_TAB = "Console"  # the presenter's extra tab (not reachable by ?tab=)
# What the console offers: a few values a room can read off a projector.
PUSH_EPOCHS = (1, 2, 3, 5, 10, 20)
PUSH_DROPOUTS = (0.0, 0.1, 0.2, 0.3, 0.5)
QUEUE_SECONDS = 2  # the queue view refreshes on the presenter's page only
KEEP_TAB = "Their own"  # a push that leaves every page on its tab
PRESET_GUARD = "console_preset_guard"  # session_state: the preset last put into the form
CONSOLE_PRESETS = {  # label: (epochs, dropout, training images)
    "Overfit: 500 images, no dropout, 20 epochs": (
        OVERFIT_PRESET["epochs"], OVERFIT_PRESET["dropout"], OVERFIT_PRESET["train_images"]),
    "Same, with dropout 0.5": (OVERFIT_PRESET["epochs"], 0.5, OVERFIT_PRESET["train_images"]),
    "The tutorial: 5 epochs, dropout 0.2": (DEFAULTS.epochs, DEFAULTS.dropout,
                                            TRAIN_IMAGE_CHOICES[-1]),
}


@st.cache_resource(show_spinner=False)
def room_for(models_root: str) -> Room:
    """The server's room (one per models folder); the presenter link goes to the terminal
    once per process, when the first page is opened."""
    room = Room(ModelStore(models_root))
    base, _ = participant_base(st.context.url or "http://localhost:8501/")
    print(f"\n  MNIST Studio presenter console (keep it to yourself):\n"
          f"  {room.link(base)}\n"
          f"  (again any time: python -m mnist_core.room)\n", file=sys.stderr, flush=True)
    return room


def room() -> Room:
    """This server's room."""
    return room_for(str(model_store().root))


def presenter_login() -> bool:
    """Take the secret out of a presenter link (and out of the address bar) into this
    session; True if this session is the presenter's."""
    raw = st.query_params.get(PRESENTER_PARAM)
    if raw is not None:
        del st.query_params[PRESENTER_PARAM]  # never left in an address to share or project
        if room().presenter_arrived(raw):
            st.session_state[SECRET_KEY] = raw
            st.session_state[TAB_KEY] = CONSOLE_TAB
            st.session_state[SEEN_PUSH] = room().state.version  # the presenter leads
        else:
            st.error("This presenter link is not valid on this server: the console stays "
                     "closed. Use the link printed in the server's terminal.",
                     icon=":material/lock:")
    return is_presenter()


def is_presenter() -> bool:
    """Whether this session holds the presenter's secret (checked in constant time)."""
    return room().is_presenter(st.session_state.get(SECRET_KEY))


def sync_hold() -> None:
    """Give the trainer the room's hold (after a restart, or a push from another server
    thread); only once TensorFlow is loaded (the trainer needs it)."""
    held = room().state.held
    if tensorflow_ready() and trainer().held != held:
        trainer().hold(held)


def act(action: str, *args: object) -> None:
    """Run a room action with this session's secret; a refusal is shown, never raised."""
    try:
        getattr(room(), action)(st.session_state.get(SECRET_KEY), *args)
    except MnistStudioError as e:
        st.session_state.console_error = str(e)
        return
    st.session_state[SEEN_PUSH] = room().state.version  # the presenter does not follow
    sync_hold()


def console_tab() -> None:
    """The console: push, hold, fresh board, queue (nothing of it without the secret)."""
    if not is_presenter():
        st.error("The console needs the presenter link.", icon=":material/lock:")
        return
    if "console_error" in st.session_state:
        st.error(plain(st.session_state.pop("console_error")))
    state = room().state
    push_ui(state)
    st.divider()
    left, right = st.columns(2, gap="large")
    with left:
        hold_ui(state)
    with right:
        fresh_board_ui(state)
    st.divider()
    queue_ui()


def use_preset(label: str) -> None:
    """Fill the push form with one of the console's presets."""
    preset = dict(zip(("console_epochs", "console_dropout", "console_images"),
                      CONSOLE_PRESETS[label], strict=True))
    remember_changes(PRESET_GUARD, {key: (st.session_state.get(key), value)
                                    for key, value in preset.items()
                                    if st.session_state.get(key) != value})
    st.session_state.update(preset)


def push_form() -> None:
    """Push what the form holds at the click (a Push pressed before the form showed a
    preset sends the preset, not the form's earlier values)."""
    restore_changes(PRESET_GUARD)
    settings = {key: st.session_state.get(f"console_{name}") for key, name in (
        ("epochs", "epochs"), ("dropout", "dropout"), ("train_images", "images"))}
    tab = st.session_state.get("console_tab")
    act("push", {key: value for key, value in settings.items() if value is not None},
        None if tab in (None, KEEP_TAB) else tab.lower())


def push_ui(state: RoomState) -> None:
    """The push form: settings and a tab sent to every page in the room."""
    st.subheader("Push to the room")
    with st.container(horizontal=True, key="console_presets"):
        for index, label in enumerate(CONSOLE_PRESETS):
            st.button(label, key=f"console_preset_{index}", on_click=use_preset, args=(label,))
    for key, value in (("console_epochs", DEFAULTS.epochs), ("console_dropout", DEFAULTS.dropout),
                       ("console_images", TRAIN_IMAGE_CHOICES[-1]),
                       ("console_tab", tab_label("train"))):
        st.session_state.setdefault(key, value)  # not default=: the presets set them too
    # push_form reads these as they are at the click.
    st.segmented_control("Epochs", PUSH_EPOCHS, key="console_epochs")
    st.segmented_control("Dropout", PUSH_DROPOUTS, key="console_dropout",
                                   format_func=lambda v: f"{v:g}")
    st.segmented_control("Training images", TRAIN_IMAGE_CHOICES, key="console_images",
                                  format_func=lambda v: f"{v:,}")
    st.segmented_control("Open the tab", (KEEP_TAB, *(tab_label(t) for t in ROOM_TABS)),
                               key="console_tab")
    st.button("Push to everyone", key="presenter_push", type="primary",
              icon=":material/campaign:", on_click=push_form)
    if state.version:
        pushed = ", ".join(f"{key.replace('_', ' ')} {value:,g}"
                           for key, value in state.settings.items())
        st.caption(f"Push {state.version} sent: {pushed or 'no settings'}"
                   f"{f', tab {state.tab}' if state.tab else ''}. Pages follow within a few "
                   "seconds; a participant who then moves a slider keeps the change.")


def hold_ui(state: RoomState) -> None:
    """Pause or resume new training for the room (running runs finish)."""
    st.subheader("Training")
    if state.held:
        st.warning("New training is paused: runs wait in the queue.", icon=":material/pause:")
        st.button("Resume training", key="console_hold", icon=":material/play_arrow:",
                  on_click=act, args=("hold", False))
    else:
        st.button("Pause new training", key="console_hold", icon=":material/pause:",
                  on_click=act, args=("hold", True),
                  help="Queued runs wait; runs already training finish.")


def fresh_board_ui(state: RoomState) -> None:
    """Start the board afresh: runs so far stay on disk, off the board."""
    st.subheader("Board")
    st.button("Start a fresh board", key="console_fresh", icon=":material/restart_alt:",
              on_click=act, args=("fresh_board",),
              help="Hides every run so far from the Room tab; nothing is deleted.")
    if state.board_since:
        st.caption(f"Fresh since {state.board_since[11:16]} UTC; earlier runs are on disk.")


@st.fragment(run_every=QUEUE_SECONDS)
def queue_ui() -> None:
    """The trainer's queue: what trains, what waits (refreshed on the presenter's page)."""
    state = room().state
    st.subheader("Queue")
    if not tensorflow_ready():
        st.caption("TensorFlow is loading: no run yet.")
        return
    from mnist_core.jobs import JobStatus  # TensorFlow is loaded

    jobs = trainer().jobs()
    active = [job for job in jobs if not job.status.done]
    running = sum(job.status is JobStatus.RUNNING for job in active)
    st.markdown(f"**{running} training, {len(active) - running} waiting**"
                f"{' (paused)' if state.held else ''}; {len(jobs) - len(active)} done.")
    shown = active + [job for job in reversed(jobs) if job.status.done][:10]
    if shown:
        st.dataframe(pd.DataFrame([{
            "Status": str(job.status), "Who": job.owner[:6] or "-",
            "Epochs": job.config.epochs, "Dropout": f"{job.config.dropout:g}",
            "Images": f"{job.config.train_limit or 60_000:,}",
            "Progress": f"{job.latest.fraction_done:.0%}" if job.latest else "-",
            "Time": format_seconds(job.seconds or (job.latest.elapsed if job.latest else None)),
        } for job in shown]), hide_index=True, key="console_queue")
