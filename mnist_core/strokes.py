"""Synthetic hand-drawn digits, rendered like the drawing canvas: training data for drawings.

Each digit has pen paths written as control points in a unit box, with the ways people
really write it, international styles included (1 with a short or long flag, with or
without a base; open, closed and one-stroke 4; 7 crossed, footed or hooked; 9 with a
straight, curved, curled "g" or separate tail; looped and Z-like 2; ...). Every sample
jitters the control points, bends the paths with a shaky hand, and varies slant, aspect,
rotation, size (50-85% of the canvas height) and position; some are drawn hastily as
coarse straight segments. They are rendered as the canvas shows them: white, 20 px wide,
round caps and joins, anti-aliased, on opaque black 280x280 RGBA.
The drawing model trains on them (`mnist_core.augment.drawn_pool`); it is measured on
digits of another generator it never sees (`bench/heldout_drawn.py`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from mnist_core.constants import CANVAS_SIZE, NUM_CLASSES, STROKE_WIDTH
from mnist_core.errors import ConfigError

MIN_HEIGHT_FRACTION = 0.50  # ink height as a fraction of the canvas height
MAX_HEIGHT_FRACTION = 0.85
SUPERSAMPLE = 4  # rendered at 4x then box-averaged: anti-aliased like a browser canvas
_SAMPLES_PER_SEGMENT = 12  # spline points between two control points

# A stroke is a list of control points (x, y, corner) in a unit box, y pointing down;
# the pen passes through every point and turns sharply where corner is True.
ControlPoint = tuple[float, float, bool]
Stroke = list[ControlPoint]
DigitShape = Callable[[np.random.Generator], list[Stroke]]


def _pts(*xy: tuple[float, float], corners: tuple[int, ...] = ()) -> Stroke:
    """Control points from (x, y) pairs; `corners` are the indices of sharp turns."""
    return [(x, y, i in corners) for i, (x, y) in enumerate(xy)]


def _ellipse(
    cx: float, cy: float, rx: float, ry: float, start: float, sweep: float, step: float = 30.0
) -> list[tuple[float, float]]:
    """Points on an ellipse; angles in degrees, 0 = 3 o'clock, positive sweep = clockwise."""
    count = max(2, int(abs(sweep) / step) + 1)
    angles = np.radians(np.linspace(start, start + sweep, count))
    return [(cx + rx * float(np.cos(a)), cy + ry * float(np.sin(a))) for a in angles]


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    """One uniform draw as a float."""
    return float(rng.uniform(low, high))


# ---- digit shapes: each returns the strokes of one randomly varied way to write it ----


def _zero(rng: np.random.Generator) -> list[Stroke]:
    """An oval started near the top, drawn either way round, closed, overlapping or gapped."""
    start = _u(rng, -130, -30)
    direction = -1.0 if rng.random() < 0.75 else 1.0
    sweep = direction * (360 + _u(rng, -30, 45))
    rx, ry = _u(rng, 0.3, 0.5), 0.5
    points = _ellipse(0.5, 0.5, rx, ry, start, sweep, step=30)
    if rng.random() < 0.3:  # pointed top: the pen pulls in where it closes
        x, y = points[-1]
        points[-1] = (x + _u(rng, -0.1, 0.1), y + _u(rng, 0.0, 0.12))
    return [_pts(*points)]


def _one(rng: np.random.Generator) -> list[Stroke]:
    """A down stroke, optionally with a short or long flag at the top and a base bar."""
    top = (0.55, 0.0)
    bottom = (0.5 + _u(rng, -0.1, 0.05), 1.0)
    kind = rng.choice(4, p=[0.35, 0.3, 0.2, 0.15])
    if kind == 0:
        return [_pts(top, bottom)]
    if kind == 2:  # a long up-stroke: from well down the left, steeply up to the top
        length, angle = _u(rng, 0.4, 0.7), np.radians(_u(rng, 28, 65))
    else:
        length, angle = _u(rng, 0.15, 0.45), np.radians(_u(rng, 25, 65))  # up-slope, not a bar
    flag = (top[0] - length * float(np.cos(angle)), length * float(np.sin(angle)))
    if rng.random() < 0.25:  # the flag starts with a little hook
        strokes = [_pts((flag[0] + 0.04, flag[1] + 0.06), flag, top, bottom, corners=(2,))]
    else:
        strokes = [_pts(flag, top, bottom, corners=(1,))]
    if kind == 3 or (kind == 2 and rng.random() < 0.3):
        half = _u(rng, 0.2, 0.45)
        strokes.append(_pts((bottom[0] - half, 1.0), (bottom[0] + half, 1.0)))
    return strokes


