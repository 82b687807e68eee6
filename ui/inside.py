"""Inside the network, on the Draw tab: which hidden units your drawing lights up, what each
looks for, and which pixels made the answer (redrawn with every stroke)."""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
import streamlit as st

from mnist_core.errors import ConfigError
from mnist_core.inside import (
    DenseWeights,
    Inside,
    dense_weights,
    dropout_samples,
    first_convolution,
    look_inside,
)
from ui.format import percent
from ui.parts import digit_pixels

CELL = 14  # px per hidden unit in the activation grid
GRID_COLUMNS = 16  # 128 units as 8 rows of 16
MARKED = 5  # the units that pushed the winner most, outlined
UNIT_PICTURES = 8  # weight pictures shown, most helpful first
MAP_SCALE = 6  # 28x28 maps shown at 168 px
_weights: weakref.WeakKeyDictionary[Any, DenseWeights | None] = weakref.WeakKeyDictionary()
_weights_lock = threading.Lock()


def model_weights(model: Any) -> DenseWeights | None:
    """The quickstart weights of a model, read once per model; None for another network."""
    with _weights_lock:
        if model not in _weights:
            try:
                _weights[model] = dense_weights(model)
            except ConfigError:
                _weights[model] = None
        return _weights[model]


def diverging(values: np.ndarray, scale: int) -> np.ndarray:
    """A map around zero as RGB pixels: red for positive, blue for negative, white for 0."""
    limit = float(np.abs(values).max()) or 1.0
    strength = np.clip(values / limit, -1.0, 1.0)
    rgb = np.full((*values.shape, 3), 255.0)
    rgb[..., 1] -= 255 * np.abs(strength)  # both colours lose green
    rgb[..., 2] -= 255 * np.clip(strength, 0, 1)  # red: less blue
    rgb[..., 0] -= 255 * np.clip(-strength, 0, 1)  # blue: less red
    pixels = rgb.astype(np.uint8)
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def activation_grid(inside: Inside, keep: np.ndarray | None = None) -> np.ndarray:
    """The hidden units as a grid of cells, brighter = more active; the winner's top helpers
    outlined in orange; units a dropout mask switched off in dark red."""
    hidden = inside.hidden if keep is None else inside.hidden * keep
    rows = -(-len(hidden) // GRID_COLUMNS)
    level = np.zeros(rows * GRID_COLUMNS)
    level[: len(hidden)] = hidden / (hidden.max() or 1.0)
    cells = (40 + 215 * level.reshape(rows, GRID_COLUMNS)).astype(np.uint8)
    grid = np.repeat(np.repeat(cells, CELL, axis=0), CELL, axis=1)
    rgb = np.stack([grid] * 3, axis=-1)
    if keep is not None:
        off = np.zeros(rows * GRID_COLUMNS, bool)
        off[: len(keep)] = ~keep
        mask = np.repeat(np.repeat(off.reshape(rows, GRID_COLUMNS), CELL, 0), CELL, 1)
        rgb[mask] = (110, 0, 0)
    for unit in inside.units_for(inside.winner)[:MARKED]:
        top, left = (unit // GRID_COLUMNS) * CELL, (unit % GRID_COLUMNS) * CELL
        for edge in (np.s_[top, left:left + CELL], np.s_[top + CELL - 1, left:left + CELL],
                     np.s_[top:top + CELL, left], np.s_[top:top + CELL, left + CELL - 1]):
            rgb[edge] = (255, 140, 0)
    return rgb


def inside_ui(model: Any, image: np.ndarray) -> None:
    """The Inside view for one drawing (the quickstart's units, or a CNN's first filters)."""
    with st.container(key="inside"):
        st.markdown("#### :material/neurology: Inside the network", anchors=False)
        weights = model_weights(model)
        if weights is None:
            convolution_ui(model, image)
            return
        inside = look_inside(weights, image)
        units_ui(inside, weights)
        dropout_ui(weights, image, inside)


def units_ui(inside: Inside, weights: DenseWeights) -> None:
    """The hidden units that fire, why this digit, why not the runner-up, and unit weights."""
    winner, runner = inside.winner, inside.runner_up
    grid, why, why_not = st.columns(3, gap="medium")
    grid.image(activation_grid(inside), output_format="PNG",
               caption=f"The {weights.hidden_units} hidden units: brighter fires more. "
               f"Outlined: the {MARKED} that pushed {winner} most.")
    why.image(diverging(inside.pixel_maps[winner], MAP_SCALE), output_format="PNG",
              caption=f"Why {winner}: red pixels pushed towards {winner}, blue against.")
    why_not.image(diverging(inside.why_not(winner, runner), MAP_SCALE), output_format="PNG",
                  caption=f"Why {winner} and not {runner}: red favours {winner}, "
                  f"blue favours {runner}.")
    st.caption("Each map shows, pixel by pixel, how much your ink added to the digit's score; "
               "added up they give the network's score exactly.")
    order = inside.units_for(winner)
    helpers = [int(unit) for unit in order[:UNIT_PICTURES]]
    st.markdown(f"**What the units that said {winner} look for** (their 784 weights: red "
                "wants ink there, blue wants it empty)")
    row = st.columns(UNIT_PICTURES, gap="small")
    for column, unit in zip(row, helpers, strict=True):
        column.image(diverging(weights.unit_picture(unit), 2), output_format="PNG",
                     caption=f"unit {unit}: +{inside.unit_push[unit, winner]:.1f}",
                     width="stretch")
    unit = st.selectbox("Look at one unit", helpers, key="inside_unit",
                        format_func=lambda unit: f"unit {unit} "
                        f"(+{inside.unit_push[unit, winner]:.1f} to {winner})")
    mine, big = st.columns(2, gap="medium")
    mine.image(digit_pixels(inside.image, MAP_SCALE), output_format="PNG",
               caption="Your drawing, 28×28")
    big.image(diverging(weights.unit_picture(unit), MAP_SCALE), output_format="PNG",
              width=28 * MAP_SCALE,
              caption=f"Unit {unit}'s weights: it fires when your ink lands on red.")


def dropout_ui(weights: DenseWeights, image: np.ndarray, inside: Inside) -> None:
    """Training mode: units switched off at random, and how the answer wobbles."""
    if not st.toggle("Training mode: switch off units at random (dropout)", key="inside_dropout",
                     help="While it trains, the network drops units at random every step."):
        st.caption(f"Now in inference mode: all {weights.hidden_units} units work. While "
                   f"training, dropout {weights.dropout:g} switched a random "
                   f"{percent(weights.dropout)} of them off at every step.")
        return
    rate = weights.dropout or 0.2
    seed = st.session_state.get("inside_dropout_seed", 0)
    masks, probabilities = dropout_samples(weights, image, rate=rate, samples=8, seed=seed)
    winner = inside.winner
    answers = ", ".join(f"{int(p.argmax())} ({percent(float(p.max()))})" for p in probabilities)
    grid, words = st.columns([1, 2], gap="medium")
    grid.image(activation_grid(inside, keep=masks[0]), output_format="PNG",
               caption="One training step: dark red units are switched off.")
    words.markdown(f"With {percent(rate)} of the units off (8 random draws) the network says: "
                   f"**{answers}**. With all units on: **{winner}** "
                   f"({percent(float(inside.probabilities[winner]))}). Dropout makes it learn "
                   "to answer even when some units are missing.")
    st.button("Drop other units", key="inside_reroll", icon=":material/casino:",
              on_click=lambda: st.session_state.update(inside_dropout_seed=seed + 1))


def convolution_ui(model: Any, image: np.ndarray) -> None:
    """A convolutional network's first filters and what each finds in the drawing."""
    try:
        view = first_convolution(model, image)
    except ConfigError as e:
        st.info(f"No inside view for this network: {e}.")
        return
    st.caption("A convolutional network slides small 3×3 filters over your drawing; each "
               "lights up where it finds its pattern (an edge, a corner).")
    count = min(8, len(view.filters))
    filters, maps = st.columns(count), st.columns(count)
    for index in range(count):
        filters[index].image(diverging(view.filters[index], 12), output_format="PNG",
                             caption=f"filter {index + 1}", width="stretch")
        level = view.feature_maps[index] / (view.feature_maps[index].max() or 1.0)
        maps[index].image(digit_pixels(level, 3),
                          output_format="PNG", width="stretch")
