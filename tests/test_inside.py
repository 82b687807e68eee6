"""mnist_core.inside against Keras: activations, exact contributions, real kernels."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_core.errors import ConfigError
from mnist_core.inside import dense_weights, dropout_samples, first_convolution, look_inside
from mnist_core.store import ModelStore


@pytest.fixture(scope="module")
def quickstart():
    return ModelStore().load("quickstart")


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.x_test[:2]  # a 7 and a 2


def test_hidden_units_equal_keras_intermediate_outputs(quickstart, digits):
    from mnist_core.tf_setup import keras

    hidden_model = keras.Model(quickstart.inputs, quickstart.get_layer("dense").output)
    expected = np.asarray(hidden_model(digits))
    weights = dense_weights(quickstart)
    for image, want in zip(digits, expected, strict=True):
        np.testing.assert_allclose(look_inside(weights, image).hidden, want, rtol=1e-4,
                                   atol=1e-5)


def test_logits_equal_keras(quickstart, digits):
    expected = np.asarray(quickstart(digits))
    weights = dense_weights(quickstart)
    for image, want in zip(digits, expected, strict=True):
        np.testing.assert_allclose(look_inside(weights, image).logits, want, rtol=1e-4,
                                   atol=1e-4)


@pytest.mark.parametrize("which", ["winner", "runner_up"])
def test_contributions_sum_to_the_logits(quickstart, digits, which):
    weights = dense_weights(quickstart)
    for image in digits:
        inside = look_inside(weights, image)
        digit = getattr(inside, which)
        by_pixels = inside.pixel_maps[digit].sum() + inside.bias_share[digit]
        by_units = inside.unit_push[:, digit].sum() + weights.b2[digit]
        np.testing.assert_allclose(by_pixels, inside.logits[digit], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(by_units, inside.logits[digit], rtol=1e-5, atol=1e-5)
        why = inside.why_not(inside.winner, inside.runner_up).sum()
        gap = (inside.logits[inside.winner] - inside.bias_share[inside.winner]) - (
            inside.logits[inside.runner_up] - inside.bias_share[inside.runner_up])
        np.testing.assert_allclose(why, gap, rtol=1e-9, atol=1e-9)


def test_the_first_digit_is_read_as_a_seven(quickstart, digits):
    inside = look_inside(dense_weights(quickstart), digits[0])
    assert inside.winner == 7
    top = inside.units_for(7)[:5]
    assert (inside.unit_push[top, 7] > 0).all()  # the marked units really push towards 7


def test_weight_pictures_are_the_models_kernel(quickstart):
    weights = dense_weights(quickstart)
    kernel = quickstart.get_layer("dense").get_weights()[0]
    np.testing.assert_array_equal(weights.unit_picture(5), kernel[:, 5].reshape(28, 28))
    assert weights.hidden_units == 128 and weights.dropout == pytest.approx(0.2)


def test_dropout_switches_off_about_its_rate_and_the_answer_wobbles(quickstart, digits):
    weights = dense_weights(quickstart)
    masks, probabilities = dropout_samples(weights, digits[0], rate=0.5, samples=50)
    assert 0.4 < 1 - masks.mean() < 0.6
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert probabilities[:, 7].std() > 0  # each mask gives another answer
    _, none_dropped = dropout_samples(weights, digits[0], rate=0.0, samples=3)
    expected = look_inside(weights, digits[0]).probabilities
    np.testing.assert_allclose(none_dropped, np.tile(expected, (3, 1)), rtol=1e-5)


def test_convolution_maps_equal_keras():
    from mnist_core.tf_setup import keras

    cnn = ModelStore().load("drawing")
    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1.0  # a "1"
    conv = cnn.get_layer("conv1")
    expected = np.asarray(keras.Model(cnn.inputs, conv.output)(image[None]))[0]  # (28, 28, F)
    view = first_convolution(cnn, image)
    np.testing.assert_allclose(view.feature_maps, np.moveaxis(expected, -1, 0), atol=1e-5)
    np.testing.assert_array_equal(view.filters[0], conv.get_weights()[0][:, :, 0, 0])


def test_another_network_is_refused_with_a_message():
    with pytest.raises(ConfigError, match="needs the quickstart network"):
        dense_weights(ModelStore().load("drawing"))