def _two(rng: np.random.Generator) -> list[Stroke]:
    """A hook over the top, a diagonal to the bottom left, a base; sometimes a loop there."""
    kind = rng.choice(4, p=[0.45, 0.25, 0.15, 0.15])
    base_end = (_u(rng, 0.7, 1.0), 1.0 - _u(rng, -0.05, 0.08))
    if kind == 2:  # Z-like: flat top, straight diagonal
        return [_pts((0.05, 0.1), (0.5, 0.0), (0.92, 0.08), (0.05, 0.98), base_end, corners=(3,))]
    hook = [(_u(rng, 0.0, 0.15), _u(rng, 0.15, 0.4)), (0.3, 0.03), (0.62, 0.0), (0.9, 0.17)]
    shoulder = (_u(rng, 0.75, 0.95), _u(rng, 0.3, 0.5))
    mid = (_u(rng, 0.35, 0.55), _u(rng, 0.6, 0.8))
    if kind == 0:
        foot = (_u(rng, 0.0, 0.1), 1.0)
        return [_pts(*hook, shoulder, mid, foot, base_end, corners=(len(hook) + 2,))]
    if kind == 3:  # a curvy 2: the base is a short upward flick
        foot = (_u(rng, 0.0, 0.1), 1.0)
        flick = (_u(rng, 0.5, 0.9), _u(rng, 0.85, 1.0))
        return [_pts(*hook, shoulder, mid, foot, flick)]
    loop = [(0.12, 0.92), (0.05, 0.98), (0.15, 1.0), (0.25, 0.9), (0.15, 0.88), (0.4, 1.0)]
    return [_pts(*hook, shoulder, mid, *loop, base_end)]


def _three(rng: np.random.Generator) -> list[Stroke]:
    """Two bumps with a cusp in the middle, or a flat top and one bump."""
    waist_y = _u(rng, 0.38, 0.55)
    waist = (_u(rng, 0.25, 0.55), waist_y)
    bottom = [
        (_u(rng, 0.8, 0.98), waist_y + 0.12),
        (0.95, 0.8),
        (0.6, 1.0),
        (0.25, 0.98),
        (_u(rng, 0.0, 0.1), _u(rng, 0.75, 0.92)),
    ]
    if rng.random() < 0.8:
        top = [
            (_u(rng, 0.0, 0.15), _u(rng, 0.05, 0.25)),
            (0.45, 0.0),
            (0.88, 0.1),
            (_u(rng, 0.75, 0.92), waist_y - 0.15),
        ]
        if rng.random() < 0.2:  # a small loop instead of a cusp
            loop = [waist, (waist[0] - 0.08, waist_y + 0.03), (waist[0], waist_y + 0.07)]
            return [_pts(*top, *loop, *bottom)]
        return [_pts(*top, waist, *bottom, corners=(len(top),))]
    top = [(0.05, 0.02), (0.9, 0.0)]
    return [_pts(*top, waist, *bottom, corners=(1, 2))]


