"""Augmented MNIST stays labelled right, looks normalised like a drawing, and is seeded."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mnist_core.augment import (
    DRAWN_PER_IMAGE,
    AugmentParams,
    augment_images,
    augmented_dataset,
    augmented_pool,
    drawn_pool,
)
from mnist_core.constants import DIGIT_BOX, IMAGE_SHAPE, NUM_CLASSES
from mnist_core.data import MnistData
from mnist_core.errors import ConfigError
from mnist_core.preprocess import MNIST_CENTER

NO_DISTORTION = AugmentParams(
    rotation=0.0,
    shear=0.0,
    aspect=0.0,
    elastic=0.0,
    dilation=(1.0,),
    pen_level=(0.45, 0.45),
    flag_one=0.0,
)


@pytest.fixture(scope="module")
def digits(mnist: MnistData) -> tuple[np.ndarray, np.ndarray]:
    """200 MNIST training digits with labels: ((200, 28, 28) float32, (200,) uint8)."""
    return mnist.x_train[:200], mnist.y_train[:200]


@pytest.fixture(scope="module")
def augmented(digits: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The 200 digits augmented once with the default distortions (seed 0)."""
    return augment_images(digits[0], np.random.default_rng(0))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_shape_dtype_range(augmented: np.ndarray) -> None:
    assert augmented.shape == (200, *IMAGE_SHAPE)
    assert augmented.dtype == np.float32
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0


def test_images_are_changed(digits: tuple[np.ndarray, np.ndarray], augmented: np.ndarray) -> None:
    x, _ = digits
    changed = [not np.allclose(a, b, atol=0.05) for a, b in zip(x, augmented, strict=True)]
    assert np.mean(changed) > 0.9


def test_normalised_like_a_drawing(augmented: np.ndarray) -> None:
    rows, cols = np.indices(IMAGE_SHAPE)
    for image in augmented:
        mass = image.sum()
        assert abs((rows * image).sum() / mass - MNIST_CENTER) <= 0.75
        assert abs((cols * image).sum() / mass - MNIST_CENTER) <= 0.75
        ink = image > 0.05
        height = np.ptp(np.flatnonzero(ink.any(axis=1))) + 1
        width = np.ptp(np.flatnonzero(ink.any(axis=0))) + 1
        assert max(height, width) in (DIGIT_BOX - 1, DIGIT_BOX, DIGIT_BOX + 1)


def test_each_image_stays_closest_to_its_own_digit(
    digits: tuple[np.ndarray, np.ndarray], augmented: np.ndarray
) -> None:
    """Labels stay aligned: an augmented digit still looks most like its own source."""
    x, y = digits
    a = augmented.reshape(len(x), -1)
    b = x.reshape(len(x), -1)
    a = (a - a.mean(1, keepdims=True)) / a.std(1, keepdims=True)
    b = (b - b.mean(1, keepdims=True)) / b.std(1, keepdims=True)
    similarity = a @ b.T / a.shape[1]  # (200, 200) correlations
    own = np.diag(similarity)
    assert np.median(own) > 0.5
    # a nearest-neighbour classifier on the originals still reads most augmented labels
    nearest = similarity.copy()
    np.fill_diagonal(nearest, -np.inf)
    predicted = y[nearest.argmax(axis=1)]
    assert (predicted == y).mean() > 0.6


