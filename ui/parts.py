"""Pieces of page that several tabs show: digit pictures, a loading note, a figures row."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from ui.format import percent

SAMPLE_SCALE = 3  # sample digits in Learn and Evaluate: 28x28 shown at 84x84 px


def digit_pixels(image: np.ndarray, scale: int = SAMPLE_SCALE) -> np.ndarray:
    """A 28x28 image in [0, 1] as uint8 pixels, enlarged pixel for pixel."""
    pixels = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def loading_slot() -> Any:
    """A placeholder saying what is loading, to be replaced by the content once it has."""
    slot = st.empty()
    slot.info("Loading TensorFlow and the MNIST images (the first time, about 10 seconds)...",
              icon=":material/hourglass_top:")
    return slot


def figures_row_ui(key: str, accuracy: float | None, loss: float | None,
                    third: tuple[str, str]) -> None:
    """Test accuracy (in a container with `key`), test loss, and one more figure, in a row
    that wraps onto a second line where they don't fit (page.css: `figures`)."""
    row = figures_row(f"figures_{key}")
    with row.container(key=key):
        st.metric("Test accuracy", percent(accuracy),
                  help="Share of the 10,000 test images (never used for training) it gets right.")
    row.metric("Test loss", "-" if loss is None else f"{loss:.3f}",
               help="Average −ln(probability of the true digit). "
                    "Lower is better; a blind guess scores ln 10 = 2.303.")
    row.metric(*third)


def figures_row(key: str) -> Any:
    """A row of st.metric figures, each as wide as its value needs at least: they share the
    width equally, and wrap onto more lines on a narrow screen instead of being cut off.
    `key` must start with "figures" (page.css styles these rows)."""
    return st.container(key=key, horizontal=True, gap="medium")
