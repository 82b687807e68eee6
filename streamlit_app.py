"""MNIST Studio: TensorFlow's quickstart as a workshop app - learn, train, draw, evaluate,
and the room's board of everyone's runs.

Run with `streamlit run streamlit_app.py`. This is the frame: the sidebar, then the tabs,
each drawn by its module in ui/. TensorFlow loads in a thread once the first page is sent.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import board, draw, evaluate, learn, presenter, train
from ui.parts import loading_slot
from ui.presets import (
    TAB_KEY,
    TAB_NAMES,
    keep_link_current,
    preset_warnings_ui,
    session_presets,
    tab_label,
)
from ui.resources import keep_keras_state_between_runs, tensorflow_warmup
from ui.runtime_fixes import hold_fragment_reruns_for_finished_runs
from ui.session import session_owner
from ui.sidebar import sidebar_ui, whole_page_run

PAGE_CSS = (Path(__file__).resolve().parent / "ui" / "assets" / "page.css").read_text()


def main() -> None:
    """Lay out the page: shared sidebar, then the Learn · Train · Draw · Evaluate · Room tabs
    (and the Console for the presenter)."""
    st.set_page_config(page_title="MNIST Studio", page_icon="✏️", layout="wide")
    keep_keras_state_between_runs()
    hold_fragment_reruns_for_finished_runs()
    st.html(f"<style>{PAGE_CSS}</style>")
    owner = session_owner()
    is_presenter = presenter.presenter_login()  # before the presets: the presenter leads
    presets, first_run = session_presets(presenter.room().state)
    session, presenter_mode = sidebar_ui(owner, presets)
    if first_run and presets.warnings:
        preset_warnings_ui(presets)
    # Only the open tab is built (a switch reruns the script); Draw is always built, so a
    # drawing survives a look at another tab.
    labels = [tab_label(name) for name in TAB_NAMES]
    labels += [presenter.CONSOLE_TAB] if is_presenter else []
    if st.session_state.get(TAB_KEY) not in (None, *labels):
        del st.session_state[TAB_KEY]
    tabs = st.tabs(labels, key=TAB_KEY, on_change="rerun")
    learn_tab, train_tab, draw_tab, evaluate_tab, room_tab = tabs[:5]
    learn_slot = evaluate_slot = None
    if learn_tab.open:
        with learn_tab:
            learn_slot = learn.learn_tab()
    if evaluate_tab.open:
        with evaluate_tab:
            evaluate_slot = loading_slot()
    if train_tab.open:
        with train_tab:
            train.train_tab(session, presets, presenter_mode)
    if room_tab.open:
        with room_tab:
            board.room_tab(session)
    if is_presenter and tabs[5].open:
        with tabs[5]:
            presenter.console_tab()
    with draw_tab:
        draw.draw_tab(session, draw_tab.open)
    tensorflow_warmup().start()  # normally the Draw tab has started it, after its canvas
    # Learn's steps and Evaluate need TensorFlow and the data: drawn after the canvas, so the
    # page is usable while they load.
    if learn_slot is not None:
        with learn_slot.container():
            learn.learn_body(session)
    if evaluate_slot is not None:
        with evaluate_slot.container():
            evaluate.evaluate_tab(session)
    keep_link_current(presets)  # the settings and tab as this run leaves them
    train.page_run_done()  # last: a run cut short does not get here


if __name__ == "__main__":
    with whole_page_run():  # the room's timer in the sidebar leaves the whole run alone
        main()