def _four(rng: np.random.Generator) -> list[Stroke]:
    """Open (L then down stroke), closed (triangle), or open in one stroke."""
    stem_x = _u(rng, 0.55, 0.8)
    bar_y = _u(rng, 0.45, 0.75)
    bar_end = (min(1.0, stem_x + _u(rng, 0.1, 0.4)), bar_y + _u(rng, -0.08, 0.04))
    kind = rng.choice(4, p=[0.35, 0.3, 0.15, 0.2])
    stem_top = _u(rng, 0.0, 0.35) if kind == 0 else _u(rng, 0.0, 0.1)
    stem = _pts((stem_x, stem_top), (stem_x + _u(rng, -0.08, 0.04), 1.0))
    left_top = (_u(rng, 0.0, 0.4), 0.0)
    elbow = (_u(rng, 0.0, 0.1), bar_y)
    sharp = rng.random() < 0.75  # or a rounded elbow, like a U
    if kind == 0:  # open: down, right; then the stem
        return [_pts(left_top, elbow, bar_end, corners=(1,) if sharp else ()), stem]
    if kind == 1:  # closed: diagonal from the top of the stem
        return [_pts((stem_x, 0.0), elbow, bar_end, corners=(1,)), stem]
    if kind == 2:  # one stroke: down, right, back up along a slant, then down the stem
        return [
            _pts(left_top, elbow, (stem_x + 0.1, bar_y), (stem_x, 0.0), (stem_x, 1.0),
                 corners=(1, 2, 3))
        ]
    # open in one stroke: down, right past the stem, up the stem and back down it (a
    # narrow loop when the pen does not quite retrace its way up)
    top = (stem_x + _u(rng, -0.03, 0.03), _u(rng, 0.0, 0.3))
    reach = (stem_x + _u(rng, 0.0, 0.15), bar_y + _u(rng, -0.04, 0.04))
    down = (top[0] + _u(rng, -0.12, 0.03), 1.0)
    return [_pts(left_top, elbow, reach, top, down, corners=(1, 2, 3) if sharp else (2, 3))]


def _five(rng: np.random.Generator) -> list[Stroke]:
    """A stem, a belly, and a top bar drawn first, last or not lifted."""
    stem_top = (_u(rng, 0.05, 0.3), 0.02)
    stem_bottom = (_u(rng, 0.0, 0.2), _u(rng, 0.35, 0.55))
    belly = [
        (_u(rng, 0.35, 0.55), stem_bottom[1] - _u(rng, 0.02, 0.1)),
        (_u(rng, 0.8, 0.95), stem_bottom[1] + 0.05),
        (0.95, 0.78),
        (0.6, 1.0),
        (0.25, 0.98),
        (_u(rng, 0.0, 0.1), _u(rng, 0.78, 0.95)),
    ]
    bar_end = (_u(rng, 0.6, 1.0), _u(rng, -0.06, 0.06))
    kind = rng.choice(3, p=[0.55, 0.3, 0.15])
    if kind == 0:
        return [_pts(stem_top, stem_bottom, *belly, corners=(1,)), _pts(stem_top, bar_end)]
    if kind == 1:
        return [_pts(bar_end, stem_top, stem_bottom, *belly, corners=(1, 2))]
    gap_start = (stem_top[0] + _u(rng, 0.0, 0.1), _u(rng, -0.05, 0.05))
    return [_pts(stem_top, stem_bottom, *belly, corners=(1,)), _pts(gap_start, bar_end)]


def _six(rng: np.random.Generator) -> list[Stroke]:
    """A stem curving down from the top right into a loop at the bottom."""
    loop_top = _u(rng, 0.3, 0.65)
    loop_rx = _u(rng, 0.3, 0.5)
    cy = (loop_top + 1.0) / 2
    ry = (1.0 - loop_top) / 2
    stem = [(_u(rng, 0.55, 0.85), 0.0), (_u(rng, 0.15, 0.4), _u(rng, 0.18, 0.35))]
    loop = _ellipse(0.5, cy, loop_rx, ry, 180, -(360 + _u(rng, -20, 70)), step=30)
    return [_pts(*stem, *loop)]


