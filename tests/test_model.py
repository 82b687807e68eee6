"""mnist_core.model: the quickstart network, its summary, softmax, bad parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_core.errors import ConfigError
from mnist_core.model import build_model, layer_summary
from mnist_core.numerics import LN_NUM_CLASSES, softmax


@pytest.fixture(scope="module")
def quickstart():
    return build_model(seed=0)


def test_parameter_count(quickstart):
    assert quickstart.count_params() == 101_770


def test_layer_summary_rows(quickstart):
    rows = layer_summary(quickstart)
    assert [(row.kind, row.output_shape, row.params) for row in rows] == [
        ("Flatten", "(None, 784)", 0),
        ("Dense", "(None, 128)", 100_480),
        ("Dropout", "(None, 128)", 0),
        ("Dense", "(None, 10)", 1_290),
    ]


def test_logits_shape(quickstart, small_mnist):
    logits = np.asarray(quickstart(small_mnist.x_test[:7], training=False))
    assert logits.shape == (7, 10)


def test_untrained_loss_is_about_ln10(quickstart, small_mnist):
    """An untrained model guesses among ten classes: loss near ln 10 = 2.30."""
    loss, _ = quickstart.evaluate(small_mnist.x_test, small_mnist.y_test, verbose=0)
    assert pytest.approx(math.log(10)) == LN_NUM_CLASSES
    assert loss == pytest.approx(LN_NUM_CLASSES, abs=0.5)


def test_hidden_units_and_cnn():
    assert build_model(hidden_units=64).count_params() == 784 * 64 + 64 + 64 * 10 + 10
    cnn = build_model(arch="cnn")
    assert cnn.output_shape == (None, 10)


def test_softmax_rows_sum_to_one_and_keep_order():
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    probabilities = softmax(logits)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert probabilities[0].argmax() == 2 and probabilities[1, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(softmax(np.zeros(10)), np.full(10, 0.1), rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
        ({"hidden_units": 0}, "hidden_units must be a positive integer, got 0"),
        ({"hidden_units": 2.5}, "hidden_units must be a positive integer, got 2.5"),
        ({"arch": "rnn"}, "arch must be one of mlp, cnn, got 'rnn'"),
        ({"learning_rate": 0}, r"learning_rate must be in \(0, 1\], got 0"),
    ],
)
def test_invalid_parameters(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_model(**kwargs)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        build_model(dropout=2)
