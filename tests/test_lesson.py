"""mnist_core.lesson: the numbers the Learn view shows are the real ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_core.evaluate import predict_logits
from mnist_core.lesson import data_overview, explain, sample_indices
from mnist_core.model import build_model
from mnist_core.store import ModelStore


def test_data_overview(mnist):
    overview = data_overview(mnist)
    assert overview.train_shape == (60000, 28, 28) and overview.test_shape == (10000, 28, 28)
    assert overview.raw_range == (0, 255) and overview.scaled_range == (0.0, 1.0)
    assert overview.train_counts.sum() == 60000 and overview.test_counts.sum() == 10000
    assert list(overview.test_counts) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize(("per_digit", "offset"), [(1, 0), (3, 5)])
def test_sample_indices_cover_every_digit(mnist, per_digit, offset):
    picked = sample_indices(mnist.y_train, per_digit, offset)
    assert len(picked) == 10 * per_digit
    assert list(np.bincount(mnist.y_train[picked], minlength=10)) == [per_digit] * 10


def test_explain_matches_keras_loss(small_mnist):
    import keras

    model = build_model(seed=3)
    image, label = small_mnist.x_train[0], int(small_mnist.y_train[0])
    explanation = explain(predict_logits(model, image)[0], label)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        np.array([label]), explanation.logits[None]
    )
    assert explanation.loss == pytest.approx(float(keras_loss), rel=1e-5)
    assert explanation.probabilities.sum() == pytest.approx(1.0)
    assert explanation.uniform_loss == pytest.approx(math.log(10))


def test_untrained_versus_trained(small_mnist):
    """Untrained: loss near ln 10. Trained: the true digit wins with a small loss."""
    image, label = small_mnist.x_test[0], int(small_mnist.y_test[0])
    untrained = explain(predict_logits(build_model(seed=0), image)[0], label)
    trained = explain(predict_logits(ModelStore().load("quickstart"), image)[0], label)
    assert untrained.loss == pytest.approx(math.log(10), abs=1.0)
    assert trained.predicted == label == 7 and trained.loss < 0.1


def test_explain_is_stable_for_huge_logits():
    logits = np.array([1000.0, 0, 0, 0, 0, 0, 0, 0, 0, -1000.0])
    assert explain(logits, 0).loss == pytest.approx(0.0, abs=1e-9)
    assert explain(logits, 9).loss == pytest.approx(2000.0)


def test_layer_lessons_explain_the_real_parameter_counts():
    from mnist_core.lesson import layer_lessons, untrained_model
    from mnist_core.model import layer_summary

    lessons = layer_lessons(layer_summary(untrained_model()))
    assert [(row.kind, row.output_shape, row.params) for row in lessons] == [
        ("Flatten", "(None, 784)", 0),
        ("Dense", "(None, 128)", 100_480),
        ("Dropout", "(None, 128)", 0),
        ("Dense", "(None, 10)", 1_290),
    ]
    assert sum(row.params for row in lessons) == 101_770
    assert lessons[1].formula == "784 × 128 weights + 128 biases"
    assert lessons[3].formula == "128 × 10 weights + 10 biases"
    assert lessons[0].formula == lessons[2].formula == "no weights"


def test_untrained_model_is_reproducible(small_mnist):
    from mnist_core.lesson import untrained_model

    image = small_mnist.x_train[0]
    first, second = (predict_logits(untrained_model(), image) for _ in range(2))
    np.testing.assert_allclose(first, second)


def test_steps_per_epoch():
    from mnist_core.lesson import steps_per_epoch

    assert steps_per_epoch(60_000, 32) == 1_875
    assert steps_per_epoch(2_000, 64) == 32  # 31 full batches and one of 16


def test_odds_and_softmax_parts_agree_with_the_probabilities():
    from mnist_core.lesson import odds, rival, softmax_parts

    explanation = explain(np.array([0.5, 2.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]), 7)
    assert rival(explanation) == 1  # the likeliest digit that is not the true 7
    result = odds(explanation, 7, 1)
    assert result.log_odds == pytest.approx(-1.0)
    p = explanation.probabilities
    assert result.ratio == pytest.approx(p[7] / p[1], rel=1e-6)
    parts = softmax_parts(explanation, 7)
    assert parts.numerator == pytest.approx(math.e)
    assert parts.probability == pytest.approx(p[7], rel=1e-6)
    assert parts.numerator / parts.denominator == pytest.approx(parts.probability)
    huge = softmax_parts(explain(np.array([1000.0] + [0.0] * 9), 0), 0)
    assert huge.probability == pytest.approx(1.0) and math.isfinite(huge.denominator)
