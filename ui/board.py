"""The Room tab: every finished run on this server as a point, big enough for a projector."""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence

import altair as alt
import pandas as pd
import streamlit as st

from mnist_core.board import BoardEntry, Summary, board_entries, hidden_count, summarise
from mnist_core.naming import percent, plural
from mnist_core.settings import runs_per_participant
from mnist_core.store import ModelStore
from ui.charts import PADDING, TEST_COLOR, TRAIN_COLOR
from ui.presenter import room
from ui.resources import model_store
from ui.session import Session

BOARD_DRAWN = "board_drawn"  # session_state: the board fingerprint this page shows
AXES = {"Dropout": "dropout", "Training images": "train_images"}
BIG = {"labelFontSize": 18, "titleFontSize": 20}
JITTER = {"dropout": 0.012, "train_images": 0.06}  # runs with the same setting side by side
CURVE_POINTS = 6  # epochs quoted in a point's tooltip


def board_fingerprint() -> tuple[int, str | None]:
    """What the board depends on, read cheaply (one stat): the runs folder's modification
    time (a save renames files into it) and the last fresh start."""
    try:
        mtime = os.stat(model_store().runs_dir).st_mtime_ns
    except OSError:
        mtime = 0
    return mtime, room().state.board_since


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_board(models_root: str, fingerprint: tuple[int, str | None],
                 per_owner: int) -> list[BoardEntry]:
    """The board, read from disk once per change of the runs folder (for every page)."""
    return board_entries(ModelStore(models_root).list_models(), since=fingerprint[1],
                         per_owner=per_owner)


def room_tab(session: Session) -> None:
    """The Room tab: the summary in big type, the chart of every run, the picked run's curve."""
    fingerprint = board_fingerprint()
    st.session_state[BOARD_DRAWN] = fingerprint
    entries = cached_board(str(model_store().root), fingerprint, runs_per_participant())
    with st.container(key="room_board"):
        summary = summarise(entries)
        summary_ui(summary, session.owner)
        if not entries:
            st.info("No finished runs yet. Train one in the **Train** tab: it appears here "
                    "within seconds.", icon=":material/scatter_plot:")
            return
        # The chart first (a projector shows little more): its axis chosen under it.
        field = AXES.get(st.session_state.get("room_axis"), "dropout")
        picked = board_chart_ui(entries, session.owner, field)
        st.session_state.setdefault("room_axis", "Dropout")
        st.segmented_control("Across", tuple(AXES), key="room_axis", required=True)
        trend_ui(summary)
        curve_ui(picked or summary.best, session.owner)
        hidden = hidden_count(model_store().list_models(), session.owner, fingerprint[1],
                              runs_per_participant()) if own_count(entries, session.owner) \
            >= runs_per_participant() else 0
        if hidden:
            st.caption(f"Your {plural(hidden, 'oldest run')} are off the board: it shows "
                       f"each person's newest {runs_per_participant()}. They are still saved.")


def own_count(entries: Sequence[BoardEntry], owner: str) -> int:
    """How many of the board's runs are this session's."""
    return sum(entry.owner == owner for entry in entries)


def settings_text(entry: BoardEntry) -> str:
    """A run's settings in a few words: 'dropout 0.2 · 5 epochs · 60,000 images'."""
    return (f"dropout {entry.dropout:g} · {plural(entry.epochs, 'epoch')} · "
            f"{entry.train_images:,} images")


def summary_ui(summary: Summary, owner: str) -> None:
    """Runs, people and the best run, as three big figures."""
    columns = st.columns([1, 1, 3])
    columns[0].metric("Runs", f"{summary.runs}")
    columns[1].metric("People", f"{summary.people}")
    if summary.best is not None:
        whose = " (yours!)" if summary.best.owner == owner else ""
        columns[2].metric(f"Best run{whose}", percent(summary.best.test_accuracy),
                          settings_text(summary.best), delta_color="off",
                          delta_arrow="off", help="Test accuracy: 10,000 digits it never saw.")


def trend_ui(summary: Summary) -> None:
    """How accuracy moved with dropout, in one line."""
    trend = summary.trend
    if trend is None:
        return
    gap = ""
    if trend.gap_low is not None and trend.gap_high is not None:
        gap = (f", gap {100 * trend.gap_low:+.1f} → {100 * trend.gap_high:+.1f} points")
    st.markdown(f"#### Dropout {trend.low:g} → {trend.high:g}: test "
                f"{percent(trend.test_low)} → {percent(trend.test_high)}{gap}")


def jitter(ref: str) -> float:
    """A stable offset in [-1, 1) per run, so runs with the same setting do not hide."""
    return (zlib.crc32(ref.encode()) % 2000) / 1000 - 1.0


