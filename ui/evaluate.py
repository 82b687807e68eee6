"""The Evaluate tab: the chosen model on the 10,000 test images, and runs compared."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

from mnist_core import compare
from mnist_core.constants import DRAWING_MODEL, IMAGE_SIZE, NUM_CLASSES, QUICKSTART_MODEL
from mnist_core.data import MnistData
from mnist_core.drawings import DrawingStore
from mnist_core.errors import MnistStudioError
from mnist_core.naming import network_name, plural
from ui.charts import show_chart
from ui.format import percent, plain, setting
from ui.parts import SAMPLE_SCALE, digit_pixels, figures_row_ui
from ui.resources import cached_evaluation, mnist_data, model_store
from ui.session import Session, load_model, model_identity

if TYPE_CHECKING:
    from mnist_core.scores import Evaluation

GALLERY_SIZE = 30  # misclassified digits shown at once
ANY = "any"  # the gallery filters' "no filter" option


def evaluate_tab(session: Session) -> None:
    """The Evaluate tab: the chosen model on the 10,000 test images, then runs compared
    (each part reruns alone when its widgets change)."""
    st.markdown(
        "How the sidebar's model does on the 10,000 test images it never trained on, where it "
        "goes wrong, and how runs with different settings compare."
    )
    evaluation_ui(session)
    st.divider()
    compare_ui(session)


@st.fragment
def evaluation_ui(session: Session) -> None:
    """The chosen model's test figures, confusion matrix and mistakes."""
    if session.choice is None:
        st.info("No model to evaluate yet: train one in the **Train** tab.")
        return
    model = load_model(session)
    identity = model_identity(session.choice)
    if model is None or identity is None:
        return
    try:
        data = mnist_data()
        with st.spinner("Testing the model on 10,000 images (once per model)..."):
            evaluation = cached_evaluation(identity, model)
    except MnistStudioError as e:
        st.error(f"Can't evaluate this model: {plain(e)}")
        return
    evaluation_metrics_ui(evaluation)
    room_drawings_ui(identity, model, evaluation.accuracy)
    # Side by side, or one above the other on a narrow screen (page.css: eval_charts).
    matrix, digits = st.container(key="eval_charts").columns([1.25, 1], gap="large")
    with matrix, st.container(key="confusion"):
        st.markdown("#### Confusion matrix", anchors=False)
        show_chart("confusion", evaluation.confusion)
        st.caption("Rows: the true digit. Columns: what the model said. The diagonal (green) "
                   "is right; every other number is a mistake, darker = more often.")
    with digits:
        st.markdown("#### Accuracy per digit", anchors=False)
        show_chart("per_digit", evaluation.per_class_accuracy)
        common_mistakes_ui(evaluation)
    gallery_ui(evaluation, data)


def evaluation_metrics_ui(evaluation: Evaluation) -> None:
    """Test accuracy, test loss and the number of mistakes."""
    total = len(evaluation.predictions)
    figures_row_ui("eval_accuracy", evaluation.accuracy, evaluation.loss,
                    ("Mistakes", f"{len(evaluation.misclassified):,} of {total:,}"))


