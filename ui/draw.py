"""The Draw tab: draw a digit and see what the chosen model thinks it is, stroke by stroke."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mnist_core.constants import CANVAS_SIZE, IMAGE_SIZE, NUM_CLASSES, STROKE_WIDTH
from mnist_core.drawings import DrawingStore
from mnist_core.errors import DrawingError, DrawingSaveError
from mnist_core.preprocess import INK_THRESHOLD, canvas_ink, canvas_to_mnist
from ui.charts import probability_chart
from ui.format import plain
from ui.inside import inside_ui
from ui.parts import digit_pixels
from ui.session import Session, load_model

PREVIEW_SCALE = 6  # the 28x28 input is shown 6x enlarged (168 px), pixel for pixel
LOW_CONFIDENCE = 0.6  # below this, the app says it is not sure
TOO_SMALL = 0.15  # ink whose longest side is under this share of the canvas: a speck
PENDING = "label_pending"  # session_state: this run's (28x28 image, guess), for label_ui
MY_DRAWINGS_SHOWN = 24  # the latest of your labelled drawings shown, each with Delete
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


def prediction_ui(probabilities: np.ndarray | None, too_small: bool = False) -> None:
    """The predicted digit, large, and how sure the model is; a hint instead if nothing (or
    only a speck) is drawn. Sized by page.css for the width there is."""
    with st.container(key="prediction"):
        if too_small:
            st.markdown("### :material/zoom_in: That is very small", anchors=False)
            st.caption("Draw the digit big, filling the box.")
        elif probabilities is None:
            st.markdown("### :material/gesture: Draw a digit in the black box", anchors=False)
            st.caption("Use your mouse or finger. Draw big, one digit, like on a form.")
        else:
            best, second = top_two(probabilities)
            confidence = float(probabilities[best])
            sure = (f"Not sure — maybe {best} or {second} ({confidence:.0%})"
                    if confidence < LOW_CONFIDENCE else f"{confidence:.0%} sure")
            # Markdown headings, sized by page.css: HTML would be drawn a moment after the
            # model's view on the first stroke (the page loads its HTML renderer then).
            st.markdown(f"# {best}\n#### {sure}", anchors=False)


def guessing_ui(model_name: str | None, guessing: bool) -> None:
    """Which model guesses (outside the prediction: a blank canvas shows no figure there)."""
    if model_name:
        st.caption(f"{'Guessing' if guessing else 'Model'}: {model_name}")


def ink_extent(drawing: np.ndarray) -> int:
    """The longest side, in canvas pixels, of the ink's bounding box (0 if there is none)."""
    mask = canvas_ink(drawing) > INK_THRESHOLD
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return 0
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)


def is_too_small(drawing: np.ndarray | None) -> bool:
    """Whether the drawing is a speck: some ink, but far too little to be read as a digit."""
    if drawing is None:
        return False
    extent = ink_extent(drawing) * CANVAS_SIZE / max(drawing.shape[:2])  # in 280 px units
    return 0 < extent < TOO_SMALL * CANVAS_SIZE


def model_view_ui(image: np.ndarray) -> None:
    """The 28x28 image the model saw, enlarged pixel for pixel."""
    st.image(digit_pixels(image, PREVIEW_SCALE),
             caption=f"What the model sees ({IMAGE_SIZE}×{IMAGE_SIZE} pixels)",
             width=IMAGE_SIZE * PREVIEW_SCALE, output_format="PNG")  # PNG: crisp pixels


@st.fragment
def draw_area(session: Session, model_name: str | None = None, is_open: bool = True) -> None:
    """Canvas, prediction, probabilities and the model's view (reruns alone on each stroke),
    then, when asked for, the inside of the network for this drawing."""
    shown = draw_row(session, model_name, is_open)
    label_ui(session)
    look = st.toggle("Look inside the network", key="inside_open",
                     help="Which hidden units your drawing lights up, what they look for, "
                     "and which pixels made the answer. Redrawn with every stroke.")
    if look and shown is not None:
        inside_ui(*shown)
    elif look:
        st.caption("Draw a digit to see inside the network.")
    if st.toggle("My labelled drawings", key="my_drawings_open",
                 help="The drawings you labelled, kept on this server for the room: "
                 "delete any of yours here."):
        my_drawings_ui(session)


def draw_row(session: Session, model_name: str | None = None, is_open: bool = True
             ) -> tuple[object, np.ndarray] | None:
    """Canvas, answer, model view and probabilities; the model and 28x28 image, if any.

    Four boxes in a row that page.css lays out as a grid for the width there is: answer and
    model view beside the canvas, probabilities under them (desktop); answer and view beside
    the canvas (projector, tablet); a compact answer beside the canvas, the rest below (phone).
    """
    # The same boxes whether or not there is a drawing, so that each stroke updates the
    # answer in place instead of swapping one layout for another.
    with st.container(key="draw_area", horizontal=True, gap="large"):
        with st.container(key="draw_canvas", width=CANVAS_SIZE):
            drawing = canvas_ui()
        answer = st.container(key="draw_answer")
        view = st.container(key="draw_view", width="content")
        chart = st.container(key="draw_chart")
    image = canvas_to_mnist(drawing) if drawing is not None else None
    too_small = is_too_small(drawing)
    st.session_state.pop(PENDING, None)
    if image is None:
        with answer:
            prediction_ui(None, too_small)  # no need to wait for TensorFlow
            guessing_ui(model_name, guessing=False)
        if is_open:  # ready before the first stroke; shows problems. Only here: a push
            load_model(session)  # reran 36 Train tabs at once, each loading its new run
        return None
    model = load_model(session)
    if model is None:
        return None
    from mnist_core.evaluate import predict_proba  # TensorFlow is loaded: a model exists

    probabilities = predict_proba(model, image)[0]  # (10,)
    if not too_small:
        st.session_state[PENDING] = (image, int(probabilities.argmax()))
    with answer:
        prediction_ui(probabilities, too_small)
        guessing_ui(model_name, guessing=not too_small)
    with view.container(key="model_view"):
        model_view_ui(image)
    if not too_small:
        with chart:
            st.vega_lite_chart(*probability_chart(probabilities), width="stretch")
    return model, image


