"""Every chart of the app, as Vega-Lite specs: Altair where built once per input (cached),
plain specs where rebuilt on every stroke or poll."""

from __future__ import annotations

import math
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
TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#e4572e"
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
    """A line chart of one metric against epochs, training vs. test set (Vega-Lite spec)."""
    # A plain spec, not Altair: rebuilt twice a second while a run trains, and Altair's
    # schema checks took ~50 ms of server CPU per chart.
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
    return CHARTS[name](*args).to_dict()


def show_chart(name: str, *args: Any, width: Any = "stretch") -> None:
    """Draw one of CHARTS (its spec cached)."""
    st.vega_lite_chart(spec=chart_spec(name, *args), width=width)
