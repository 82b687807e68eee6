"""Prepare a drawing or a photo of a digit exactly the way MNIST digits were prepared."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from mnist_core.constants import DIGIT_BOX, IMAGE_SHAPE, IMAGE_SIZE
from mnist_core.errors import ConfigError, ImageError

INK_THRESHOLD = 0.2  # a pixel at least this bright counts as ink for the bounding box
FULL_FRACTION = 0.9  # ink over more than this share of the image: a filled canvas, no digit
MIN_EXTENT_FRACTION = 0.04  # ink narrower than this share of the image side: a speck
SPECK_EXTENT_FRACTION = 0.2  # a compact blob smaller than this share of the side...
SPECK_FILL = 0.5  # ...filling more than half of its bounding square is a dot, not a digit
# MNIST's centre of mass sits at pixel (14.0, 14.0) (mean over the training set, std 0.3).
MNIST_CENTER = IMAGE_SIZE / 2
MAX_IMAGE_SIDE = 560  # photos are shrunk to this before anything else: keeps it fast
# Larger images are refused from their header, before decoding: a 64 MP photo decodes to
# ~200 MB; Pillow itself only warns below 179 MP and refuses above.
MAX_IMAGE_PIXELS = 64_000_000
MIN_CONTRAST = 0.1  # darkest ink must differ from the paper by this much (of full scale)
PAPER_NOISE_SIGMAS = 4.0  # ink must stand this many noise std above the paper's level
# Stroke widths (px, by `stroke_width` on the fitted digit) that are left alone: MNIST's
# 1st-99th percentiles (median 2.4). The 20 px pen on the 280 px canvas gives 1.7-2.7
# (5-95%), so only unusually thin or thick pens are redrawn.
MIN_STROKE = 1.5
MAX_STROKE = 4.5
# Width a redrawn digit's pen gets, drawn sharp at 4x: it measures ~1.9-2.1 once fitted.
TYPICAL_STROKE = 2.0
RESTROKE_SCALE = 4  # strokes are redrawn at 4x the final size, then area-averaged down
THIN_LINE_LEVEL = 0.3  # a thin line's centre: brighter than this share of its peak


def normalize_digit(ink: np.ndarray) -> np.ndarray | None:
    """Crop ink, fit its longest side to 20 px (anti-aliased), centre its mass in 28x28.

    `ink` is (H, W) float in [0, 1], 1 = ink. Returns (28, 28) float32 in [0, 1], or
    None when there is no digit: blank, a single speck, or ink over more than 90% of it.
    Strokes far thinner or thicker than MNIST's are redrawn first (see `restroke`).
    """
    ink = np.asarray(ink, dtype=np.float32)
    if ink.ndim != 2 or ink.size == 0:
        raise ConfigError(f"expected a (H, W) ink image, got shape {ink.shape}")
    mask = ink > INK_THRESHOLD  # (H, W) bool
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0 or mask.mean() > FULL_FRACTION:
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    longest = max(bottom - top, right - left)
    if _is_speck(mask, longest, max(ink.shape)):
        return None
    crop = np.minimum(np.maximum(ink[top:bottom, left:right], 0.0), 1.0)  # (h, w) float32
    digit = fit_digit_box(crop)  # (h', w') float32, longest side 20
    if not MIN_STROKE <= stroke_width(digit) <= MAX_STROKE:
        redrawn = restroke(crop)  # (h'', w'') 0/1 at 4x the final size
        rows = np.flatnonzero(redrawn.any(axis=1))
        cols = np.flatnonzero(redrawn.any(axis=0))
        if rows.size:
            digit = fit_digit_box(redrawn[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    return center_by_mass(digit)


def fit_digit_box(crop: np.ndarray) -> np.ndarray:
    """Scale a (h, w) crop so its longest side is 20 px, anti-aliased: (h', w') float32."""
    scale = DIGIT_BOX / max(crop.shape)
    height = max(1, round(crop.shape[0] * scale))
    width = max(1, round(crop.shape[1] * scale))
    image = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32))
    small = image.resize((width, height), Image.Resampling.BOX)  # area average
    digit = np.asarray(small, dtype=np.float32)  # (h', w') <= (20, 20)
    return np.minimum(np.maximum(digit, 0.0), 1.0)


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels of (H, W) ink: twice its area over its outline length."""
    ink = np.asarray(ink, dtype=np.float32)
    padded = np.zeros((ink.shape[0] + 2, ink.shape[1] + 2), np.float32)  # outline at edges
    padded[1:-1, 1:-1] = ink
    dy = np.diff(padded, axis=0)[:, 1:]  # (H+1, W+1)
    dx = np.diff(padded, axis=1)[1:, :]
    outline = float(np.sqrt(dx * dx + dy * dy).sum())
    return 2.0 * float(padded.sum()) / outline if outline > 0 else 0.0


