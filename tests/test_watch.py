"""ui/watch.py: the units' weights drawn as one strip while a run trains."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ui.inside import diverging
from ui.watch import PEEK_GAP, PEEK_SCALE, peek_strip


def test_the_peek_is_one_strip_of_the_units_with_clear_gaps() -> None:
    units = np.random.default_rng(0).normal(size=(6, 28, 28)).astype(np.float32)
    strip = np.asarray(Image.open(io.BytesIO(peek_strip(units))))
    side = 28 * PEEK_SCALE
    assert strip.shape == (side, 6 * side + 5 * PEEK_GAP, 4)
    for k, unit in enumerate(units):
        left = k * (side + PEEK_GAP)
        np.testing.assert_array_equal(strip[:, left:left + side, :3], diverging(unit, PEEK_SCALE))
        assert (strip[:, left:left + side, 3] == 255).all()
        if k:
            assert (strip[:, left - PEEK_GAP:left, 3] == 0).all()  # the page shows through