def _seven(rng: np.random.Generator) -> list[Stroke]:
    """A top bar and a diagonal; sometimes a crossbar, a foot, a start hook or a curve."""
    corner = (1.0, _u(rng, 0.0, 0.08))
    steep = rng.random() < 0.3  # a near-vertical stem, as many Europeans write it
    foot = (_u(rng, 0.45, 0.75) if steep else _u(rng, 0.1, 0.55), 1.0)
    start = (_u(rng, 0.0, 0.35), _u(rng, 0.0, 0.1))
    head = [(start[0] + 0.02, _u(rng, 0.15, 0.3)), start] if rng.random() < 0.25 else [start]
    if rng.random() < 0.3:  # curved diagonal
        mid = (_u(rng, 0.5, 0.8), 0.5)
        diagonal = [mid, foot]
    else:
        diagonal = [foot]
    tail: list[tuple[float, float]] = []
    tail_kind = rng.choice(3, p=[0.6, 0.25, 0.15])
    if tail_kind == 1:  # a foot to the right
        tail = [(foot[0] + _u(rng, 0.12, 0.4), foot[1] - _u(rng, 0.0, 0.06))]
    elif tail_kind == 2:  # the stem curls a little to the left at the bottom
        tail = [(foot[0] - _u(rng, 0.08, 0.2), foot[1] - _u(rng, 0.02, 0.1))]
    if rng.random() < 0.2:  # a rounded top corner, bar flowing into the stem
        corner = (_u(rng, 0.85, 0.95), _u(rng, 0.05, 0.12))
        head = [*head, (_u(rng, 0.7, 0.85), _u(rng, -0.02, 0.03))]
        corners = (len(head) - 2, len(head) + len(diagonal))
    else:
        corners = (len(head) - 1, len(head), len(head) + len(diagonal))
    strokes = [_pts(*head, corner, *diagonal, *tail, corners=corners)]
    if rng.random() < 0.4:  # crossbar through the stem
        t = _u(rng, 0.35, 0.6)
        cx = corner[0] + (foot[0] - corner[0]) * t
        y = corner[1] + (foot[1] - corner[1]) * t
        tilt = _u(rng, -0.05, 0.05)
        left, right = cx - _u(rng, 0.12, 0.3), cx + _u(rng, 0.1, 0.3)
        strokes.append(_pts((left, y + tilt), (right, y - tilt)))
    return strokes


def _eight(rng: np.random.Generator) -> list[Stroke]:
    """One S stroke closed back to its start, or two stacked loops."""
    waist = (_u(rng, 0.35, 0.65), _u(rng, 0.35, 0.55))
    if rng.random() < 0.7:
        top_w, bottom_w = _u(rng, 0.2, 0.45), _u(rng, 0.3, 0.5)
        wy = waist[1]
        return [
            _pts(
                (0.5 + top_w * 0.9, wy * 0.25),
                (0.5, 0.0),
                (0.5 - top_w, wy * 0.3),
                (0.5 - top_w * 0.7, wy * 0.75),
                waist,
                (0.5 + bottom_w, wy + (1 - wy) * 0.4),
                (0.5 + bottom_w * 0.9, wy + (1 - wy) * 0.85),
                (0.5, 1.0),
                (0.5 - bottom_w, wy + (1 - wy) * 0.75),
                (0.5 - bottom_w * 0.8, wy + (1 - wy) * 0.35),
                waist,
                (0.5 + top_w * 0.8, wy * 0.6),
                (0.5 + top_w * _u(rng, 0.4, 1.0), wy * _u(rng, 0.05, 0.4)),
            )
        ]
    top_rx = _u(rng, 0.25, 0.42)
    top = _ellipse(0.5, waist[1] / 2, top_rx, waist[1] / 2, 90, -360 - _u(rng, -20, 30))
    bottom_ry = (1 - waist[1]) / 2
    bottom = _ellipse(0.5, waist[1] + bottom_ry, 0.5, bottom_ry, -90, 360 + _u(rng, -20, 30))
    return [_pts(*top), _pts(*bottom)]


