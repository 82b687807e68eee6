"""Every chart of the app, as Vega-Lite specs: Altair where built once per input (cached),
plain specs where rebuilt on every stroke or poll."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from mnist_core import compare, lesson
from mnist_core.constants import NUM_CLASSES

if TYPE_CHECKING:
    from mnist_core.jobs import BatchPoint, EpochPoint

FONT_SIZES = {"labelFontSize": 15, "titleFontSize": 16}  # chart text, readable on a projector
BIG_FONT_SIZES = {"labelFontSize": 17, "titleFontSize": 17}  # the live charts, read from afar
# Room around every chart: Vega measures text before the page's font is used, so labels at
# the edges ("100%") came out a few pixels wider than it planned and were cut off.
PADDING = {"left": 14, "right": 12, "top": 6, "bottom": 4}
# Charts fill their column's width; their "height" is the plot area's (Streamlit's default
# "fit" squeezed title, legend and axes into it: 85 px of plot were left on a projector).
FIT_WIDTH = {"type": "fit-x", "contains": "padding"}
TRAINING_PLOT_HEIGHT = 250  # px of plot area (the title, legend and axes come on top)
TRAIN_COLOR, TEST_COLOR = "#1e88e5", "#e4572e"  # both clear on a white and a dark page
NEUTRAL_COLOR, CORRECT_COLOR = "#9aa5b1", "#2e7d32"
FEW_POINTS = 20  # draw dots on the training curve while it has fewer points than this


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
        .properties(title="Logits", height=180, padding=PADDING)
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
    return ((bars + guess).properties(title="Probabilities", height=180, padding=PADDING)
            .configure_axis(**FONT_SIZES).configure_title(fontSize=16))


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
    # Four-digit counts fit their cells on a phone too: a smaller font when the plot is narrow.
    text = base.mark_text(fontSize=alt.ExprRef("width < 380 ? 11 : 13"), fontWeight="bold").encode(
        text="text:N", color=alt.Color("ink:N", scale=None))
    return (alt.layer(grid, mistakes, diagonal, text)
            .resolve_scale(color="independent", fill="independent")
            .properties(height=330, padding=PADDING)  # as wide as its column
            .configure_axis(**FONT_SIZES).configure_view(stroke=None))


def per_digit_chart(accuracy: np.ndarray) -> alt.Chart:
    """Each digit's test accuracy as a dot, its value beside the digit on the axis (a label
    beside the dot ran into the axis for the worst digits); the axis starts near the lowest."""
    labels = [f"{digit}\u2003{value:.1%}" for digit, value in enumerate(accuracy)]  # em space
    frame = pd.DataFrame({"digit": labels, "accuracy": accuracy})
    low = math.floor((float(accuracy.min()) - 0.01) * 100) / 100
    dots = alt.Chart(frame).mark_circle(size=160, color=TRAIN_COLOR, opacity=1).encode(
        y=alt.Y("digit:N", title="Digit", sort=None),
        x=alt.X("accuracy:Q", title=None, scale=alt.Scale(domain=[max(low, 0.0), 1.0]),
                axis=alt.Axis(format=".0%", tickCount=4)),
        tooltip=[alt.Tooltip("digit:N", title="Digit"),
                 alt.Tooltip("accuracy:Q", format=".2%")],
    )
    return dots.properties(height=260, padding=PADDING).configure_axis(**FONT_SIZES)


HISTORY_METRICS = {"accuracy": ("Accuracy (higher is better)", ".0%"),
                   "loss": ("Loss (lower is better)", ".2f")}


def history_chart(history: pd.DataFrame, metric: str) -> alt.Chart:
    """One metric per epoch for several runs: colour = run, dashes = test set (the two
    metrics are two charts, side by side or one above the other as the screen allows)."""
    title, axis_format = HISTORY_METRICS[metric]
    dashes = alt.Scale(domain=["training", "test"], range=[[1, 0], [7, 4]])
    return (
        alt.Chart(history[history["metric"] == metric]).mark_line(
            strokeWidth=3, point=alt.OverlayMarkDef(size=50, filled=True)).encode(
            x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False),
                    axis=alt.Axis(format=axis_format)),
            color=alt.Color("run:N", title="Run", scale=alt.Scale(scheme="category10"),
                            legend=alt.Legend(orient="bottom", direction="vertical",
                                              labelLimit=290, symbolType="stroke")),
            # Solid: training set, dashed: test set, said in a caption under the charts (a
            # subtitle was black on the dark theme's black; a dash legend drew no lines).
            strokeDash=alt.StrokeDash("split:N", scale=dashes, legend=None),
            tooltip=["run", "split", "epoch", alt.Tooltip("value:Q", format=".4f")],
        ).properties(title=alt.Title(title, anchor="start"), height=200, padding=PADDING)
        .configure_axis(**FONT_SIZES)
        .configure_legend(labelFontSize=14, titleFontSize=14, symbolStrokeWidth=3)
        .configure_title(fontSize=17)
    )


SMOOTHING_EPOCHS = 0.25  # the training curve averages about the last quarter of an epoch
MIN_SPAN = {True: 0.01, False: 0.02}  # the y axis spans at least 1 point of accuracy, 0.02 loss
TRAINING, TEST = "Training", "Test set"


@dataclass(frozen=True)
class BatchWindow:
    """The batches between two progress reports: how many, and their mean loss and accuracy."""

    epoch_progress: float  # epochs done at the window's end
    batches: int
    loss: float
    accuracy: float


def batch_windows(points: Sequence[BatchPoint], steps_per_epoch: int) -> list[BatchWindow]:
    """Per-window batch means, recovered from Keras' running averages over the epoch so far.

    A report n steps into an epoch carries the mean of its first n batches; the batches
    between two reports (n1 < n2) thus average (avg2 * n2 - avg1 * n1) / (n2 - n1). The first
    report of an epoch starts from n1 = 0, so nothing carries over from the last epoch.
    """
    windows: list[BatchWindow] = []
    epoch, steps, loss, accuracy = -1, 0, 0.0, 0.0  # the last report used
    for point in points:
        total = round(point.epoch_progress * steps_per_epoch)  # steps since the run started
        if total < 1:
            continue
        this_epoch, into = divmod(total - 1, steps_per_epoch)
        into += 1  # steps into this epoch: 1..steps_per_epoch
        if this_epoch != epoch:
            epoch, steps, loss, accuracy = this_epoch, 0, 0.0, 0.0
        batches = into - steps
        if batches <= 0:
            continue  # the same step again (the epoch's end is reported twice)
        windows.append(BatchWindow(
            point.epoch_progress, batches,
            max(0.0, (point.loss * into - loss * steps) / batches),
            min(1.0, max(0.0, (point.accuracy * into - accuracy * steps) / batches)),
        ))
        steps, loss, accuracy = into, point.loss, point.accuracy
    return windows


def smoothed(windows: Sequence[BatchWindow], span: float, metric: str) -> list[float]:
    """An exponential moving average of a metric over batches (time constant `span`
    batches) at each window's end: across epoch boundaries, so the curve never jumps there.
    It starts at the first window's value (weights renormalised, no bias towards 0)."""
    decay = math.exp(-1.0 / max(span, 1.0))
    total = weight = 0.0
    values = []
    for window in windows:
        keep = decay ** window.batches
        total = keep * total + (1.0 - keep) * getattr(window, metric)
        weight = keep * weight + (1.0 - keep)
        values.append(total / weight)
    return values


