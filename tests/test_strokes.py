"""The synthetic drawn digits look like canvas drawings and are reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_core.constants import NUM_CLASSES
from mnist_core.errors import ConfigError
from mnist_core.strokes import (
    CANVAS_SIZE,
    DIGIT_SHAPES,
    MAX_HEIGHT_FRACTION,
    MIN_HEIGHT_FRACTION,
    STROKE_WIDTH,
    drawn_digit_paths,
    render_drawn_digits,
    render_paths,
)

N = 60


@pytest.fixture(scope="module")
def drawn() -> tuple[np.ndarray, np.ndarray]:
    """60 drawn digits: ((60, 280, 280, 4) uint8, (60,) labels)."""
    return render_drawn_digits(N, seed=3)


def ink_box(rgba: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) inclusive bounds of the visible ink."""
    ink = rgba[..., 0] > 127
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def test_shapes_and_dtypes(drawn: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = drawn
    assert images.shape == (N, CANVAS_SIZE, CANVAS_SIZE, 4)
    assert images.dtype == np.uint8
    assert labels.shape == (N,)
    assert set(labels.tolist()) <= set(range(NUM_CLASSES))


@pytest.mark.parametrize("n", [10, 25, 33])
def test_labels_are_balanced(n: int) -> None:
    _, labels = render_drawn_digits(n, seed=n)
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == n


def test_labels_are_shuffled(drawn: tuple[np.ndarray, np.ndarray]) -> None:
    _, labels = drawn
    assert not np.array_equal(labels, np.arange(N) % NUM_CLASSES)


def test_same_seed_same_digits() -> None:
    a_images, a_labels = render_drawn_digits(12, seed=7)
    b_images, b_labels = render_drawn_digits(12, seed=7)
    np.testing.assert_array_equal(a_labels, b_labels)
    np.testing.assert_array_equal(a_images, b_images)


def test_other_seed_other_digits() -> None:
    a_images, _ = render_drawn_digits(12, seed=7)
    b_images, _ = render_drawn_digits(12, seed=8)
    assert not np.array_equal(a_images, b_images)


def test_canvas_look_white_ink_on_opaque_black(drawn: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = drawn
    assert (images[..., 3] == 255).all()
    np.testing.assert_array_equal(images[..., 0], images[..., 1])
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    assert images[..., 0].max() == 255
    assert ((images[..., 0] > 0) & (images[..., 0] < 255)).any()  # anti-aliased edges


def test_every_digit_is_visible_and_inside(drawn: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = drawn
    for rgba in images:
        ink = rgba[..., 0]
        assert (ink > 127).sum() > 20 * STROKE_WIDTH  # a real drawing, not a dot
        # nothing touches the border: the whole digit is on the canvas
        assert ink[0].max() == ink[-1].max() == ink[:, 0].max() == ink[:, -1].max() == 0


def test_height_is_within_the_drawing_range(drawn: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = drawn
    heights = []
    for rgba in images:
        top, bottom, _, _ = ink_box(rgba)
        heights.append((bottom - top + 1) / CANVAS_SIZE)
    heights = np.array(heights)
    assert heights.min() >= MIN_HEIGHT_FRACTION - 0.03
    assert heights.max() <= MAX_HEIGHT_FRACTION + 0.03
    assert heights.std() > 0.04  # sizes vary


def test_positions_vary(drawn: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = drawn
    lefts = [ink_box(rgba)[2] for rgba in images]
    tops = [ink_box(rgba)[0] for rgba in images]
    assert np.std(lefts) > 10 and np.std(tops) > 5


def test_stroke_is_the_pen_width() -> None:
    rgba = render_paths([np.array([[40.0, 140.0], [240.0, 140.0]])])
    column = rgba[:, 140, 0]
    assert abs(int((column > 127).sum()) - STROKE_WIDTH) <= 1
    row = rgba[140, :, 0]  # round caps: the line reaches half a pen width past its ends
    assert abs(int((row > 127).sum()) - (200 + STROKE_WIDTH)) <= 1


@pytest.mark.parametrize("digit", range(NUM_CLASSES))
def test_each_digit_has_several_looks(digit: int) -> None:
    rng = np.random.default_rng(digit)
    looks = {
        (len(strokes), sum(len(s) for s in strokes))
        for strokes in (DIGIT_SHAPES[digit](rng) for _ in range(40))
    }
    assert len(looks) >= 2  # e.g. a 7 with and without a crossbar


def test_negative_count_is_rejected() -> None:
    with pytest.raises(ConfigError):
        render_drawn_digits(-1, seed=0)


def test_zero_digits() -> None:
    images, labels = render_drawn_digits(0, seed=0)
    assert images.shape == (0, CANVAS_SIZE, CANVAS_SIZE, 4)
    assert labels.shape == (0,)


def _many(digit: int, n: int = 300) -> list[list[np.ndarray]]:
    """Control points of `n` random ways of writing `digit`: [[(K, 2) per stroke]]."""
    rng = np.random.default_rng(100 + digit)
    return [[np.array([(x, y) for x, y, _ in s]) for s in DIGIT_SHAPES[digit](rng)]
            for _ in range(n)]


def test_sevens_come_crossed_footed_and_plain() -> None:
    sevens = _many(7)
    crossed = sum(len(strokes) == 2 for strokes in sevens)
    footed = sum(strokes[0][-1, 0] > strokes[0][-2, 0] + 0.1 for strokes in sevens)
    assert 0.25 < crossed / len(sevens) < 0.6
    assert 0.1 < footed / len(sevens) < 0.5


def test_nines_come_with_curled_and_straight_tails() -> None:
    nines = _many(9)
    # a curled tail ends left of where the stem came down, above the bottom: like a "g"
    curled = sum(strokes[-1][-1, 0] < 0.5 and strokes[-1][-1, 1] < 0.99 for strokes in nines)
    straight = sum(strokes[-1][-1, 1] == 1.0 for strokes in nines)
    assert curled / len(nines) > 0.2 and straight / len(nines) > 0.2


def test_ones_have_long_flags_sometimes() -> None:
    ones = _many(1)
    flag = [float(np.hypot(*(s[0][1] - s[0][0]))) for s in ones if len(s[0]) >= 3]
    assert sum(length > 0.4 for length in flag) > 0.1 * len(ones)
    assert sum(len(s[0]) == 2 and len(s) == 1 for s in ones) > 0.2 * len(ones)  # plain sticks


def test_fours_come_open_closed_and_in_one_stroke() -> None:
    fours = _many(4)
    one_stroke = sum(len(s) == 1 for s in fours)
    assert 0.2 < one_stroke / len(fours) < 0.6


def test_heights_can_be_chosen() -> None:
    paths = drawn_digit_paths(40, seed=1, heights=(0.3, 0.35))
    heights = [np.ptp(np.vstack(p)[:, 1]) + STROKE_WIDTH for _, p in paths]
    assert max(heights) <= 0.35 * CANVAS_SIZE + 1
