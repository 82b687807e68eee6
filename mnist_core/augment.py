"""Augment MNIST so it looks like digits drawn on the canvas, then normalise like them;
add synthetic drawn digits (`mnist_core.strokes`) in the styles MNIST lacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from mnist_core.constants import IMAGE_SHAPE, IMAGE_SIZE
from mnist_core.errors import ConfigError
from mnist_core.preprocess import normalize_digit, stroke_width
from mnist_core.strokes import drawn_digit_paths, render_ink

if TYPE_CHECKING:
    import tensorflow as tf

UPSAMPLE = 2  # warp and re-pen at 2x, so normalize_digit anti-aliases back down
FIELD = 36  # the warped digit lands on a 36x36 field (28x28 px units): nothing is cut off
WORK_SIZE = FIELD * UPSAMPLE  # 72
COARSE_GRID = 4  # elastic distortion: random offsets on a 4x4 grid, smoothly interpolated
CHUNK = 128  # images warped at once: small enough to stay in the CPU cache
DEFAULT_COPIES = 4  # augmented copies of the training set drawn once, besides the originals
# Synthetic drawn digits added to the pool per training image: MNIST's writers rarely
# crossed a 7, curled a 9's tail or flagged a 1 far down, and pen trajectories differ from
# scanned ink. A tenth of the pool (30,000 drawn digits for 60,000 images, ~45 s to make).
DRAWN_PER_IMAGE = 0.5
DRAWN_SEED_OFFSET = 7919  # the drawn digits' seed, apart from the augmentation's
DRAWN_HEIGHTS = (0.3, 0.95)  # of the canvas: small digits have relatively thick strokes


@dataclass(frozen=True)
class AugmentParams:
    """Ranges of the random distortions (angles in degrees, lengths in 28x28 pixels)."""

    rotation: float = 15.0  # uniform in [-15, 15]
    shear: float = 0.35  # slant: x += shear * y, uniform in [-0.35, 0.35]
    aspect: float = 0.25  # width scaled by exp(uniform(-0.25, 0.25))
    elastic: float = 1.2  # std of the coarse grid offsets
    # Probabilities of growing the strokes by 0, 1 or 2 px at 2x (3x3 max filter)...
    dilation: tuple[float, ...] = (0.6, 0.3, 0.1)
    # ...then redrawing them as a pen would: ink where the image is above a level drawn
    # from this range (high = thinner), with a soft edge so they are anti-aliased.
    pen_level: tuple[float, float] = (0.25, 0.65)
    flag_one: float = 0.3  # share of 1s given a flag at the top, as many people write them


PEN_EDGE = 0.3  # width of the soft edge in intensity units
FLAG_LENGTH = (0.15, 0.35)  # of the digit height
FLAG_ANGLE = (30.0, 60.0)  # degrees between the flag and the stroke it hangs from
FLAG_MIN_DROP = 20.0  # degrees below the horizontal at least: flatter would make a 7


def augment_images(
    x: np.ndarray,
    rng: np.random.Generator,
    params: AugmentParams | None = None,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Distort (N, 28, 28) images in [0, 1] and re-normalise them like `canvas_to_mnist`.

    With `labels` (N,), some 1s also get a flag. Returns (N, 28, 28) float32 in [0, 1];
    an image that normalises to nothing (real digits don't) is returned unchanged.
    """
    params = params or AugmentParams()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
        raise ConfigError(f"expected (N, 28, 28) images, got shape {x.shape}")
    if labels is not None and len(labels) != len(x):
        raise ConfigError(f"got {len(labels)} labels for {len(x)} images")
    out = np.empty_like(x)  # (N, 28, 28) float32
    for start in range(0, len(x), CHUNK):
        batch = x[start : start + CHUNK]
        big = _warp(batch, rng, params)  # (B, 72, 72)
        big = _dilate(big, rng, params.dilation)
        big = _pen(big, rng, params.pen_level)
        if labels is not None:
            ones = np.flatnonzero(np.asarray(labels[start : start + CHUNK]) == 1)
            for i in ones[rng.random(len(ones)) < params.flag_one]:
                big[i] = _add_flag(big[i], rng)
        for i, image in enumerate(big):
            normalized = normalize_digit(image)
            out[start + i] = batch[i] if normalized is None else normalized
    return out