def training_frame(batch_points: Sequence[BatchPoint], epoch_points: Sequence[EpochPoint],
                   metric: str, steps_per_epoch: int | None = None) -> pd.DataFrame:
    """Long-form chart data: the training curve (a moving average over the latest batches,
    if `steps_per_epoch` is known; else Keras' running average over each epoch) and the
    per-epoch test points."""
    if steps_per_epoch:
        windows = batch_windows(batch_points, steps_per_epoch)
        epochs = [window.epoch_progress for window in windows]
        values = smoothed(windows, SMOOTHING_EPOCHS * steps_per_epoch, metric)
    else:
        epochs = [point.epoch_progress for point in batch_points]
        values = [getattr(point, metric) for point in batch_points]
    tests = [(point.epoch, getattr(point, f"val_{metric}")) for point in epoch_points
             if getattr(point, f"val_{metric}") is not None]
    # Built by columns: from a list of rows it took ~0.3 ms, twice a poll of every page.
    return pd.DataFrame({
        "epoch": np.array(epochs + [epoch for epoch, _ in tests], float),
        "value": np.array(list(values) + [value for _, value in tests], float),
        "set": [TRAINING] * len(epochs) + [TEST] * len(tests),
    })


def y_domain(frame: pd.DataFrame, as_percent: bool) -> list[float] | None:
    """The y range that shows the later half of the run so far (the first batches, far
    worse, would flatten everything after them): its points' range, padded."""
    if frame.empty:
        return None
    # NumPy, not the frame: filtering it took the strings along (~0.2 ms, twice a poll).
    epochs, values = frame["epoch"].to_numpy(float), frame["value"].to_numpy(float)
    recent = values[epochs >= epochs.max() / 2]
    values = recent if len(recent) >= 2 else values
    low, high = float(values.min()), float(values.max())
    span = max(high - low, MIN_SPAN[as_percent])
    middle = (low + high) / 2
    low, high = middle - span * 0.65, middle + span * 0.65  # 15% of the span spare each side
    if as_percent and high > 1.0:
        low, high = low - (high - 1.0), 1.0
    if low < 0.0:
        low, high = 0.0, high - low
    return [low, high]