def restroke(crop: np.ndarray) -> np.ndarray:
    """Redraw a cropped digit with a round pen of MNIST's typical stroke width.

    `crop` is (h, w) ink in [0, 1] cropped to the digit. A thin line is thickened around
    its centre and a thick one thinned, at 4x the final resolution, so that its strokes
    end up TYPICAL_STROKE px wide once the digit is fitted to the 20 px box. Returns a
    (h', w') float32 0/1 image at the working resolution.
    """
    factor = RESTROKE_SCALE * DIGIT_BOX / max(crop.shape)  # crop px -> work px
    size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    filt = Image.Resampling.BOX if factor < 1 else Image.Resampling.BILINEAR
    work = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(size, filt))
    work_long, work_width = RESTROKE_SCALE * DIGIT_BOX, stroke_width(work)
    # Solve new * 20 / (work_long + new - work_width) = TYPICAL_STROKE for the new width.
    new_width = TYPICAL_STROKE * (work_long - work_width) / (DIGIT_BOX - TYPICAL_STROKE)
    radius = (new_width - work_width) / 2
    if radius > 0:  # thicken the pen around the line's centre
        line = work > THIN_LINE_LEVEL * float(work.max())
        return _disc_filter(line, radius, grow=True).astype(np.float32)
    shape = work > 0.5
    thinner = _disc_filter(shape, -radius, grow=False)
    return (thinner if thinner.any() else shape).astype(np.float32)


def _disc_filter(mask: np.ndarray, radius: float, grow: bool) -> np.ndarray:
    """Dilate (grow, adding a margin of the radius) or erode a (h, w) bool mask by a disc."""
    reach = int(np.ceil(radius))
    h, w = mask.shape
    padded = np.pad(mask, 2 * reach if grow else reach, constant_values=False)
    out_h, out_w = (h + 2 * reach, w + 2 * reach) if grow else (h, w)
    out = np.zeros((out_h, out_w), bool) if grow else np.ones((out_h, out_w), bool)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dy * dy + dx * dx > radius * radius + 0.25:
                continue
            window = padded[reach + dy : reach + dy + out_h, reach + dx : reach + dx + out_w]
            if grow:
                out |= window
            else:
                out &= window
    return out