def _warp(x: np.ndarray, rng: np.random.Generator, params: AugmentParams) -> np.ndarray:
    """Random rotation, slant, aspect and elastic warp of (B, 28, 28) to (B, 72, 72)."""
    n = len(x)
    angle = np.radians(rng.uniform(-params.rotation, params.rotation, n))
    shear = rng.uniform(-params.shear, params.shear, n)
    aspect = np.exp(rng.uniform(-params.aspect, params.aspect, n))
    cos, sin = np.cos(angle), np.sin(angle)
    # Forward map (output = A @ source): rotate @ shear @ scale-x. Sampling needs A^-1.
    a = np.empty((n, 2, 2))
    a[:, 0, 0] = cos * aspect
    a[:, 0, 1] = cos * shear - sin
    a[:, 1, 0] = sin * aspect
    a[:, 1, 1] = sin * shear + cos
    inv = np.linalg.inv(a)  # (B, 2, 2) acting on (x, y)
    centre = (IMAGE_SIZE - 1) / 2  # of the source, in pixel-centre coordinates
    grid = (np.arange(WORK_SIZE) + 0.5) / UPSAMPLE - FIELD / 2  # (72,) offsets, 28-px units
    gx, gy = np.meshgrid(grid, grid)  # (72, 72) each
    src_x = inv[:, 0, 0, None, None] * gx + inv[:, 0, 1, None, None] * gy + centre
    src_y = inv[:, 1, 0, None, None] * gx + inv[:, 1, 1, None, None] * gy + centre
    src_x += _smooth_field(n, rng, params.elastic)  # (B, 72, 72)
    src_y += _smooth_field(n, rng, params.elastic)
    return _bilinear(x, src_x, src_y)