ZOOM_SLACK = 2.0  # a y range already shown is kept until it is this many times too tall
ZOOM_SPARE = 0.3  # a new y range gets this share of its height spare on each side


def steady_domain(wanted: list[float] | None, shown: list[float] | None,
                  as_percent: bool) -> list[float] | None:
    """The y range to draw: the one already shown while it holds the wanted range and is at
    most ZOOM_SLACK times as tall, else the wanted one with room to move (ZOOM_SPARE). An
    unchanged spec lets the browser only swap the chart's data: drawing both charts anew
    cost it ~0.1 s of CPU a poll."""
    if wanted is None:
        return None
    low, high = wanted
    if shown is not None and shown[0] <= low and high <= shown[1] and \
            shown[1] - shown[0] <= ZOOM_SLACK * (high - low):
        return shown
    spare = ZOOM_SPARE * (high - low)
    return [max(0.0, low - spare), min(1.0, high + spare) if as_percent else high + spare]


def metric_chart(frame: pd.DataFrame, title: str, epochs: int, as_percent: bool,
                 domain: list[float] | None = None) -> dict:
    """A line chart of one metric against epochs: training (solid blue) vs. test set (dashed
    orange, a dot per epoch), the y axis zoomed on the later epochs, or on `domain` (a
    Vega-Lite spec)."""
    # A plain spec, not Altair: rebuilt twice a second while a run trains, and Altair's
    # schema checks took ~50 ms of server CPU per chart.
    domain = domain or y_domain(frame, as_percent)
    span = (domain[1] - domain[0]) if domain else 1.0
    if as_percent:
        axis_format = ".1%" if span < 0.1 else ".0%"
    else:
        axis_format = ".3f" if span < 0.05 else ".2f"
    y_scale: dict[str, Any] = {"zero": False, "nice": False}
    if domain:
        y_scale["domain"] = domain
    sets = [TRAINING, TEST]
    encoding = {
        # A little room right of the last epoch: its test dot is not cut in half.
        "x": {"field": "epoch", "type": "quantitative", "title": "Epoch",
              "scale": {"domain": [0, epochs * 1.03], "nice": False},
              "axis": {"tickMinStep": 1, "format": "d"}},
        "y": {"field": "value", "type": "quantitative", "scale": y_scale,
              "axis": {"format": axis_format, "title": None, "tickCount": 5}},
        "color": {"field": "set", "type": "nominal", "title": None,
                  "scale": {"domain": sets, "range": [TRAIN_COLOR, TEST_COLOR]},
                  "legend": {"orient": "top", "labelFontSize": 17, "symbolSize": 400,
                             "symbolStrokeWidth": 4, "symbolType": "stroke",
                             "labelLimit": 300}},
        "strokeDash": {"field": "set", "type": "nominal", "title": None,
                       "scale": {"domain": sets, "range": [[1, 0], [9, 5]]}},
        "tooltip": [{"field": "epoch", "type": "quantitative", "format": ".2f"},
                    {"field": "value", "type": "quantitative", "format": ".4f"},
                    {"field": "set", "type": "nominal"}],
    }
    few = (frame["set"].to_numpy() == TRAINING).sum() < FEW_POINTS  # a line needs points
    training_points = {"size": 60, "filled": True} if few else False
    return {
        "layer": [
            {"mark": {"type": "line", "strokeWidth": 4, "clip": True, "point": training_points},
             "encoding": encoding, "transform": [{"filter": f"(datum.set === '{TRAINING}')"}]},
            {"mark": {"type": "line", "strokeWidth": 4, "clip": True,
                      "point": {"size": 150, "filled": True}},
             "encoding": encoding, "transform": [{"filter": f"(datum.set === '{TEST}')"}]},
        ],
        "title": title,
        "height": TRAINING_PLOT_HEIGHT,
        "autosize": FIT_WIDTH,
        "padding": PADDING,
        "config": {"axis": BIG_FONT_SIZES, "title": {"fontSize": 21, "anchor": "start"}},
    }