def curve_text(curve: Sequence[float]) -> str:
    """A per-epoch curve in a few numbers: '91% → 97% → 99%' (at most CURVE_POINTS)."""
    if not curve:
        return "-"
    step = max(1, -(-len(curve) // CURVE_POINTS))
    shown = list(curve[::step])
    if (len(curve) - 1) % step:
        shown.append(curve[-1])
    return " → ".join(f"{100 * value:.0f}%" for value in shown)


def board_frame(entries: Sequence[BoardEntry], owner: str, field: str) -> pd.DataFrame:
    """One row per run: where it goes on the chart, and what its tooltip says."""
    rows = []
    for entry in entries:
        value = getattr(entry, field)
        offset = jitter(entry.ref) * JITTER[field]
        rows.append({
            "ref": entry.ref, "setting": value,
            "x": value + offset if field == "dropout" else value * 10 ** offset,
            "test": entry.test_accuracy, "train": entry.train_accuracy,
            "epochs": entry.epochs, "who": "you" if entry.owner == owner else "someone",
            "mine": entry.owner == owner, "settings": settings_text(entry),
            "Test": percent(entry.test_accuracy), "Train": percent(entry.train_accuracy),
            "Training curve": curve_text(entry.train_curve),
            "Test curve": curve_text(entry.test_curve),
        })
    return pd.DataFrame(rows)


def board_chart(frame: pd.DataFrame, field: str) -> alt.LayerChart:
    """Test accuracy (dots) and training accuracy (diamonds) per run, joined by the gap;
    colour = epochs, your runs ringed; mean test accuracy per setting as a line."""
    low = float(min(frame["test"].min(), frame["train"].min(skipna=True)
                    if frame["train"].notna().any() else 1.0))
    domain = [max(0.0, low - 0.01), 1.0]
    if field == "dropout":
        x_scale = alt.Scale(domain=[-0.03, max(0.55, float(frame["x"].max()) + 0.03)])
        x_axis = alt.Axis(title="Dropout", format=".1f", tickCount=6)
    else:
        x_scale = alt.Scale(type="log", domain=[350, 90_000])
        x_axis = alt.Axis(title="Training images", values=[500, 1000, 10_000, 60_000],
                          format=",d")
    x = alt.X("x:Q", scale=x_scale, axis=x_axis)
    y_scale = alt.Scale(domain=domain)
    tooltip = [alt.Tooltip("who:N", title="Whose"), alt.Tooltip("settings:N", title="Settings"),
               "Test:N", "Train:N", "Training curve:N", "Test curve:N"]
    base = alt.Chart(frame).encode(x=x, tooltip=tooltip)
    gap = base.mark_rule(strokeWidth=3, color="#9aa5b1", opacity=0.8).encode(
        y=alt.Y("train:Q", scale=y_scale), y2="test:Q")
    trained = base.mark_point(shape="diamond", size=140, filled=True, color=TRAIN_COLOR,
                              opacity=0.9).encode(y=alt.Y("train:Q", scale=y_scale))
    pick = alt.selection_point(name="pick", fields=["ref"], on="click")
    tested = base.mark_circle(opacity=1).encode(
        y=alt.Y("test:Q", scale=y_scale, title="Accuracy",
                axis=alt.Axis(format=".0%", tickCount=6)),
        color=alt.Color("epochs:Q", title="Epochs",
                        scale=alt.Scale(scheme="viridis", domain=[1, 20], reverse=True),
                        legend=alt.Legend(orient="right", gradientLength=220)),
        size=alt.condition(alt.datum.mine, alt.value(520), alt.value(260)),
        stroke=alt.condition(alt.datum.mine, alt.value("#d62728"), alt.value("white")),
        strokeWidth=alt.condition(alt.datum.mine, alt.value(4), alt.value(1)),
    ).add_params(pick)
    trend = alt.Chart(frame).mark_line(strokeWidth=3, strokeDash=[6, 4], color=TEST_COLOR,
                                       opacity=0.7).encode(
        x=alt.X("setting:Q", scale=x_scale), y=alt.Y("mean(test):Q", scale=y_scale))
    return (alt.layer(trend, gap, trained, tested).properties(height=460, padding=PADDING)
            .configure_axis(**BIG).configure_legend(labelFontSize=16, titleFontSize=18))


def board_chart_ui(entries: Sequence[BoardEntry], owner: str, field: str) -> BoardEntry | None:
    """The chart; returns the run clicked on, if any."""
    frame = board_frame(entries, owner, field)
    event = st.altair_chart(board_chart(frame, field), key="room_chart", on_select="rerun",
                            selection_mode="pick", width="stretch")
    st.caption("● test accuracy (your runs ringed in red) · ◆ training accuracy · the line "
               "between them is the gap · dashed: the average. Click a run for its curve.")
    picks = (event or {}).get("selection", {}).get("pick") or []
    refs = {pick.get("ref") for pick in picks if isinstance(pick, dict)}
    return next((entry for entry in entries if entry.ref in refs), None)


def curve_ui(entry: BoardEntry | None, owner: str) -> None:
    """One run's training and test accuracy per epoch (the clicked run, else the best)."""
    if entry is None or not entry.test_curve:
        return
    rows = [{"epoch": epoch, "accuracy": value, "set": name}
            for name, curve in (("Training", entry.train_curve), ("Test", entry.test_curve))
            for epoch, value in enumerate(curve, start=1)]
    whose = "Your run" if entry.owner == owner else "A run"
    st.markdown(f"#### {whose}, epoch by epoch: {settings_text(entry)}")
    chart = (alt.Chart(pd.DataFrame(rows)).mark_line(strokeWidth=4, point=True).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("accuracy:Q", title=None, scale=alt.Scale(zero=False),
                axis=alt.Axis(format=".0%", tickCount=4)),
        color=alt.Color("set:N", title=None, scale=alt.Scale(
            domain=["Training", "Test"], range=[TRAIN_COLOR, TEST_COLOR]),
            legend=alt.Legend(orient="top-left", labelFontSize=16)),
        tooltip=["set", "epoch", alt.Tooltip("accuracy:Q", format=".1%")],
    ).properties(height=320, padding=PADDING).configure_axis(**BIG))
    st.altair_chart(chart, key="room_curve", width="stretch")