def center_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste a (h, w) digit (h, w <= 28) into 28x28 with its centre of mass at (14, 14)."""
    height, width = digit.shape
    mass = float(digit.sum())
    if mass > 0:
        com_y = float(digit.sum(axis=1) @ np.arange(height)) / mass
        com_x = float(digit.sum(axis=0) @ np.arange(width)) / mass
    else:
        com_y, com_x = (height - 1) / 2, (width - 1) / 2
    y0 = int(np.clip(round(MNIST_CENTER - com_y), 0, IMAGE_SIZE - height))
    x0 = int(np.clip(round(MNIST_CENTER - com_x), 0, IMAGE_SIZE - width))
    out = np.zeros(IMAGE_SHAPE, dtype=np.float32)  # (28, 28) float32 in [0, 1]
    out[y0 : y0 + height, x0 : x0 + width] = digit
    return out


def _is_speck(mask: np.ndarray, longest: int, side: int) -> bool:
    """Whether the ink is a lone dot rather than a digit."""
    if longest < MIN_EXTENT_FRACTION * side:
        return True
    compact = mask.sum() / float(longest * longest) > SPECK_FILL
    return bool(compact and longest < SPECK_EXTENT_FRACTION * side)


def canvas_ink(rgba: np.ndarray) -> np.ndarray:
    """Ink of a canvas image: alpha if its background is transparent, else brightness.

    `rgba` is (H, W, 4) uint8 (light ink on black) or (H, W, 3) / (H, W) uint8.
    Returns (H, W) float32 in [0, 1].
    """
    arr = np.asarray(rgba)
    if arr.ndim == 2:
        return arr.astype(np.float32) / 255.0
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.size == 0:
        raise ConfigError(f"expected an (H, W, 4) RGBA canvas image, got shape {arr.shape}")
    if arr.shape[2] == 4 and _has_transparency(arr[..., 3]):
        return arr[..., 3].astype(np.float32) / 255.0
    return _luminance(arr[..., :3])


def canvas_to_mnist(rgba: np.ndarray) -> np.ndarray | None:
    """Canvas RGBA (H, W, 4) uint8 -> (28, 28) float32 in [0, 1] like MNIST, or None.

    None means no digit: a blank canvas, a single dot, or a canvas (almost) filled with ink.
    """
    return normalize_digit(canvas_ink(rgba))


def image_to_mnist(image: Image.Image | np.ndarray) -> np.ndarray | None:
    """A photo, scan or PNG of one digit -> (28, 28) float32 in [0, 1] like MNIST, or None.

    Dark ink on light paper is inverted (judged by the median of the image border); the
    paper's level and noise are subtracted and the contrast stretched before
    `normalize_digit`. A transparent background means the alpha channel is the ink.
    """
    ink = _image_ink(image)
    if ink is None:
        return None
    return normalize_digit(ink)


def check_image_size(image: Image.Image) -> None:
    """Raise ImageError if the image has more than MAX_IMAGE_PIXELS (known before decoding)."""
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"too large: {width} x {height} pixels ({width * height / 1e6:.0f} megapixels; "
            f"the limit is {MAX_IMAGE_PIXELS // 1_000_000} megapixels)")


def _image_ink(image: Image.Image | np.ndarray) -> np.ndarray | None:
    """Levelled ink (H, W) float32 in [0, 1] of any image, or None if it is flat."""
    if isinstance(image, Image.Image):
        check_image_size(image)  # a lazily opened file is not decoded yet
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            arr = np.asarray(image, dtype=np.float64)
            scale = 255.0 if arr.size and arr.max() <= 1.0 else 1.0
            image = np.clip(arr * scale, 0, 255).astype(np.uint8)
        image = Image.fromarray(image)
    image = ImageOps.exif_transpose(image)
    if max(image.size) > MAX_IMAGE_SIDE:
        image = image.copy()
        image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.BOX)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"))
        if _has_transparency(rgba[..., 3]):
            return rgba[..., 3].astype(np.float32) / 255.0
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0  # (H, W)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])  # (2H + 2W,)
    paper = float(np.median(border))
    if paper > 0.5:  # dark digit on light paper
        gray, border, paper = 1.0 - gray, 1.0 - border, 1.0 - paper
    darkest = float(np.percentile(gray, 99.5))
    if darkest - paper < MIN_CONTRAST:
        return None
    noise = 1.4826 * float(np.median(np.abs(border - paper)))  # robust std of the paper
    floor = paper + min(PAPER_NOISE_SIGMAS * noise, 0.5 * (darkest - paper))
    return np.clip((gray - floor) / (darkest - floor), 0.0, 1.0)


def _has_transparency(alpha: np.ndarray) -> bool:
    """Whether an alpha channel (H, W) uint8 has a transparent background."""
    return bool((alpha < 128).mean() > 0.01)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float32 in [0, 1], ITU-R 601 luma like PIL's "L"."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255.0
    return rgb.astype(np.float32) @ weights