def probability_chart(probabilities: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """Bars of the ten probabilities, the winner highlighted: (data, Vega-Lite spec)."""
    # A plain spec (Altair's checks cost ~25 ms a stroke), the same on every stroke (the
    # winner is a column of the data), so the browser only swaps the chart's data.
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
              "scale": {"domain": [0, 1]}, "axis": {"format": ".0%", "values": [0, 0.5, 1]}},
        "color": {"field": "best", "type": "nominal", "legend": None,
                  "scale": {"domain": [True, False], "range": [TEST_COLOR, NEUTRAL_COLOR]}},
        "tooltip": [{"field": "digit", "type": "nominal"},
                    {"field": "probability", "type": "quantitative", "format": ".1%"}],
    },
    "title": {"text": "How likely each digit is", "anchor": "start"},
    "height": 140,  # px of plot area
    "autosize": FIT_WIDTH,
    "padding": PADDING,
    "config": {"axis": {"labelFontSize": 17, "titleFontSize": 16}, "title": {"fontSize": 18}},
}


CHARTS = {
    "logits": logits_chart,
    "probabilities": lesson_probability_chart,
    "confusion": confusion_chart,
    "per_digit": per_digit_chart,
    "history": history_chart,
}


@st.cache_data(max_entries=256, show_spinner=False)
def chart_spec(name: str, *args: Any) -> dict[str, Any]:
    """The Vega-Lite spec of one of CHARTS for these inputs, built once (building and
    checking an Altair chart takes tens of milliseconds)."""
    spec = CHARTS[name](*args).to_dict()
    spec["autosize"] = FIT_WIDTH  # its height is the plot's, its width the column's
    return spec


def show_chart(name: str, *args: Any, width: Any = "stretch") -> None:
    """Draw one of CHARTS (its spec cached)."""
    st.vega_lite_chart(spec=chart_spec(name, *args), width=width)
