"""The Learn tab: the quickstart step by step, with the real numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from mnist_core import lesson
from mnist_core.config import DEFAULTS
from mnist_core.constants import NUM_CLASSES, QUICKSTART_MODEL
from mnist_core.data import MnistData
from mnist_core.errors import MnistStudioError
from ui.charts import show_chart
from ui.format import math_number, percent, percent_math
from ui.parts import digit_pixels, figures_row, loading_slot
from ui.resources import (
    mnist_data,
    mnist_overview,
    model_store,
    quickstart_layers,
    untrained_model,
    wait_for_tensorflow,
)
from ui.session import Session, lesson_choice, load_model

SAMPLES_PER_DIGIT = 2


DATA_CODE = """\
mnist = tf.keras.datasets.mnist
(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0"""


MODEL_CODE = """\
model = tf.keras.models.Sequential([
  tf.keras.layers.Flatten(input_shape=(28, 28)),
  tf.keras.layers.Dense(128, activation='relu'),
  tf.keras.layers.Dropout(0.2),
  tf.keras.layers.Dense(10)
])"""


PREDICT_CODE = """\
predictions = model(x_train[:1]).numpy()  # logits
tf.nn.softmax(predictions).numpy()  # probabilities
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
loss_fn(y_train[:1], predictions).numpy()  # loss"""


# Each comment on a line of its own: on a narrow screen the code wraps, and comments
# aligned at the end of long lines wrapped onto lines of their own anyway.
FIT_CODE = """\
# Train tab › Advanced: the learning rate; the loss of step 3
model.compile(optimizer='adam',
              loss=loss_fn,
              metrics=['accuracy'])
# Train tab: Epochs, Dropout, Train
model.fit(x_train, y_train, epochs=5)
# Evaluate tab
model.evaluate(x_test,  y_test, verbose=2)
# Draw tab: your own digits
probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
probability_model(x_test[:5])"""


LAYER_NOTES = {  # by layer name in mnist_core.model
    "flatten": "Unrolls the 28×28 image into one row of 784 pixel values.",
    "dense": "128 neurons. Each multiplies the 784 pixels by its own weights, adds a bias, "
             "and keeps the result only if it is positive (ReLU).",
    "dropout": "While training, switches off a random 20% of the 128 neurons at every step, "
               "so no single neuron can be relied on: fights overfitting. Off when predicting.",
    "logits": "One raw score per digit: the logits of step 3.",
}


def learn_tab() -> Any:
    """The Learn tab's introduction; returns the slot its steps are drawn into later (they
    need TensorFlow and the data, so they come after the other tabs are on the page)."""
    st.markdown(
        "TensorFlow's [Quickstart for beginners](https://www.tensorflow.org/tutorials/"
        "quickstart/beginner), step by step, with the real numbers: the tutorial's code for "
        "each step, then what it does to real images."
    )
    return loading_slot()


def learn_body(session: Session) -> None:
    """The four steps of the quickstart: data, model, one prediction, training."""
    try:
        data = mnist_data()
    except MnistStudioError as e:
        st.error(str(e))
        return
    learn_data_ui(data)
    if not wait_for_tensorflow():
        return
    learn_model_ui()
    learn_prediction_ui(session)
    learn_fit_ui()


def learn_data_ui(data: MnistData) -> None:
    """Step 1: the data set, its shapes, its pixel values, and some of its digits."""
    st.subheader("1 · The data: 70,000 handwritten digits", anchor=False)
    st.code(DATA_CODE, language="python", wrap_lines=True)
    overview = mnist_overview()
    with st.container(key="learn_data"):
        row = figures_row("figures_learn_data")
        row.metric("x_train.shape", str(overview.train_shape),
                   help="60,000 training images of 28 × 28 pixels.")
        row.metric("x_test.shape", str(overview.test_shape),
                   help="10,000 test images, kept apart to check the trained model.")
        low, high = overview.scaled_range
        row.metric("Pixel values", f"{overview.raw_range[0]}–{overview.raw_range[1]} → "
                   f"{low:.1f}–{high:.1f}", help="Before and after dividing by 255.0.")
    counts = overview.train_counts
    st.markdown(
        f"Each image is 28 × 28 = 784 numbers, one per pixel, from **{overview.raw_range[0]}** "
        f"(black) to **{overview.raw_range[1]}** (white). Dividing by 255.0 scales them to "
        f"**{low:.1f}–{high:.1f}**, which keeps the network's numbers small while it learns. "
        f"`y_train` holds the answers (the *labels*): {counts.min():,} to {counts.max():,} "
        "images of each digit."
    )
    sample_grid_ui(data)


def next_samples() -> None:
    """Show the next examples of each digit."""
    st.session_state.learn_sample_offset = (
        st.session_state.get("learn_sample_offset", 0) + SAMPLES_PER_DIGIT
    )


@st.fragment
def sample_grid_ui(data: MnistData) -> None:
    """Two examples of each digit from x_train, with their labels from y_train."""
    offset = st.session_state.get("learn_sample_offset", 0)
    picked = lesson.sample_indices(data.y_train, SAMPLES_PER_DIGIT, offset)
    rows = picked.reshape(NUM_CLASSES, SAMPLES_PER_DIGIT).T  # one row per example of each digit
    with st.container(key="learn_samples"):
        for row in rows:
            for column, index in zip(st.columns(NUM_CLASSES, gap="small"), row, strict=True):
                column.image(digit_pixels(data.x_train[index]),
                             caption=f"label {data.y_train[index]}", width="stretch",
                             output_format="PNG")
    st.button("Other examples", key="learn_more_samples", icon=":material/refresh:",
              on_click=next_samples)


def learn_model_ui() -> None:
    """Step 2: the network, its layers and parameter counts, read from the real model."""
    rows = lesson.layer_lessons(quickstart_layers())
    total = sum(row.params for row in rows)
    st.subheader(f"2 · The model: {len(rows)} layers, {total:,} numbers to learn", anchor=False)
    st.code(MODEL_CODE, language="python", wrap_lines=True)
    table = pd.DataFrame(
        [{"Layer": row.kind, "Output shape": row.output_shape, "Parameters": f"{row.params:,}",
          "Where they come from": row.formula, "What it does": LAYER_NOTES.get(row.name, "")}
         for row in rows]
        + [{"Layer": "**Total**", "Output shape": "", "Parameters": f"**{total:,}**",
            "Where they come from": "weights and biases, set by training",
            "What it does": ""}]
    )
    with st.container(key="learn_layers"):
        st.table(table, hide_index=True)
    st.caption("`None` in a shape stands for the number of images in a batch: any number. "
               "The parameters start random; training adjusts all of them.")


def explain_image(model: Any, image: np.ndarray, label: int) -> lesson.Explanation:
    """Logits, softmax and loss of one image through a model."""
    from mnist_core.evaluate import predict_logits

    return lesson.explain(predict_logits(model, image)[0], label)


def loss_metrics_ui(explanation: lesson.Explanation, key: str) -> None:
    """The loss on the image, beside ln 10 (the loss of a blind guess)."""
    with st.container(key=key):
        row = figures_row(f"figures_{key}")
        row.metric("Loss", f"{explanation.loss:.2f}" if explanation.loss >= 0.1
                   else f"{explanation.loss:.3f}",
                   help="−ln(probability the model gives the true digit).")
        row.metric("ln 10", f"{explanation.uniform_loss:.2f}",
                   help="The loss of a blind guess that gives every digit 1/10.")


def logits_text(untrained: lesson.Explanation, trained: lesson.Explanation) -> str:
    """Logits and log-odds, with this image's numbers."""
    parts = []
    for who, explanation in (("Trained", trained), ("Untrained", untrained)):
        odds = lesson.odds(explanation, explanation.label, lesson.rival(explanation))
        parts.append(
            f"{who}: $z_{odds.digit} - z_{odds.other} = {math_number(odds.log_odds)}$, so "
            f"{odds.digit} is $e^{{{math_number(odds.log_odds)}}} \\approx "
            f"{math_number(odds.ratio)}$ times as likely as {odds.other}."
        )
    return (
        "**Logits** $z_0 \\dots z_9$: the last layer's ten raw scores, any number; bigger "
        "means *more like this digit*. They are **log-odds**: two logits $g$ apart mean "
        f"$e^g$ times as likely. {' '.join(parts)}"
    )


def softmax_text(untrained: lesson.Explanation, trained: lesson.Explanation) -> str:
    """Softmax, with this image's numbers."""
    parts = lesson.softmax_parts(untrained, untrained.label)
    digit = parts.digit
    return (
        "**Softmax** turns logits into probabilities, positive and adding up to 100%: "
        f"$p_{digit} = e^{{z_{digit}}} / \\sum_j e^{{z_j}}$. Untrained: $p_{digit} = "
        f"{math_number(parts.numerator)} / {math_number(parts.denominator)} "
        f"{percent_math(parts.probability)}$, near 1/10 (the dashed line) like every digit: "
        f"a random guess. Trained: $p_{digit} {percent_math(trained.probabilities[digit])}$."
    )


def loss_text(untrained: lesson.Explanation, trained: lesson.Explanation) -> str:
    """The loss and why it starts near ln 10, with this image's numbers."""
    p = untrained.probabilities[untrained.label]
    return (
        f"**The loss** is $-\\ln p_{untrained.label}$: near 0 when the model is sure and "
        f"right. Untrained: $-\\ln {p:.3f} = {untrained.loss:.2f}$, close to "
        f"$\\ln 10 \\approx {untrained.uniform_loss:.2f}$: an untrained model's probabilities "
        "are close to random (1/10 each), so its loss is about $-\\ln(1/10) = \\ln 10$. "
        f"Training makes the loss small: here ${trained.loss:.3f}$."
    )


def model_heading(explanation: lesson.Explanation, title: str) -> str:
    """'**Untrained**, random weights  \n says **8** (16% sure)'."""
    predicted = explanation.predicted
    return (f"{title}  \nsays **{predicted}** "
            f"({explanation.probabilities[predicted]:.0%} sure)")


@st.fragment
def learn_prediction_ui(session: Session) -> None:
    """Step 3: one training image through the untrained and a trained model, side by side,
    each number beside its explanation (reruns alone when another image is picked)."""
    st.subheader("3 · One image through the model: logits → softmax → loss", anchor=False)
    st.code(PREDICT_CODE, language="python", wrap_lines=True)
    data = mnist_data()
    choice, note = lesson_choice(session)
    trained_model = load_model(session, choice)
    if trained_model is None:
        return
    widths = [1.35, 1, 1]
    # Rows of explanation | untrained | trained; on a narrow screen page.css puts each
    # explanation above its two charts (key learn_explain).
    explain = st.container(key="learn_explain")
    picker, untrained_head, trained_head = explain.columns(widths, gap="medium")
    with picker:
        index = st.number_input(
            "Training image", 0, len(data.x_train) - 1, value=0, step=1, key="learn_image",
            persist_state="session",
            help="Which of the 60,000 training images to look at. The tutorial uses the first.",
        )
    image, label = data.x_train[index], int(data.y_train[index])
    untrained = explain_image(untrained_model(), image, label)
    trained = explain_image(trained_model, image, label)
    with picker:
        st.image(digit_pixels(image, 4), caption=f"x_train[{index}], label {label}",
                 output_format="PNG")
    untrained_head.markdown(model_heading(untrained, "**Untrained** (random weights)"))
    trained_head.markdown(model_heading(trained, f"**Trained** ({note.split(' (')[0]})"))
    for text, key, show in (
        (logits_text(untrained, trained), "learn_logits",
         lambda e: show_chart("logits", e)),
        (softmax_text(untrained, trained), "learn_softmax",
         lambda e: show_chart("probabilities", e)),
        (loss_text(untrained, trained), "learn_loss", None),
    ):
        explain_column, untrained_column, trained_column = explain.columns(
            widths, gap="medium", vertical_alignment="center")
        with explain_column.container(key=f"{key}_text"):
            st.markdown(text)
        for column, explanation, who in ((untrained_column, untrained, "untrained"),
                                         (trained_column, trained, "trained")):
            with column:
                if show is None:
                    loss_metrics_ui(explanation, f"{key}_{who}")
                else:
                    show(explanation)
    if "(" in note:
        st.caption(f"Trained model: {note}. Pick one of your quickstart runs in the sidebar "
                   "to see it here.")


def learn_fit_ui() -> None:
    """Step 4: compile, fit, evaluate, and where each happens in this app."""
    st.subheader("4 · Train and evaluate: this happens in the other tabs", anchor=False)
    st.code(FIT_CODE, language="python", wrap_lines=True)
    steps = lesson.steps_per_epoch(60_000, DEFAULTS.batch_size)
    st.markdown(
        f"**Epochs.** `fit` goes through all 60,000 training images once per epoch, in "
        f"batches of {DEFAULTS.batch_size}: **{steps:,} weight updates per epoch**, "
        f"{steps * DEFAULTS.epochs:,} for the tutorial's {DEFAULTS.epochs} epochs. Each update "
        "nudges all 101,770 parameters to lower the loss on its batch (the *adam* optimizer "
        "decides how far). More epochs learn more, until the model starts memorising the "
        "training images instead of learning digits: *overfitting*, which dropout fights."
    )
    try:
        metadata = model_store().read_metadata(QUICKSTART_MODEL)
        figures = (" The quickstart shipped with this app scored "
                   f"**{percent(metadata.test_accuracy)}** with a test loss of "
                   f"**{metadata.test_loss:.3f}**.")
    except (MnistStudioError, TypeError):
        figures = ""
    st.markdown(
        "**`evaluate`** checks the trained model on the 10,000 test images it never trained "
        f"on.{figures}"
    )
    st.markdown(
        "- :material/model_training: **Train** tab: choose epochs and dropout, press "
        "**Train** and watch loss and accuracy change, epoch by epoch.\n"
        "- :material/analytics: **Evaluate** tab: which test digits the model gets wrong, "
        "and runs compared side by side.\n"
        "- :material/draw: **Draw** tab: the `probability_model`, on digits you draw."
    )
