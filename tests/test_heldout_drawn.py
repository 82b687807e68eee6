"""The held-out drawn digits stay apart from training, and the shipped drawing model reads them."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from bench.heldout_drawn import STYLES, heldout_digit_paths, heldout_set, render
from mnist_core.constants import CANVAS_SIZE, MODELS_DIR, NUM_CLASSES

PROJECT = Path(__file__).resolve().parent.parent
SLICE = 400  # of the 3,000 the bench measures: a few seconds to make and read


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)}


def test_training_code_never_sees_the_held_out_generator() -> None:
    """No module of the library imports it, and it imports nothing of the training generator."""
    for path in (PROJECT / "mnist_core").glob("*.py"):
        assert not any("heldout" in name for name in _imports(path)), path.name
    own = _imports(PROJECT / "bench" / "heldout_drawn.py")
    assert not {"mnist_core.strokes", "mnist_core.augment"} & own


def test_every_style_is_drawn_and_labels_are_balanced() -> None:
    digits = heldout_digit_paths(200, seed=1)
    labels = np.array([d for d, _ in digits])
    assert np.bincount(labels, minlength=NUM_CLASSES).tolist() == [20] * NUM_CLASSES
    assert all(len(STYLES[d]) >= 2 for d in range(NUM_CLASSES))
    canvas = render(digits[0][1])
    assert canvas.shape == (CANVAS_SIZE, CANVAS_SIZE, 4) and canvas[..., 3].min() == 255
    ink = canvas[..., 0] > 127
    assert ink.any() and not ink[0].any() and not ink[-1].any()  # all of it on the canvas


def test_the_drawing_model_reads_the_held_out_digits(drawing_model) -> None:
    """The closing note's figure on the full 3,000 is 99.4%: a slice must reach 98%."""
    images, labels, _ = heldout_set(SLICE)
    pred = drawing_model.predict(images, batch_size=200, verbose=0).argmax(axis=1)
    assert (pred == labels).mean() >= 0.98
    for digit in range(NUM_CLASSES):
        assert (pred[labels == digit] == digit).mean() >= 0.9, digit


@pytest.fixture(scope="module")
def drawing_model():
    from mnist_core.store import load_model_file

    return load_model_file(MODELS_DIR / "drawing.keras")


# Each style alone, 60 digits: (digit, style, the share the model must read right). The
# model before this generator read 1/long_flag 68% (as 7), 9/small_loop 58% (as 3).
STYLE_GOALS = [(1, "long_flag", 0.8), (7, "footed", 0.9), (7, "crossed", 0.95),
               (9, "curled", 0.95), (9, "small_loop", 0.85), (4, "one_stroke", 0.95)]


@pytest.mark.parametrize("digit, style, goal", STYLE_GOALS)
def test_the_styles_mnist_lacks_are_read(drawing_model, digit: int, style: str,
                                         goal: float) -> None:
    images, labels, _ = heldout_set(60, seed=digit, only=(digit, style))
    assert (labels == digit).all()
    pred = drawing_model.predict(images, batch_size=60, verbose=0).argmax(axis=1)
    assert (pred == digit).mean() >= goal, (pred == digit).mean()
