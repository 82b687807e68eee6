"""canvas_to_mnist / image_to_mnist prepare drawings the way MNIST digits were prepared."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_core.constants import DIGIT_BOX, IMAGE_SHAPE
from mnist_core.data import MnistData
from mnist_core.errors import ConfigError
from mnist_core.preprocess import (
    MAX_STROKE,
    MIN_STROKE,
    MNIST_CENTER,
    canvas_ink,
    canvas_to_mnist,
    center_by_mass,
    image_to_mnist,
    normalize_digit,
    stroke_width,
)

CANVAS = 280
# A "7" in canvas pixels, roughly centred and 180 px tall.
SEVEN = [(70.0, 60.0), (200.0, 55.0), (120.0, 240.0)]
SEVEN_BAR = [(110.0, 150.0), (180.0, 150.0)]


def draw(
    paths: list[list[tuple[float, float]]],
    width: int = 20,
    shift: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    size: int = CANVAS,
) -> np.ndarray:
    """White round-capped strokes on a black (H, W) uint8 canvas, like the app's pen."""
    img = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(img)
    r = width / 2
    for path in paths:
        pts = [(x * scale + shift[0], y * scale + shift[1]) for x, y in path]
        if len(pts) > 1:
            pen.line(pts, fill=255, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):
            pen.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img)


def opaque(gray: np.ndarray) -> np.ndarray:
    """(H, W) ink -> (H, W, 4) RGBA: white ink on an opaque black background."""
    rgba = np.repeat(gray[..., None], 4, axis=2)
    rgba[..., 3] = 255
    return rgba


def transparent(gray: np.ndarray) -> np.ndarray:
    """(H, W) ink -> (H, W, 4) RGBA: white ink, alpha = ink, on a transparent background."""
    rgba = np.full((*gray.shape, 4), 255, np.uint8)
    rgba[..., 3] = gray
    return rgba


