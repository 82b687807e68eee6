"""mnist_core.evaluate: figures on the test set and fast prediction."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_core.errors import ConfigError
from mnist_core.evaluate import evaluate, predict_logits, predict_proba
from mnist_core.store import ModelStore


@pytest.fixture(scope="module")
def quickstart():
    return ModelStore().load("quickstart")


@pytest.fixture(scope="module")
def full_evaluation(quickstart, mnist):
    return evaluate(quickstart, mnist.x_test, mnist.y_test)


def test_shipped_quickstart_scores(full_evaluation):
    assert full_evaluation.accuracy >= 0.975


def test_loss_matches_keras(mnist):
    """Our numpy loss equals Keras' own evaluate of the same (freshly loaded) model."""
    import keras

    model = ModelStore().load("quickstart")
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    keras_loss, keras_accuracy = model.evaluate(mnist.x_test, mnist.y_test, verbose=0)
    result = evaluate(model, mnist.x_test, mnist.y_test)
    assert result.loss == pytest.approx(keras_loss, rel=1e-4)
    assert result.accuracy == pytest.approx(keras_accuracy, abs=1e-6)


def test_confusion_matrix(full_evaluation, mnist):
    confusion = full_evaluation.confusion
    assert confusion.shape == (10, 10) and confusion.sum() == 10_000
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(mnist.y_test))
    assert np.trace(confusion) == round(full_evaluation.accuracy * 10_000)
    np.testing.assert_allclose(
        full_evaluation.per_class_accuracy, np.diag(confusion) / confusion.sum(axis=1)
    )


def test_misclassified_are_really_wrong(full_evaluation, mnist):
    wrong = full_evaluation.misclassified
    assert len(wrong) == 10_000 - np.trace(full_evaluation.confusion)
    assert np.all(full_evaluation.predictions[wrong] != mnist.y_test[wrong])


@pytest.mark.parametrize(("true_digit", "predicted_digit"), [(4, 9), (7, None), (None, 3)])
def test_mistake_filters(full_evaluation, mnist, true_digit, predicted_digit):
    picked = full_evaluation.mistakes(true_digit, predicted_digit, labels=mnist.y_test)
    if true_digit is not None:
        assert np.all(mnist.y_test[picked] == true_digit)
    if predicted_digit is not None:
        assert np.all(full_evaluation.predictions[picked] == predicted_digit)
    assert set(picked) <= set(full_evaluation.misclassified)


def test_predict_proba_single_and_batch(quickstart, mnist):
    single = predict_proba(quickstart, mnist.x_test[0])  # (28, 28)
    batch = predict_proba(quickstart, mnist.x_test[:5])
    assert single.shape == (1, 10) and batch.shape == (5, 10)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(single[0], batch[0], rtol=1e-4, atol=1e-6)
    assert list(batch.argmax(axis=1)) == [7, 2, 1, 0, 4]


def test_direct_call_matches_model_predict(quickstart, mnist):
    images = mnist.x_test[:3000]  # larger than one direct call: goes through predict
    np.testing.assert_allclose(
        predict_logits(quickstart, images)[:10], predict_logits(quickstart, images[:10]),
        rtol=1e-4, atol=1e-4,
    )


def test_wrong_shape_is_refused(quickstart):
    with pytest.raises(ConfigError, match=r"images must have shape \(N, 28, 28\), got \(3, 32\)"):
        predict_proba(quickstart, np.zeros((3, 32)))