@st.cache_data(max_entries=16, show_spinner=False)
def room_predictions(identity: str, ids: tuple[str, ...], _model: Any
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The model's answers on the room's drawings (named by `ids`): (labels, predictions)."""
    from mnist_core.evaluate import predict_proba

    images, labels = DrawingStore().arrays()  # (N, 28, 28) uint8, (N,) uint8
    if not len(labels):
        return labels, labels
    return labels, predict_proba(_model, images.astype(np.float32) / 255).argmax(axis=1)


def room_drawings_ui(identity: str, model: Any, mnist_accuracy: float) -> None:
    """How the model reads the room's own labelled drawings, beside its MNIST test accuracy:
    the gap between the data it learned from and the room's handwriting."""
    try:
        ids = tuple(info.id for info in DrawingStore().list())
    except MnistStudioError as e:
        st.caption(f"The room's drawings can't be read: {plain(e)}")
        return
    if not ids:
        st.caption("When people label their drawings on the **Draw** tab (\"Right\" or \"It "
                   "was a ...\"), this shows how the model reads the room's own handwriting.")
        return
    labels, predictions = room_predictions(identity, ids, model)
    if not len(labels):
        return
    room = float((labels == predictions).mean())
    with st.container(key="room_gap"):
        st.markdown("#### The room's drawings", anchors=False)
        row = st.container(key="figures_room", horizontal=True, gap="medium")
        row.metric("MNIST test accuracy", percent(mnist_accuracy))
        row.metric(f"The room's {plural(len(labels), 'drawing')}", percent(room),
                   delta=f"{(room - mnist_accuracy) * 100:+.1f} points",
                   help="Share of the digits labelled on the Draw tab that this model reads "
                   "right.")
        wrong = Counter((int(t), int(p)) for t, p in zip(labels, predictions, strict=True)
                        if t != p)
        pairs = wrong.most_common(3)
        st.caption("The gap: MNIST's scanned pen-on-paper digits are not the room's "
                   "finger and mouse drawings. Train with *MNIST + the room's drawings* to "
                   "close it." + ("" if not pairs else " Most often read wrong: " + ", ".join(
                       f"{t} as {p} ({count}×)" for (t, p), count in pairs) + "."))


def filter_gallery(true_digit: int, predicted_digit: int) -> None:
    """Show the gallery's mistakes of one kind (a "most common mistakes" button)."""
    st.session_state.eval_true = true_digit
    st.session_state.eval_pred = predicted_digit


def common_mistakes_ui(evaluation: Evaluation) -> None:
    """The most frequent mistakes, as buttons that filter the gallery."""
    pairs = compare.top_confusions(evaluation.confusion, 4)
    if not pairs:
        return
    st.markdown("**Most common mistakes** (click to see them):")
    row = st.container(horizontal=True, key="common_mistakes")
    for true, predicted, count in pairs:
        row.button(f"{true} read as {predicted}: {count}×", key=f"mistake_{true}_{predicted}",
                   on_click=filter_gallery, args=(true, predicted))


def gallery_ui(evaluation: Evaluation, data: MnistData) -> None:
    """Misclassified test digits, surest mistakes first, filtered by true/predicted digit."""
    with st.container(key="gallery"):
        st.markdown("#### Misclassified test digits", anchors=False)
        options: list[Any] = [ANY, *range(NUM_CLASSES)]
        left, right, info = st.columns([1, 1, 2.2], vertical_alignment="bottom")
        true_digit = left.selectbox("True digit", options, key="eval_true",
                                    persist_state="session")
        predicted_digit = right.selectbox("Predicted digit", options, key="eval_pred",
                                         persist_state="session")
        picked = compare.worst_mistakes(
            evaluation, data.y_test,
            None if true_digit == ANY else int(true_digit),
            None if predicted_digit == ANY else int(predicted_digit),
        )
        shown = picked[:GALLERY_SIZE]
        summary = f"**{len(picked):,}** mistakes"
        if len(shown) < len(picked):
            summary += f"; the {len(shown)} it was surest about"
        info.markdown(summary)
        if not len(shown):
            st.info("No mistakes of this kind: the model gets all of these right.")
            return
        st.image(
            [digit_pixels(data.x_test[i]) for i in shown],
            caption=[f"{data.y_test[i]} → {evaluation.predictions[i]} "
                     f"({evaluation.confidence[i]:.0%})" for i in shown],
            width=IMAGE_SIZE * SAMPLE_SCALE, output_format="PNG",
        )
        st.caption("Under each image: true digit → what the model said (how sure it was).")


def compare_defaults(refs: list[str], mine: set[str]) -> list[str]:
    """What Compare starts with: the quickstart and this session's latest saved runs."""
    picked = [QUICKSTART_MODEL] if QUICKSTART_MODEL in refs else []
    picked += [ref for ref in refs if ref in mine][:3]
    if len(picked) < 2 and DRAWING_MODEL in refs:
        picked.append(DRAWING_MODEL)
    return picked


@st.fragment
def compare_ui(session: Session) -> None:
    """Several runs' training and test curves overlaid, and their settings side by side."""
    st.subheader("Compare runs", anchor=False)
    store = model_store()
    infos = [info for info in store.list_models() if info.metadata and info.metadata.history]
    refs = [info.ref for info in infos]
    if not refs:
        st.info("No saved runs with a training history yet: train some in the **Train** tab.")
        return
    mine = {job.ref for job in session.jobs() if job.ref}
    labels = compare.run_labels(store, refs)
    if "compare_runs" not in st.session_state:
        st.session_state.compare_runs = compare_defaults(refs, mine)
    selected = st.multiselect(
        "Runs to compare (everyone's saved runs on this server)", refs, key="compare_runs",
        persist_state="session",
        format_func=lambda ref: f"★ {labels[ref]}" if ref in mine else labels[ref],
        placeholder="Pick runs to compare",
    )
    if not selected:
        st.info("Pick one or more runs above.")
        return
    try:
        history = pd.DataFrame(compare.history_rows(store, selected))
        summary = compare.summarize(store, selected)
    except MnistStudioError as e:
        st.warning(f"Could not read a run's saved figures: {plain(e)}")
        return
    history["run"] = history["run"].map(labels)
    with st.container(key="compare_charts"):  # page.css stacks them on a narrow screen
        for column, metric in zip(st.columns(2, gap="large"), ("accuracy", "loss"),
                                  strict=True):
            with column:
                show_chart("history", history, metric)
        st.caption("Solid lines: the training set. Dashed lines: the test set.")
    with st.container(key="compare"):
        st.table(compare_table(summary, labels), hide_index=True)
    st.caption(
        "When training accuracy keeps climbing "
        "while test accuracy stalls (or test loss rises), the model is memorising its training "
        "images — **overfitting**; the *Train − test* column shows it. Dropout narrows the gap. "
        "Training figures are measured with dropout switched on, so they can be below the test "
        "figures."
    )


def compare_table(summary: list[compare.RunSummary], labels: dict[str, str]) -> pd.DataFrame:
    """The compared runs' settings and final figures, one row per run, as shown."""
    return pd.DataFrame([
        # The figures first: on a phone the table scrolls sideways, the settings last.
        {"Run": labels.get(row.ref, row.ref),
         "Test acc.": percent(row.test_accuracy), "Train acc.": percent(row.train_accuracy),
         "Train − test": percent(row.gap), "Test loss": "-" if row.test_loss is None
         else f"{row.test_loss:.3f}",
         "Epochs": setting(row.epochs), "Dropout": setting(row.dropout),
         "Network": network_name(row.arch),
         "Batch": setting(row.batch_size), "Learning rate": setting(row.learning_rate)}
        for row in summary
    ])
