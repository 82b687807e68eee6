"""The Draw tab: draw a digit and see what the chosen model thinks it is, stroke by stroke."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mnist_core.constants import CANVAS_SIZE, IMAGE_SIZE, STROKE_WIDTH
from mnist_core.preprocess import canvas_to_mnist
from ui.charts import probability_chart
from ui.parts import digit_pixels
from ui.session import Session, load_model

PREVIEW_SCALE = 6  # the 28x28 input is shown 6x enlarged (168 px), pixel for pixel
LOW_CONFIDENCE = 0.6  # below this, the app says it is not sure
ASSETS = Path(__file__).resolve().parent / "assets"
canvas_shortcuts = st.components.v2.component(
    "mnist_studio.canvas_shortcuts", js=(ASSETS / "canvas_shortcuts.js").read_text())


def clear_canvas() -> None:
    """Empty the canvas in place: a new (empty) initial drawing, the same widget."""
    # A new widget key would mount a new canvas while the old one is still on screen: under
    # load, a stroke drawn meanwhile landed on the old one and was lost.
    st.session_state.canvas_generation = st.session_state.get("canvas_generation", 0) + 1
    # Until the canvas has loaded the empty drawing, it still reports the old one.
    st.session_state.cleared_drawing = st.session_state.get("last_drawing")


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
            # Each Clear is a different empty drawing, which the canvas loads (and sends).
            initial_drawing={"objects": [], "cleared": generation} if generation else None,
            return_image_data=True,
            key="drawing_canvas",
        )
        canvas_shortcuts(key="canvas_shortcuts")
    st.button("Clear", key="clear", icon=":material/ink_eraser:", on_click=clear_canvas)
    drawing = result.json_data
    st.session_state.last_drawing = drawing
    if drawing is not None and drawing == st.session_state.get("cleared_drawing"):
        return None  # the drawing from before Clear, still reported for a moment
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


def model_view_ui(image: np.ndarray) -> None:
    """The 28x28 image the model saw, enlarged pixel for pixel."""
    st.image(digit_pixels(image, PREVIEW_SCALE),
             caption=f"What the model sees ({IMAGE_SIZE}×{IMAGE_SIZE} pixels)",
             width=IMAGE_SIZE * PREVIEW_SCALE, output_format="PNG")  # PNG: crisp pixels


@st.fragment
def draw_area(session: Session) -> None:
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
            load_model(session)  # ready before the first stroke; shows problems
            return
        model = load_model(session)
        if model is None:
            return
        from mnist_core.evaluate import predict_proba  # TensorFlow is loaded: a model exists

        probabilities = predict_proba(model, image)[0]  # (10,)
        with answer:
            prediction_ui(probabilities)
        with view.container(key="model_view"):
            model_view_ui(image)
        st.vega_lite_chart(*probability_chart(probabilities), width="stretch")


def draw_tab(session: Session) -> None:
    """The Draw tab: draw a digit and see what the chosen model thinks it is."""
    st.markdown(
        "Draw one digit. The model guesses after every stroke; it sees your drawing shrunk "
        "to 28×28 pixels and centred, like the images it learned from."
    )
    st.space("small")  # room for the canvas toolbar
    draw_area(session)