def center_of_mass(img: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of mass of a (H, W) image."""
    rows, cols = np.indices(img.shape)
    mass = img.sum()
    return float((rows * img).sum() / mass), float((cols * img).sum() / mass)


def bbox_size(img: np.ndarray, threshold: float = 0.05) -> tuple[int, int]:
    """(height, width) of the pixels above `threshold`."""
    rows = np.flatnonzero((img > threshold).any(axis=1))
    cols = np.flatnonzero((img > threshold).any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


DRAWINGS = {
    "centred seven": draw([SEVEN, SEVEN_BAR]),
    "off-centre seven": draw([SEVEN, SEVEN_BAR], shift=(-50, 20)),
    "tiny seven": draw([SEVEN], width=4, scale=0.25, shift=(10, 10)),
    "huge seven": draw([SEVEN], scale=1.2, shift=(-20, -40)),
    "thick seven": draw([SEVEN], width=45),
    "thin seven": draw([SEVEN], width=3),
    "long horizontal stroke": draw([[(20.0, 140.0), (260.0, 145.0)]]),
    "vertical one": draw([[(140.0, 30.0), (140.0, 250.0)]]),
    "zero in a corner": draw(
        [[(40.0, 40.0), (10.0, 70.0), (40.0, 120.0), (70.0, 70.0), (40.0, 40.0)]]
    ),
}


@pytest.fixture(params=sorted(DRAWINGS), ids=sorted(DRAWINGS))
def drawing(request: pytest.FixtureRequest) -> np.ndarray:
    """One canvas drawing as (280, 280, 4) RGBA."""
    return opaque(DRAWINGS[request.param])


def test_output_is_mnist_shaped(drawing: np.ndarray) -> None:
    out = canvas_to_mnist(drawing)
    assert out is not None
    assert out.shape == IMAGE_SHAPE
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() > 0.9  # the pen's core stays full ink


def test_longest_side_fills_the_digit_box(drawing: np.ndarray) -> None:
    out = canvas_to_mnist(drawing)
    assert out is not None
    assert max(bbox_size(out)) in (DIGIT_BOX - 1, DIGIT_BOX, DIGIT_BOX + 1)


def test_centre_of_mass_is_centred(drawing: np.ndarray) -> None:
    out = canvas_to_mnist(drawing)
    assert out is not None
    row, col = center_of_mass(out)
    assert abs(row - MNIST_CENTER) <= 0.75
    assert abs(col - MNIST_CENTER) <= 0.75


@pytest.mark.parametrize("pen", [1, 3, 8, 20, 45, 70])
def test_any_pen_ends_up_with_an_mnist_stroke_width(pen: int) -> None:
    out = canvas_to_mnist(opaque(draw([SEVEN, SEVEN_BAR], width=pen)))
    assert out is not None
    assert MIN_STROKE <= stroke_width(out) <= MAX_STROKE
    assert out.max() > 0.9  # a thin pen is redrawn, not left as a faint line


@pytest.mark.parametrize("pen", [18, 20, 30])
def test_ordinary_pens_are_not_redrawn(pen: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import mnist_core.preprocess as preprocess

    def fail(crop: np.ndarray) -> np.ndarray:
        raise AssertionError("restroke called")

    monkeypatch.setattr(preprocess, "restroke", fail)
    assert canvas_to_mnist(opaque(draw([SEVEN, SEVEN_BAR], width=pen))) is not None


def test_aspect_ratio_is_kept() -> None:
    out = canvas_to_mnist(opaque(DRAWINGS["long horizontal stroke"]))
    assert out is not None
    height, width = bbox_size(out)
    assert width >= DIGIT_BOX - 1
    assert height <= 4  # a 25 px tall stroke over 260 px: about 2 px of 20


def test_position_on_the_canvas_does_not_matter() -> None:
    centred = canvas_to_mnist(opaque(DRAWINGS["centred seven"]))
    moved = canvas_to_mnist(opaque(DRAWINGS["off-centre seven"]))
    assert centred is not None and moved is not None
    np.testing.assert_allclose(moved, centred, atol=1e-5)


def test_size_on_the_canvas_barely_matters() -> None:
    big = canvas_to_mnist(opaque(draw([SEVEN], width=20)))
    small = canvas_to_mnist(opaque(draw([SEVEN], width=10, scale=0.5, shift=(80, 20))))
    assert big is not None and small is not None
    assert correlation(big, small) > 0.95


def test_transparent_background_reads_the_alpha_channel() -> None:
    gray = DRAWINGS["centred seven"]
    out = canvas_to_mnist(transparent(gray))
    assert out is not None
    np.testing.assert_allclose(out, canvas_to_mnist(opaque(gray)), atol=1e-5)


@pytest.mark.parametrize(
    "canvas",
    [
        pytest.param(opaque(np.zeros((CANVAS, CANVAS), np.uint8)), id="blank"),
        pytest.param(transparent(np.zeros((CANVAS, CANVAS), np.uint8)), id="blank transparent"),
        pytest.param(opaque(draw([[(150.0, 100.0)]])), id="a dot"),
        pytest.param(opaque(draw([[(150.0, 100.0), (154.0, 103.0)]])), id="a short dab"),
        pytest.param(opaque(draw([[(50.0, 200.0)]], width=4)), id="a speck"),
        pytest.param(opaque(np.full((CANVAS, CANVAS), 255, np.uint8)), id="filled white"),
        pytest.param(transparent(np.full((CANVAS, CANVAS), 255, np.uint8)), id="filled alpha"),
    ],
)
def test_no_digit_gives_none(canvas: np.ndarray) -> None:
    assert canvas_to_mnist(canvas) is None


def test_faint_noise_is_not_ink() -> None:
    noisy = np.random.default_rng(0).integers(0, 40, (CANVAS, CANVAS), dtype=np.uint8)
    assert canvas_to_mnist(opaque(noisy)) is None


@pytest.mark.parametrize("shape", [(280, 280, 2), (0, 0, 4), (5, 5, 5), (2, 28, 28, 4)])
def test_bad_canvas_shapes_are_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError):
        canvas_to_mnist(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("shape", [(28,), (2, 28, 28), (0, 5)])
def test_bad_ink_shapes_are_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError):
        normalize_digit(np.zeros(shape, np.float32))


def test_rgb_and_gray_canvases_work_too() -> None:
    gray = DRAWINGS["centred seven"]
    expected = canvas_to_mnist(opaque(gray))
    np.testing.assert_allclose(canvas_to_mnist(opaque(gray)[..., :3]), expected, atol=1e-5)
    np.testing.assert_allclose(canvas_to_mnist(gray), expected, atol=1e-5)


def test_canvas_ink_is_brightness_on_an_opaque_canvas() -> None:
    rgba = opaque(DRAWINGS["centred seven"])
    rgba[..., 1:3] = 0  # red ink: dimmer than white
    ink = canvas_ink(rgba)
    assert ink.dtype == np.float32
    assert 0.25 < ink.max() < 0.35  # luma of pure red


def test_mnist_digits_come_back_unchanged(mnist_digits: np.ndarray) -> None:
    """MNIST was made this way: normalising its digits again changes (almost) nothing."""
    scores = [correlation(d, normalize_digit(d)) for d in mnist_digits]
    assert np.median(scores) > 0.999
    assert np.mean(np.array(scores) > 0.95) > 0.9


def test_center_by_mass_puts_mass_at_the_mnist_centre() -> None:
    digit = np.zeros((20, 10), np.float32)
    digit[:5, :] = 1.0  # all the mass near the top
    out = center_by_mass(digit)
    assert out.shape == IMAGE_SHAPE
    row, col = center_of_mass(out)
    assert abs(col - MNIST_CENTER) <= 0.5
    assert row == pytest.approx(2.0 + 8)  # clipped: the box ends at the bottom edge
    assert out.sum() == pytest.approx(digit.sum())


@pytest.fixture
def paper_seven() -> np.ndarray:
    """A "7" as a dark-on-light photo: grey paper, dark ink, a little noise; (H, W) uint8."""
    ink = draw([SEVEN, SEVEN_BAR], size=CANVAS).astype(np.float32) / 255
    noise = np.random.default_rng(1).normal(0, 4, ink.shape)
    photo = 205 - 160 * ink + noise  # paper ~205, ink ~45
    return np.clip(photo, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("as_pil", [False, True], ids=["ndarray", "PIL"])
def test_dark_on_light_photo_is_inverted(paper_seven: np.ndarray, as_pil: bool) -> None:
    image = Image.fromarray(paper_seven) if as_pil else paper_seven
    out = image_to_mnist(image)
    expected = canvas_to_mnist(opaque(DRAWINGS["centred seven"]))
    assert out is not None and expected is not None
    assert out.shape == IMAGE_SHAPE and out.dtype == np.float32
    assert correlation(out, expected) > 0.95
    assert out[0].max() == 0.0  # the paper itself is not ink


def test_light_on_dark_rgb_image_is_not_inverted() -> None:
    rgb = np.repeat(DRAWINGS["centred seven"][..., None], 3, axis=2)
    out = image_to_mnist(Image.fromarray(rgb, "RGB"))
    expected = canvas_to_mnist(opaque(DRAWINGS["centred seven"]))
    assert out is not None and expected is not None
    assert correlation(out, expected) > 0.99


def test_transparent_png_uses_alpha() -> None:
    rgba = transparent(DRAWINGS["centred seven"])
    rgba[..., :3] = 0  # black ink on a transparent background
    out = image_to_mnist(Image.fromarray(rgba, "RGBA"))
    assert out is not None
    np.testing.assert_allclose(out, canvas_to_mnist(opaque(DRAWINGS["centred seven"])), atol=1e-5)


def test_mnist_png_round_trips(mnist_digits: np.ndarray) -> None:
    digit = mnist_digits[0]
    out = image_to_mnist(Image.fromarray((digit * 255).round().astype(np.uint8)))
    assert out is not None
    assert correlation(out, digit) > 0.95


@pytest.mark.parametrize("value", [0, 128, 255])
def test_flat_images_have_no_digit(value: int) -> None:
    assert image_to_mnist(np.full((100, 80), value, np.uint8)) is None


def test_large_photo_is_shrunk_first(paper_seven: np.ndarray) -> None:
    big = Image.fromarray(paper_seven).resize((2000, 2000), Image.Resampling.BILINEAR)
    out = image_to_mnist(big)
    assert out is not None
    assert max(bbox_size(out)) in (DIGIT_BOX - 1, DIGIT_BOX, DIGIT_BOX + 1)


def test_float_array_in_unit_range_is_accepted(mnist_digits: np.ndarray) -> None:
    out = image_to_mnist(mnist_digits[1])  # float32 in [0, 1]
    assert out is not None
    assert correlation(out, mnist_digits[1]) > 0.95


def test_canvas_is_prepared_in_a_few_milliseconds() -> None:
    canvas = opaque(DRAWINGS["centred seven"])
    times = []
    for _ in range(20):
        start = time.perf_counter()
        canvas_to_mnist(canvas)
        times.append(time.perf_counter() - start)
    assert float(np.median(times)) < 0.01  # measured ~0.5 ms on 2 cores


@pytest.fixture(scope="module")
def mnist_digits(mnist: MnistData) -> np.ndarray:
    """The first 200 MNIST test digits, (200, 28, 28) float32 in [0, 1]."""
    return mnist.x_test[:200]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_huge_images_are_refused_before_decoding(tmp_path) -> None:
    """A 100-megapixel PNG (Pillow only warns below 179 MP): refused from its header."""
    from mnist_core.errors import ImageError, MnistStudioError
    from mnist_core.preprocess import MAX_IMAGE_PIXELS
    from tests.test_cli import png_claiming

    path = tmp_path / "huge.png"
    path.write_bytes(png_claiming(10_000, 10_000))
    with Image.open(path) as image, pytest.raises(ImageError, match="100 megapixels") as info:
        image_to_mnist(image)
    assert isinstance(info.value, MnistStudioError)
    assert f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels" in str(info.value)
    small = Image.new("L", (4000, 3000), 255)  # an ordinary 12 MP photo of blank paper
    assert image_to_mnist(small) is None