def _smooth_field(n: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """(n, 72, 72) smooth random offsets: a 4x4 grid of N(0, scale) upsampled bilinearly."""
    coarse = rng.normal(0.0, scale, (n, COARSE_GRID, COARSE_GRID))
    pos = np.linspace(0, COARSE_GRID - 1, WORK_SIZE)
    weights = np.maximum(0.0, 1.0 - np.abs(pos[:, None] - np.arange(COARSE_GRID)))  # (72, 4)
    return weights @ coarse @ weights.T  # (n, 72, 72)


def _bilinear(x: np.ndarray, src_x: np.ndarray, src_y: np.ndarray) -> np.ndarray:
    """Sample (B, 28, 28) at (B, H, W) coordinates, zero outside: (B, H, W) float32."""
    n, size = len(x), IMAGE_SIZE
    padded = np.zeros((n, size + 2, size + 2), np.float32)  # a zero border
    padded[:, 1:-1, 1:-1] = x
    sx = np.clip(src_x, -1.0, size) + 1.0  # padded coordinates in [0, size + 1]
    sy = np.clip(src_y, -1.0, size) + 1.0
    x0 = np.minimum(np.floor(sx).astype(np.int64), size)
    y0 = np.minimum(np.floor(sy).astype(np.int64), size)
    wx = (sx - x0).astype(np.float32)
    wy = (sy - y0).astype(np.float32)
    stride = size + 2
    flat = padded.ravel()  # (B * 30 * 30,)
    index = (np.arange(n)[:, None, None] * stride + y0) * stride + x0  # (B, H, W)
    top = flat.take(index) * (1 - wx) + flat.take(index + 1) * wx
    bottom = flat.take(index + stride) * (1 - wx) + flat.take(index + stride + 1) * wx
    return top * (1 - wy) + bottom * wy


def _dilate(
    x: np.ndarray, rng: np.random.Generator, probabilities: tuple[float, ...]
) -> np.ndarray:
    """Grow the strokes of each (B, H, W) image by 0, 1, ... 3x3 max filters, at random."""
    steps = rng.choice(len(probabilities), size=len(x), p=probabilities)
    out = x.copy()
    for level in range(1, int(steps.max(initial=0)) + 1):
        pick = steps >= level
        out[pick] = _filter3(out[pick], np.maximum)
    return out


def _pen(x: np.ndarray, rng: np.random.Generator, level: tuple[float, float]) -> np.ndarray:
    """Redraw (B, H, W) strokes with crisp soft edges at a random level of each image's peak."""
    peak = x.reshape(len(x), -1).max(axis=1)[:, None, None]  # (B, 1, 1)
    cut = rng.uniform(*level, (len(x), 1, 1)) * peak
    return np.clip((x - cut) / (PEN_EDGE * np.maximum(peak, 1e-6)) + 0.5, 0.0, 1.0)


def _add_flag(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a flag from the top of a 1 down to the left, as thick as its stroke: (H, W).

    The flag makes an acute angle (FLAG_ANGLE) with the stroke, so it turns with the
    stroke's slant, but never gets flatter than FLAG_MIN_DROP: that would be a 7.
    """
    ink = image > 0.5
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size < 2:
        return image
    top, bottom = rows[0], rows[-1]
    width = max(1.0, stroke_width(image))
    x0 = float(np.flatnonzero(ink[top]).mean())
    lean = np.arctan2(x0 - float(np.flatnonzero(ink[bottom]).mean()), bottom - top)
    y0 = top + width / 2
    length = rng.uniform(*FLAG_LENGTH) * (bottom - top + 1)
    between = np.radians(rng.uniform(*FLAG_ANGLE))  # the acute angle flag-to-stroke
    low, high = np.radians(FLAG_MIN_DROP), np.pi / 2 - between
    angle = float(np.clip(np.pi / 2 - lean - between, low, max(low, high)))  # below horizontal
    x1, y1 = x0 - length * np.cos(angle), y0 + length * np.sin(angle)
    flag = Image.new("L", (image.shape[1], image.shape[0]), 0)
    pen = ImageDraw.Draw(flag)
    pen.line([(x0, y0), (x1, y1)], fill=255, width=max(1, round(width)))
    r = width / 2
    pen.ellipse((x1 - r, y1 - r, x1 + r, y1 + r), fill=255)
    return np.maximum(image, np.asarray(flag, dtype=np.float32) / 255.0)


def _filter3(x: np.ndarray, op: np.ufunc) -> np.ndarray:
    """3x3 max or min filter of (B, H, W), edges padded with zeros (so ink can't grow in)."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    h, w = x.shape[1:]
    out = padded[:, 1 : 1 + h, 1 : 1 + w].copy()
    for dy in range(3):
        for dx in range(3):
            op(out, padded[:, dy : dy + h, dx : dx + w], out=out)
    return out


def drawn_pool(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` synthetic drawn digits prepared like canvas drawings, labels balanced.

    Returns ((n, 28, 28) uint8 in 0..255, (n,) int32). Drawn without anti-aliasing (16x
    faster): shrinking to the 20 px box averages the edges anyway.
    """
    images = np.zeros((n, *IMAGE_SHAPE), np.uint8)
    labels = np.zeros(n, np.int32)
    for i, (digit, paths) in enumerate(drawn_digit_paths(n, seed, DRAWN_HEIGHTS)):
        digit_image = normalize_digit(render_ink(paths, supersample=1) / np.float32(255))
        labels[i] = digit
        if digit_image is not None:  # every drawn digit has ink; kept safe anyway
            images[i] = np.round(digit_image * 255)
    return images, labels


def augmented_pool(
    x: np.ndarray, y: np.ndarray, *, seed: int, copies: int = DEFAULT_COPIES, drawn: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The originals, `copies` augmented copies, then `drawn` synthetic drawn digits.

    `x` is (N, 28, 28) in [0, 1]. Returns ((M, 28, 28) uint8 in 0..255, (M,) int32),
    M = N * (copies + 1) + drawn; uint8 keeps 60,000 x 5 images at 235 MB.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ConfigError(f"need as many labels as images (>0), got {len(x)} and {len(y)}")
    if copies < 0:
        raise ConfigError(f"copies must be >= 0, got {copies}")
    if drawn < 0:
        raise ConfigError(f"drawn must be >= 0, got {drawn}")
    rng = np.random.default_rng(seed)
    pool = [x] + [augment_images(x, rng, labels=y) for _ in range(copies)]
    images = np.round(np.concatenate(pool) * 255).astype(np.uint8)  # (M, 28, 28)
    labels = np.tile(y.astype(np.int32), copies + 1)
    if drawn:
        drawn_images, drawn_labels = drawn_pool(drawn, seed + DRAWN_SEED_OFFSET)
        images = np.concatenate([images, drawn_images])
        labels = np.concatenate([labels, drawn_labels])
    return images, labels


def augmented_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    copies: int = DEFAULT_COPIES,
    drawn: int | None = None,
) -> tf.data.Dataset:
    """Shuffled batches, forever, drawn from `augmented_pool(x, y, ...)`; `drawn` synthetic
    drawn digits join the pool (None: DRAWN_PER_IMAGE per training image).

    Yields (images (B, 28, 28) float32 in [0, 1], labels (B,) int32). The pool is made
    once, up front (about 20-30 s per copy of 60,000 images on 2 cores); each pass of
    N / batch_size steps then sees N examples of the (copies + 1) * N in the pool.
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if drawn is None:
        drawn = round(DRAWN_PER_IMAGE * len(x))
    pool, pool_labels = augmented_pool(x, y, seed=seed, copies=copies, drawn=drawn)
    images = tf.constant(pool)  # (M, 28, 28) uint8
    labels = tf.constant(pool_labels)  # (M,) int32
    size = len(pool_labels)

    def gather(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch = tf.cast(tf.gather(images, index), tf.float32) / 255.0  # (B, 28, 28)
        return batch, tf.gather(labels, index)

    return (
        tf.data.Dataset.range(size)
        .shuffle(size, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
