"""A held-out set of drawn digits, from a generator and style list training never uses.

# .venv/bin/python -m bench.heldout_drawn models/drawing.keras [more.keras ...] [--n 3000]

`mnist_core.strokes` makes the drawing model's synthetic training digits; measured on its
own digits a model looks better than it is. This module is written apart from it (no
import of it, other shapes, other maths): every digit is a list of named styles, each a
few pen moves (lines and circular arcs, "turtle" style), smoothed like the canvas's
freehand brush (quadratic curves through the midpoints of mouse samples), sampled at a
varying pen speed, shaken by a random-walk tremor, slanted, rotated and squeezed per
writer, and drawn with the canvas's 20 px round pen at a random size and place.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mnist_core.constants import CANVAS_SIZE, NUM_CLASSES, STROKE_WIDTH
from mnist_core.preprocess import canvas_to_mnist

DEFAULT_N = 3000
DEFAULT_SEED = 17_000_017
OVERSAMPLE = 3  # rendered at 3x, then area-averaged: anti-aliased like the browser

Pen = list[tuple[float, float]]  # one pen-down stroke, x right / y down, in a unit box


class Turtle:
    """Builds one stroke from moves: lines to points and arcs about a centre."""

    def __init__(self, x: float, y: float) -> None:
        self.points: Pen = [(x, y)]

    def to(self, x: float, y: float) -> Turtle:
        """A straight line to (x, y)."""
        self.points.append((x, y))
        return self

    def arc(self, cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> Turtle:
        """An elliptic arc from angle a0 to a1 (degrees, 0 = right, 90 = down)."""
        steps = max(3, int(abs(a1 - a0) / 15))
        for a in np.radians(np.linspace(a0, a1, steps)):
            self.points.append((cx + rx * math.cos(a), cy + ry * math.sin(a)))
        return self


def _r(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


# ---- the style list: digit -> {style name: strokes maker} ----


def _zero(rng, style):
    rx, tilt = _r(rng, 0.28, 0.48), _r(rng, -20, 20)
    a0 = -90 + tilt
    sweep = _r(rng, 340, 400) * (1 if style == "clockwise" else -1)
    return [Turtle(0.5 + rx * math.cos(math.radians(a0)), 0.5 * (1 + math.sin(math.radians(a0))))
            .arc(0.5, 0.5, rx, 0.5, a0, a0 + sweep).points]


def _one(rng, style):
    x_top, x_bot = _r(rng, 0.45, 0.6), _r(rng, 0.4, 0.55)
    if style == "stick":
        return [[(x_top, 0.0), (x_bot, 1.0)]]
    long = style.startswith("long")
    reach = _r(rng, 0.35, 0.6) if long else _r(rng, 0.12, 0.3)
    drop = reach * _r(rng, 0.6, 1.4)
    strokes = [[(x_top - reach, drop), (x_top, 0.0), (x_bot, 1.0)]]
    if style.endswith("base"):
        w = _r(rng, 0.15, 0.35)
        strokes.append([(x_bot - w, 1.0), (x_bot + w, 0.99)])
    return strokes


def _two(rng, style):
    if style == "zed":
        return [[(0.05, 0.05), (0.95, 0.02), (0.1, 0.97), (0.95, 0.98)]]
    t = Turtle(0.05, _r(rng, 0.2, 0.35)).arc(0.5, 0.3, 0.42, 0.3, 200, 360)
    t.arc(0.5, 0.3, 0.42, 0.3, 0, 40)
    if style == "looped":
        t.to(0.2, 0.85).arc(0.18, 0.9, 0.1, 0.08, -60, -300).to(_r(rng, 0.8, 1.0), 0.97)
    elif style == "wavy_base":
        t.to(0.05, 0.98).arc(0.5, 0.95, 0.25, 0.08, 180, 300).to(0.95, 0.92)
    else:
        t.to(0.05, 0.98).to(_r(rng, 0.75, 1.0), 0.98)
    return [t.points]


def _three(rng, style):
    mid = _r(rng, 0.4, 0.55)
    if style == "flat_top":
        t = Turtle(0.05, 0.02).to(0.9, 0.02).to(0.4, mid)
    else:
        t = Turtle(0.08, 0.12).arc(0.5, mid / 2, 0.4, mid / 2, 220, 430)
        if style == "looped":
            t.to(0.35, mid).arc(0.38, mid + 0.04, 0.05, 0.04, 270, 90)
        else:
            t.to(0.35, mid)
    t.arc(0.5, (mid + 1) / 2, 0.45, (1 - mid) / 2, -90, 140)
    return [t.points]


def _four(rng, style):
    sx, by = _r(rng, 0.55, 0.78), _r(rng, 0.5, 0.72)
    right = min(1.0, sx + _r(rng, 0.15, 0.35))
    if style == "closed":
        return [[(sx, 0.0), (0.0, by), (right, by)], [(sx, 0.05), (sx, 1.0)]]
    lx = _r(rng, 0.0, 0.35)
    if style == "one_stroke":  # down, right, up the stem and straight back down it
        return [[(lx, 0.0), (0.0, by), (right, by - 0.02), (sx, _r(rng, 0.0, 0.2)),
                 (sx - 0.02, 1.0)]]
    if style == "rounded":  # the elbow rounded like a U, the stem separate
        t = Turtle(lx, 0.0).arc(lx + 0.12, by - 0.12, 0.12, 0.12, 180, 90).to(right, by - 0.02)
        return [t.points, [(sx, _r(rng, 0.0, 0.3)), (sx, 1.0)]]
    return [[(lx, 0.0), (0.02, by), (right, by)], [(sx, _r(rng, 0.0, 0.3)), (sx + 0.02, 1.0)]]


def _five(rng, style):
    top, knee = _r(rng, 0.1, 0.3), _r(rng, 0.38, 0.52)
    belly = Turtle(top - 0.02, knee).arc(0.48, (knee + 1) / 2, 0.45, (1 - knee) / 2, -140, 130)
    flag = [(top, 0.02), (_r(rng, 0.7, 1.0), _r(rng, -0.03, 0.05))]
    if style == "one_stroke":
        return [[flag[1], flag[0], *belly.points]]
    return [[(top, 0.02), *belly.points], flag]


def _six(rng, style):
    ly = _r(rng, 0.35, 0.6)
    cy, ry = (ly + 1) / 2, (1 - ly) / 2
    if style == "straight_stem":
        t = Turtle(_r(rng, 0.5, 0.75), 0.0).to(0.08, cy)
    else:
        t = Turtle(0.85, 0.05).arc(0.75, cy, 0.67, cy - 0.05, -100, -180)
    t.arc(0.5, cy, 0.42, ry, 180, 180 - _r(rng, 330, 400))  # down, right, up, back
    return [t.points]


def _seven(rng, style):
    lx, fx = _r(rng, 0.0, 0.3), _r(rng, 0.2, 0.6)
    t = Turtle(lx, _r(rng, 0.0, 0.08))
    if style == "hook_start":
        t = Turtle(lx, 0.2).to(lx + 0.02, 0.03)
    if style == "rounded":  # the bar bends into the stem: close to a 2 without its curve
        t.to(0.8, 0.0).arc(0.8, 0.15, 0.15, 0.15, -90, 20)
    else:
        t.to(0.98, 0.02)
    t.to(fx, 1.0)
    if style in ("footed", "crossed_footed", "rounded"):
        t.to(fx + _r(rng, 0.12, 0.35), 0.98)
    strokes = [t.points]
    if style.startswith("crossed"):
        s = _r(rng, 0.4, 0.6)
        cx = 0.98 + (fx - 0.98) * s
        strokes.append([(cx - _r(rng, 0.15, 0.3), s), (cx + _r(rng, 0.15, 0.3), s - 0.03)])
    return strokes


def _eight(rng, style):
    w = _r(rng, 0.4, 0.55)
    if style == "two_loops":
        top = Turtle(0.5, w).arc(0.5, w / 2, 0.32, w / 2, 90, 450)
        bot = Turtle(0.5, w).arc(0.5, (w + 1) / 2, 0.45, (1 - w) / 2, -90, 270)
        return [top.points, bot.points]
    t = Turtle(0.85, 0.12).arc(0.5, w / 2, 0.35, w / 2, -30, -270)  # over the top, left side
    t.to(0.5, w).arc(0.5, (w + 1) / 2, 0.45, (1 - w) / 2, -90, 90).arc(
        0.5, (w + 1) / 2, 0.45, (1 - w) / 2, 90, 190)
    t.to(0.5, w).to(0.82, 0.15)
    return [t.points]


def _nine(rng, style):
    lb = _r(rng, 0.35, 0.55)
    rx = _r(rng, 0.3, 0.45)
    if style == "small_loop":  # a flat little loop, a long tail hooked left: read as 3
        lb, rx = _r(rng, 0.16, 0.4), _r(rng, 0.13, 0.3)
    gap = _r(rng, 30, 70) if style == "open_curled" else -_r(rng, 0, 30)
    loop = Turtle(0.5 + rx, lb / 2).arc(0.5, lb / 2, rx, lb / 2, 0, -360 + gap)
    sx = 0.5 + rx
    if style == "open_curled":  # a loop left open, then the tail hooks left: almost a 3
        return [loop.to(sx, lb / 2 + 0.05).to(sx - 0.02, 0.8)
                .arc(sx - 0.27, 0.8, 0.25, 0.2, 0, _r(rng, 100, 160)).points]
    if style == "separate_stem":
        return [loop.points, [(sx, 0.05), (sx - _r(rng, 0.0, 0.15), 1.0)]]
    if style in ("curled", "small_loop"):  # the tail hooks to the left, like a "g"
        loop.to(sx, 0.75).arc(sx - 0.25, 0.75, 0.25, 0.22, 0, _r(rng, 110, 190))
    elif style == "curved_tail":
        loop.to(sx - 0.05, 0.7).arc(sx - 0.35, 0.7, 0.3, 0.3, 0, 100)
    else:
        loop.to(sx - _r(rng, 0.0, 0.2), 1.0)
    return [loop.points]


STYLES: dict[int, tuple[str, ...]] = {
    0: ("counter", "clockwise"),
    1: ("stick", "short_flag", "long_flag", "long_flag_base", "short_flag_base"),
    2: ("plain", "looped", "wavy_base", "zed"),
    3: ("round", "flat_top", "looped"),
    4: ("open", "closed", "one_stroke", "rounded"),
    5: ("two_strokes", "one_stroke"),
    6: ("straight_stem", "curved_stem"),
    7: ("plain", "crossed", "footed", "hook_start", "crossed_footed", "rounded"),
    8: ("one_stroke", "two_loops"),
    9: ("straight", "curled", "curved_tail", "separate_stem", "open_curled", "small_loop"),
}
MAKERS: dict[int, Callable] = dict(enumerate(
    (_zero, _one, _two, _three, _four, _five, _six, _seven, _eight, _nine)))


# ---- from styles to canvas pixels ----


def _brush(stroke: Pen, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Mouse samples along a stroke at a varying speed, smoothed like a freehand brush."""
    pts = np.asarray(stroke, float)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    if dist[-1] == 0:
        return pts * scale
    # unit length per mouse sample: a slow hand, or (a quarter) a hasty one or a coarse
    # tablet whose few samples the brush joins into polygons
    fast = rng.random() < 0.25
    speed = (_r(rng, 0.12, 0.3) if fast else _r(rng, 0.02, 0.09)) / scale * CANVAS_SIZE * 0.25
    at = [0.0]
    while at[-1] < dist[-1]:
        at.append(at[-1] + speed * _r(rng, 0.4, 1.6))
    at[-1] = dist[-1]
    samples = np.stack([np.interp(at, dist, pts[:, 0]), np.interp(at, dist, pts[:, 1])], 1)
    if len(samples) < 3:
        return samples * scale
    mids = (samples[1:] + samples[:-1]) / 2  # quadratic curves through midpoints
    out = [samples[0]]
    for i in range(1, len(samples) - 1):
        p0, c, p1 = mids[i - 1], samples[i], mids[i]
        for t in np.linspace(0, 1, 6)[1:]:
            out.append((1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t**2 * p1)
    out.append(samples[-1])
    return np.asarray(out) * scale


def _tremor(path: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """A random walk, smoothed, added along the path: a hand that is not quite steady."""
    walk = np.cumsum(rng.normal(0, amount, path.shape), axis=0)
    kernel = np.ones(min(9, len(path))) / min(9, len(path))
    smooth = np.stack([np.convolve(walk[:, k], kernel, mode="same") for k in range(2)], 1)
    return path + smooth - smooth.mean(axis=0)


def heldout_digit_paths(n: int, seed: int, only: tuple[int, str] | None = None
                        ) -> list[tuple[int, list[np.ndarray]]]:
    """`n` held-out drawn digits, labels balanced and styles cycled: [(digit, strokes px)];
    with `only` = (digit, style), all of them that digit in that style."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % NUM_CLASSES) if only is None else [only[0]] * n
    counts = dict.fromkeys(range(NUM_CLASSES), 0)
    out = []
    for digit in list(labels):
        styles = STYLES[digit] if only is None else (only[1],)
        style = styles[counts[digit] % len(styles)]
        counts[digit] += 1
        strokes = MAKERS[digit](rng, style)
        # writer: slant, rotation, width; a unit box of 100 for brush speeds
        slant, angle = _r(rng, -0.15, 0.45), math.radians(rng.normal(0, 7))
        squeeze = _r(rng, 0.45, 1.05)
        paths = []
        for stroke in strokes:
            p = _brush(stroke, rng, 100.0) - 50.0
            p = _tremor(p, rng, _r(rng, 0.0, 0.35))
            p[:, 0] = p[:, 0] * squeeze - slant * p[:, 1]
            c, s = math.cos(angle), math.sin(angle)
            paths.append(p @ np.array([[c, s], [-s, c]]))
        out.append((digit, _fit(paths, rng)))
    return out


def _fit(paths: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Scale to 35-90% of the canvas height (the pen stays 20 px) and place anywhere."""
    allp = np.vstack(paths)
    lo, size = allp.min(0), np.ptp(allp, axis=0)
    height = _r(rng, 0.35, 0.9) * CANVAS_SIZE - STROKE_WIDTH
    scale = min(height / max(size[1], 1e-6), (CANVAS_SIZE - 2 * STROKE_WIDTH) / max(size[0], 1e-6))
    room = CANVAS_SIZE - 2 * STROKE_WIDTH - size * scale
    offset = STROKE_WIDTH + rng.uniform(0, 1, 2) * np.maximum(room, 0)
    return [(p - lo) * scale + offset for p in paths]


def render(paths: list[np.ndarray]) -> np.ndarray:
    """The canvas's look: white 20 px round pen on opaque black, (280, 280, 4) uint8."""
    k = OVERSAMPLE
    img = Image.new("L", (CANVAS_SIZE * k, CANVAS_SIZE * k), 0)
    pen = ImageDraw.Draw(img)
    r = STROKE_WIDTH * k / 2
    for path in paths:
        pts = [(float(x) * k, float(y) * k) for x, y in path]
        pen.line(pts, fill=255, width=STROKE_WIDTH * k)
        for x, y in pts:  # round joins and caps
            pen.ellipse((x - r, y - r, x + r, y + r), fill=255)
    gray = np.asarray(img.reduce(k))
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


def heldout_set(n: int = DEFAULT_N, seed: int = DEFAULT_SEED,
                only: tuple[int, str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Prepared held-out digits: ((n, 28, 28) float32, (n,) labels, style names)."""
    digits = heldout_digit_paths(n, seed, only)
    images = np.zeros((n, 28, 28), np.float32)
    for i, (_, paths) in enumerate(digits):
        prepared = canvas_to_mnist(render(paths))
        if prepared is not None:  # no digit found: left blank, so counted wrong
            images[i] = prepared
    labels = np.array([d for d, _ in digits])
    return images, labels, style_names(labels) if only is None else [only[1]] * n


def style_names(labels: np.ndarray) -> list[str]:
    """The style each digit of `heldout_digit_paths` was drawn in (they are cycled)."""
    counts = dict.fromkeys(range(NUM_CLASSES), 0)
    names = []
    for digit in labels.tolist():
        names.append(STYLES[digit][counts[digit] % len(STYLES[digit])])
        counts[digit] += 1
    return names


def report(pred: np.ndarray, labels: np.ndarray, styles: list[str]) -> str:
    """Accuracy overall, by digit, the worst styles and the top confusions, as text."""
    lines = [f"  accuracy         : {(pred == labels).mean():.4f}"]
    lines.append("  per digit        : " + " ".join(
        f"{d}:{(pred[labels == d] == d).mean():.3f}" for d in range(NUM_CLASSES)))
    keys = sorted({(int(d), s) for d, s in zip(labels, styles, strict=True)})
    by_style = []
    for d, s in keys:
        mask = (labels == d) & (np.array(styles) == s)
        by_style.append(((pred[mask] == d).mean(), f"{d}/{s}"))
    lines.append("  weakest styles   : " + ", ".join(
        f"{name} {acc:.2f}" for acc, name in sorted(by_style)[:6]))
    wrong = pred != labels
    pairs: dict[tuple[int, int], int] = {}
    for t, p in zip(labels[wrong], pred[wrong], strict=True):
        pairs[(int(t), int(p))] = pairs.get((int(t), int(p)), 0) + 1
    top = sorted(pairs.items(), key=lambda kv: -kv[1])[:6]
    lines.append("  top confusions   : " + ", ".join(f"{t}->{p} x{c}" for (t, p), c in top))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure every model given on the command line on the held-out set."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+", type=Path, help=".keras files")
    parser.add_argument("--n", type=int, default=DEFAULT_N)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--save", type=Path, help="save a PNG grid of the first digits")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    images, labels, styles = heldout_set(args.n, args.seed)
    seconds = time.perf_counter() - start
    print(f"{args.n} held-out drawn digits (seed {args.seed}) in {seconds:.1f} s")
    if args.save:
        grid = images[:200].reshape(10, 20, 28, 28).transpose(0, 2, 1, 3).reshape(280, 560)
        Image.fromarray((grid * 255).astype(np.uint8)).save(args.save)
    from mnist_core.tf_setup import keras

    for path in args.models:
        model = keras.models.load_model(path, compile=False)
        pred = model.predict(images, batch_size=500, verbose=0).argmax(axis=1)
        print(f"== {path}\n{report(pred, labels, styles)}")


if __name__ == "__main__":
    main()