def test_no_distortion_keeps_mnist_digits(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = digits
    same = augment_images(x[:50], np.random.default_rng(0), NO_DISTORTION)
    scores = [correlation(a, b) for a, b in zip(x[:50], same, strict=True)]
    assert np.median(scores) > 0.95


@pytest.mark.parametrize(
    "change",
    [{"pen_level": (0.8, 0.8)}, {"dilation": (0.0, 0.0, 1.0)}],
    ids=["thinner pen", "thicker pen"],
)
def test_pen_width_changes_the_ink(digits: tuple[np.ndarray, np.ndarray], change: dict) -> None:
    x, _ = digits
    base = augment_images(x[:50], np.random.default_rng(0), NO_DISTORTION)
    params = replace(NO_DISTORTION, **change)
    changed = augment_images(x[:50], np.random.default_rng(0), params)
    ratio = changed.sum() / base.sum()
    assert ratio < 0.9 if "pen_level" in change else ratio > 1.1


def test_some_ones_get_a_flag(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    ones = x[y == 1][:10]
    plain = augment_images(ones, np.random.default_rng(0), NO_DISTORTION, labels=np.ones(10))
    params = replace(NO_DISTORTION, flag_one=1.0)
    flagged = augment_images(ones, np.random.default_rng(0), params, labels=np.ones(10))
    # the flag adds ink; the height (and so the scale) stays that of the stroke
    assert (flagged.sum(axis=(1, 2)) > 1.03 * plain.sum(axis=(1, 2))).mean() >= 0.8
    sevens = x[y == 7][:5]
    unflagged = augment_images(sevens, np.random.default_rng(0), params, labels=np.full(5, 7))
    reference = augment_images(sevens, np.random.default_rng(0), NO_DISTORTION)
    np.testing.assert_allclose(unflagged, reference, atol=1e-6)  # only 1s get flags


def test_same_seed_same_images(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = digits
    a = augment_images(x[:20], np.random.default_rng(5))
    b = augment_images(x[:20], np.random.default_rng(5))
    c = augment_images(x[:20], np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ConfigError):
        augment_images(np.zeros((3, 20, 20), np.float32), np.random.default_rng(0))
    with pytest.raises(ConfigError):
        augment_images(np.zeros((3, 28, 28), np.float32), np.random.default_rng(0), labels=[1])


def _take(ds, batches: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `batches` batches of a dataset as numpy arrays."""
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds.take(batches)], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def small_set(digits: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """60 digits: small enough to augment in well under a second."""
    return digits[0][:60], digits[1][:60]


def test_dataset_batches(small_set: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = small_set
    ds = augmented_dataset(x, y, batch_size=16, seed=0, copies=2)
    images, labels = _take(ds, 3)
    assert images.shape == (48, *IMAGE_SHAPE) and images.dtype == np.float32
    assert labels.shape == (48,) and np.issubdtype(labels.dtype, np.integer)
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert set(labels.tolist()) <= set(range(NUM_CLASSES))


def test_dataset_repeats_forever(small_set: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = small_set
    ds = augmented_dataset(x, y, batch_size=32, seed=0, copies=1)
    _, labels = _take(ds, 10)  # 320 examples from a pool of 120
    assert len(labels) == 320


def test_pool_labels_are_aligned(small_set: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = small_set
    pool, labels = augmented_pool(x, y, seed=3, copies=2)
    assert pool.shape == (180, *IMAGE_SHAPE) and pool.dtype == np.uint8
    assert labels.shape == (180,) and labels.dtype == np.int32
    np.testing.assert_array_equal(pool[:60], np.round(x * 255).astype(np.uint8))
    for copy in (1, 2):
        part = slice(60 * copy, 60 * (copy + 1))
        np.testing.assert_array_equal(labels[part], y)
        scores = [correlation(a, b) for a, b in zip(pool[part], x, strict=True)]
        assert np.median(scores) > 0.5
    assert not np.array_equal(pool[60:120], pool[120:])  # the copies differ


def test_dataset_serves_pool_pairs(small_set: tuple[np.ndarray, np.ndarray]) -> None:
    """Every (image, label) in a batch is a pair of the pool: labels stay with images."""
    x, y = small_set
    pool, pool_labels = augmented_pool(x, y, seed=3, copies=2, drawn=20)
    ds = augmented_dataset(x, y, batch_size=20, seed=3, copies=2, drawn=20)
    images, labels = _take(ds, 10)  # the whole pool of 200, once
    flat_pool = pool.reshape(len(pool), -1).astype(np.int32)
    served = np.round(images.reshape(len(images), -1) * 255).astype(np.int32)
    for image, label in zip(served, labels, strict=True):
        match = np.flatnonzero((flat_pool == image).all(axis=1))
        assert match.size >= 1
        assert label in pool_labels[match]
    # one pass over the pool serves each example once
    assert sorted(labels.tolist()) == sorted(pool_labels.tolist())


def test_dataset_is_deterministic_per_seed(small_set: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = small_set
    a = _take(augmented_dataset(x, y, batch_size=16, seed=1, copies=1), 4)
    b = _take(augmented_dataset(x, y, batch_size=16, seed=1, copies=1), 4)
    c = _take(augmented_dataset(x, y, batch_size=16, seed=2, copies=1), 4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0, "seed": 0}, {"batch_size": 8, "seed": 0, "copies": -1}],
)
def test_bad_arguments_are_rejected(small_set: tuple[np.ndarray, np.ndarray], kwargs: dict) -> None:
    x, y = small_set
    with pytest.raises(ConfigError):
        augmented_dataset(x, y, **kwargs)


def test_mismatched_labels_are_rejected(small_set: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = small_set
    with pytest.raises(ConfigError):
        augmented_dataset(x, y[:-1], batch_size=8, seed=0)


def test_drawn_pool_is_balanced_labelled_digits(mnist: MnistData) -> None:
    """Synthetic drawn digits, prepared like drawings: each is closest to the MNIST mean of
    its own digit far more often than chance would have it."""
    images, labels = drawn_pool(200, seed=5)
    assert images.shape == (200, *IMAGE_SHAPE) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=NUM_CLASSES).tolist() == [20] * NUM_CLASSES
    assert (images.reshape(200, -1).max(axis=1) == 255).all()  # every one has ink
    means = np.stack([mnist.x_train[:5000][mnist.y_train[:5000] == d].mean(axis=0)
                      for d in range(NUM_CLASSES)])  # (10, 28, 28)
    scores = np.array([[correlation(image / 255, mean) for mean in means] for image in images])
    assert (scores.argmax(axis=1) == labels).mean() > 0.35  # chance: 0.1; measured 0.47


def test_the_dataset_adds_drawn_digits_per_image(small_set) -> None:
    """By default the pool holds DRAWN_PER_IMAGE drawn digits per training image."""
    x, y = small_set
    ds = augmented_dataset(x, y, batch_size=10, seed=0, copies=0)
    pool_size = len(x) + round(DRAWN_PER_IMAGE * len(x))
    _, labels = _take(ds, pool_size // 10)  # one pass over the pool
    drawn_labels = drawn_pool(round(DRAWN_PER_IMAGE * len(x)), seed=0 + 7919)[1]
    assert sorted(labels.tolist()) == sorted([*y.tolist(), *drawn_labels.tolist()])


def test_negative_drawn_is_rejected(small_set) -> None:
    with pytest.raises(ConfigError, match="drawn"):
        augmented_pool(*small_set, seed=0, drawn=-1)