def _nine(rng: np.random.Generator) -> list[Stroke]:
    """A loop at the top with a straight, curved, curled ("g") or separately drawn tail."""
    kind = rng.choice(5, p=[0.3, 0.15, 0.15, 0.25, 0.15])
    small = kind >= 3 and rng.random() < 0.5  # a small, flat loop over a long curled tail
    loop_bottom = _u(rng, 0.15, 0.35) if small else _u(rng, 0.3, 0.6)
    cy, ry = loop_bottom / 2, loop_bottom / 2
    rx = _u(rng, 0.12, 0.35) if small else _u(rng, 0.3, 0.5)
    closing = _u(rng, -30, 30) if kind < 3 or rng.random() < 0.5 else _u(rng, -70, -20)
    loop = _ellipse(0.5, cy, rx, ry, _u(rng, -40, 10), -(360 + closing))  # curled: may gap
    join = (0.5 + rx, cy + _u(rng, -0.05, 0.1))
    foot_x = 0.5 + rx - _u(rng, -0.05, 0.3)
    if kind == 0:
        return [_pts(*loop, join, (foot_x, 1.0), corners=(len(loop),))]
    if kind == 1:
        tail = [(0.5 + rx - 0.02, 0.7), (0.6, 1.0), (_u(rng, 0.1, 0.4), _u(rng, 0.85, 1.0))]
        return [_pts(*loop, join, *tail, corners=(len(loop),))]
    if kind == 2:
        return [_pts(*loop), _pts((0.5 + rx, _u(rng, -0.05, 0.1)), (foot_x, 1.0))]
    # curled tail: down the stem, then a hook to the left at the bottom, like a "g"
    stem_x = 0.5 + rx - _u(rng, 0.0, 0.1)
    turn = _u(rng, 0.7, 0.85)
    width = _u(rng, 0.2, 0.5)
    tail = [(stem_x, turn), (stem_x - width * 0.4, 1.0), (stem_x - width, _u(rng, 0.85, 0.98))]
    if rng.random() < 0.5:  # curls back up
        tail.append((stem_x - width - _u(rng, 0.0, 0.08), _u(rng, 0.7, 0.85)))
    if kind == 4:  # the stem drawn separately from the loop
        return [_pts(*loop), _pts((stem_x, _u(rng, -0.05, 0.1)), *tail)]
    return [_pts(*loop, join, *tail, corners=(len(loop),))]


DIGIT_SHAPES: tuple[DigitShape, ...] = (
    _zero,
    _one,
    _two,
    _three,
    _four,
    _five,
    _six,
    _seven,
    _eight,
    _nine,
)


# ---- from control points to a rendered canvas ----


def _catmull_rom(points: np.ndarray) -> np.ndarray:
    """Dense points of a Catmull-Rom spline through (K, 2) control points."""
    if len(points) < 2:
        return points
    padded = np.vstack([points[0], points, points[-1]])  # (K+2, 2)
    t = np.linspace(0.0, 1.0, _SAMPLES_PER_SEGMENT, endpoint=False)[:, None]  # (S, 1)
    pieces = []
    for i in range(len(points) - 1):
        p0, p1, p2, p3 = padded[i], padded[i + 1], padded[i + 2], padded[i + 3]
        pieces.append(
            0.5
            * (
                2 * p1
                + (p2 - p0) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (3 * p1 - p0 - 3 * p2 + p3) * t**3
            )
        )
    pieces.append(points[-1:])
    return np.vstack(pieces)  # (M, 2)