def save_label(owner: str, generation: int, label: int | None, image: np.ndarray | None,
               guess: int | None, strokes: object, pick_key: str | None = None) -> None:
    """Keep the drawing on screen with its label (a button's callback), then clear the canvas.

    The drawing, guess and strokes are the ones the tapped button was shown with (bound
    when it was drawn): a rerun cut short by the tap cannot change what gets saved. Each
    drawing (canvas generation) is saved once: under load the browser may send the tapped
    pills' value again before the cleared canvas arrives, which fires the callback again."""
    if st.session_state.get("labelled_generation") == generation:
        return
    if pick_key is not None:  # "It was a ..." pills: the tapped digit
        label = st.session_state.get(pick_key)
        if label is None:
            return
    try:
        info = DrawingStore().save(owner, image, label, guess=guess, strokes=strokes)
    except (DrawingError, DrawingSaveError) as e:
        st.session_state.label_note = ("error", f"Not saved: {e}")
        return
    st.session_state.labelled_generation = generation
    st.session_state.label_note = ("saved", f"Saved as a {info.label}, thank you: the room's "
                                   "drawings help show how models read real handwriting.")
    clear_canvas()


def label_ui(session: Session) -> None:
    """After a guess: "Right" or "It was a ..." in one tap saves the drawing for the room."""
    pending = st.session_state.get(PENDING)
    note = st.session_state.get("label_note")
    with st.container(key="draw_label", horizontal=True, vertical_alignment="bottom"):
        if pending is None:
            if note is not None:
                kind, text = note
                (st.error if kind == "error" else st.success)(
                    plain(text), icon=":material/error:" if kind == "error"
                    else ":material/check_circle:")
            return
        st.session_state.pop("label_note", None)
        image, guess = pending
        drawing = (image, guess, st.session_state.get("last_drawing"))
        generation = st.session_state.get("canvas_generation", 0)
        st.button(f"Right, it is a {guess}", key="label_right", icon=":material/check:",
                  on_click=save_label, args=(session.owner, generation, guess, *drawing),
                  help="Saves your drawing with its label for the room (anonymously).")
        pick_key = f"label_pick_{generation}"
        st.pills("No, it was a", [d for d in range(NUM_CLASSES) if d != guess], key=pick_key,
                 on_change=save_label,
                 args=(session.owner, generation, None, *drawing, pick_key))


def delete_drawing(owner: str, drawing_id: str) -> None:
    """Delete one of this session's labelled drawings (a Delete button's callback)."""
    try:
        DrawingStore().delete(owner, drawing_id)
    except (DrawingError, DrawingSaveError) as e:
        st.session_state.label_note = ("error", f"Not deleted: {e}")


def my_drawings_ui(session: Session) -> None:
    """This session's labelled drawings, newest first, each with a Delete button."""
    store = DrawingStore()
    try:
        mine = store.list(session.owner)[::-1]
        room = store.count()
    except DrawingError as e:
        st.warning(plain(e))
        return
    st.caption(f"You labelled {len(mine)}; the room {room} in all. They are anonymous: "
               "no name, only which session made them, so that you can delete yours.")
    with st.container(key="my_drawings", horizontal=True, gap="small"):
        for info in mine[:MY_DRAWINGS_SHOWN]:
            try:
                drawing = store.load(info.id)
            except DrawingError:
                continue
            with st.container(width="content"):
                st.image(digit_pixels(drawing.image / 255.0, 2), caption=f"{info.label}",
                         width=IMAGE_SIZE * 2, output_format="PNG")
                st.button("Delete", key=f"delete_{info.id}", icon=":material/delete:",
                          on_click=delete_drawing, args=(session.owner, info.id))


def room_drawings_count() -> int:
    """How many digits the room has labelled (0 if their folder cannot be read)."""
    try:
        return DrawingStore().count()
    except DrawingError:
        return 0


def room_drawings_option() -> bool:
    """The Train tab's "MNIST + the room's drawings (N)" checkbox, shown once there are any."""
    count = room_drawings_count()
    if not count:
        return False
    return st.checkbox(
        f"MNIST + the room's drawings ({count})", key="room_drawings", value=False,
        help="Adds the digits labelled on the Draw tab to the 60,000 training images, each "
        "seen 10 times per epoch; the Evaluate tab shows how models read them.")


def draw_tab(session: Session, is_open: bool = True) -> None:
    """The Draw tab: draw a digit and see what the chosen model thinks it is (built on every
    run, so a drawing survives a look at another tab; its model loads once it is open)."""
    # One line: on a projector (480 px tall at 150% zoom) the whole canvas fits below it.
    st.markdown("Draw one digit: the model guesses after every stroke.",
                help="It sees your drawing shrunk to 28×28 pixels and centred, like the images "
                "it learned from: the picture beside your drawing.")
    st.space("small")  # room for the canvas toolbar
    draw_area(session, session.label, is_open)  # the picker's name: no second look at the folder