def _stroke_path(stroke: Stroke, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Dense (M, 2) path of one stroke: control points jittered, smooth between corners."""
    xy = np.array([(x, y) for x, y, _ in stroke], dtype=np.float64)  # (K, 2)
    xy += rng.normal(0.0, jitter, xy.shape)
    corners = [i for i, (_, _, corner) in enumerate(stroke) if corner]
    bounds = [0, *corners, len(stroke) - 1]
    pieces = [_catmull_rom(xy[a : b + 1]) for a, b in itertools.pairwise(bounds) if b > a]
    return np.vstack(pieces) if pieces else xy


def _wobble(paths: list[np.ndarray], amplitude: float, rng: np.random.Generator) -> None:
    """Bend all paths in place with one smooth random displacement field (a shaky hand)."""
    freq = rng.uniform(1.5, 4.0, (3, 2, 2))  # (waves, axis, xy)
    phase = rng.uniform(0, 2 * np.pi, (3, 2))
    amp = rng.normal(0.0, amplitude, (3, 2))
    for path in paths:
        for w in range(3):
            for axis in range(2):
                arg = path @ freq[w, axis] + phase[w, axis]  # (M,)
                path[:, axis] += amp[w, axis] * np.sin(arg)


def _digit_paths(digit: int, rng: np.random.Generator,
                 heights: tuple[float, float]) -> list[np.ndarray]:
    """Randomly varied pen paths of one digit in canvas pixels."""
    strokes = DIGIT_SHAPES[digit](rng)
    jitter = rng.uniform(0.01, 0.05)
    paths = [_stroke_path(s, jitter, rng) for s in strokes]
    _wobble(paths, rng.uniform(0.0, 0.05), rng)
    aspect = rng.uniform(0.4, 1.0)  # box width / height
    slant = float(np.clip(rng.normal(0.1, 0.18), -0.35, 0.6))  # rightward lean
    angle = np.radians(rng.normal(0.0, 7.0))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out = []
    for path in paths:
        p = path - 0.5
        p[:, 0] = p[:, 0] * aspect - slant * p[:, 1]
        out.append(p @ rot.T)
    if rng.random() < 0.25:  # a hasty writer: coarse straight segments
        out = [_coarsen(p, int(rng.integers(5, 14))) for p in out]
    return _place(out, rng, heights)


def _coarsen(path: np.ndarray, count: int) -> np.ndarray:
    """Resample a path to `count` points spaced evenly along its length."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    if dist[-1] == 0:
        return path
    at = np.linspace(0.0, dist[-1], count)
    return np.stack([np.interp(at, dist, path[:, 0]), np.interp(at, dist, path[:, 1])], 1)


def _place(paths: list[np.ndarray], rng: np.random.Generator,
           heights: tuple[float, float]) -> list[np.ndarray]:
    """Scale paths to a random ink height and move them anywhere inside the canvas."""
    allp = np.vstack(paths)
    lo, hi = allp.min(0), allp.max(0)
    size = hi - lo  # (2,) centre-line extent
    ink_height = rng.uniform(*heights) * CANVAS_SIZE
    margin = STROKE_WIDTH / 2 + 2
    scale = (ink_height - STROKE_WIDTH) / max(size[1], 1e-6)
    scale = min(scale, (CANVAS_SIZE - 2 * margin) / max(size[0], 1e-6))  # wide digits
    extent = size * scale
    room = CANVAS_SIZE - 2 * margin - extent
    offset = margin + rng.uniform(0, 1, 2) * np.maximum(room, 0)
    return [(p - lo) * scale + offset for p in paths]


def render_paths(paths: list[np.ndarray], supersample: int = SUPERSAMPLE) -> np.ndarray:
    """Draw pen paths (canvas px) as the canvas shows them: (280, 280, 4) uint8 RGBA.

    `supersample` 1 draws without anti-aliasing, 16x faster: for training images, which
    are shrunk to 20 px anyway (that averages the jagged edges away)."""
    gray = render_ink(paths, supersample)  # (280, 280) uint8
    rgba = np.empty((CANVAS_SIZE, CANVAS_SIZE, 4), np.uint8)
    rgba[..., :3] = gray[..., None]
    rgba[..., 3] = 255  # opaque black background
    return rgba


def render_ink(paths: list[np.ndarray], supersample: int = SUPERSAMPLE) -> np.ndarray:
    """The ink of pen paths (canvas px) drawn as the canvas does: (280, 280) uint8."""
    big = CANVAS_SIZE * supersample
    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    width = STROKE_WIDTH * supersample
    r = width / 2
    for path in paths:
        pts = [(float(x) * supersample, float(y) * supersample) for x, y in path]
        if len(pts) > 1:
            draw.line(pts, fill=255, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img.reduce(supersample) if supersample > 1 else img)


def drawn_digit_paths(n: int, seed: int, heights: tuple[float, float] = (
        MIN_HEIGHT_FRACTION, MAX_HEIGHT_FRACTION)) -> list[tuple[int, list[np.ndarray]]]:
    """`n` synthetic drawn digits as pen paths, labels balanced: [(digit, strokes)], each
    stroke an (M, 2) float array of canvas pixels (x, y), in drawing order. The same
    digits `render_drawn_digits(n, seed)` renders (a browser test can draw them)."""
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.int64)  # (n,)
    return [(int(digit), _digit_paths(int(digit), rng, heights)) for digit in labels]


def render_drawn_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` synthetic drawn digits, labels balanced: ((n, 280, 280, 4) uint8, (n,) int64)."""
    digits = drawn_digit_paths(n, seed)
    labels = np.array([digit for digit, _ in digits], dtype=np.int64)  # (n,)
    images = np.empty((n, CANVAS_SIZE, CANVAS_SIZE, 4), np.uint8)
    for i, (_, paths) in enumerate(digits):
        images[i] = render_paths(paths)
    return images, labels
