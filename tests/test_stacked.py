"""mnist_core.stacked: K models in one computation, each trained as Keras would train it."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_core.config import TrainConfig
from mnist_core.model import build_model
from mnist_core.numerics import softmax
from mnist_core.stacked import (
    BETA_1,
    BETA_2,
    EPSILON,
    Member,
    ModelState,
    Stack,
    bucket,
    epoch_order,
    init_weights,
    keep_scale,
)
from mnist_core.training import as_tensor, train, train_fit

BATCH, COUNT = 32, 512  # 16 whole batches


@pytest.fixture(scope="module")
def tensors(small_mnist):
    x = as_tensor(small_mnist.x_train.reshape(-1, 784))
    return x, as_tensor(small_mnist.y_train.astype(np.int32))


def train_stack(members, tensors, steps, seeds):
    """Train a stack `steps` steps on each member's epoch-1 order; returns the stack."""
    stack = Stack(members, 128)
    orders = [epoch_order(seed, 1, COUNT, BATCH) for seed in seeds]
    stack.train(*tensors, [o[:steps] for o, _ in orders], [w[:steps] for _, w in orders])
    return stack, orders


def keras_reference(small_mnist, seed, learning_rate, order):
    """The same model trained by Keras' fit on the same batches in the same order."""
    model = build_model(dropout=0.0, learning_rate=learning_rate)
    model.set_weights(init_weights(seed, 128))
    index = order.reshape(-1)
    model.fit(small_mnist.x_train[index], small_mnist.y_train[index], batch_size=BATCH,
              shuffle=False, epochs=1, verbose=0)
    return model.get_weights()


def numpy_reference(small_mnist, seed, rate, learning_rate, order, steps):
    """The quickstart's steps written out in NumPy, with the stack's dropout masks."""
    weights = [w.astype(np.float64) for w in init_weights(seed, 128)]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t in range(steps):
        x = small_mnist.x_train[order[t]].reshape(BATCH, 784).astype(np.float64)
        y = small_mnist.y_train[order[t]]
        w1, b1, w2, b2 = weights
        pre = x @ w1 + b1
        mask = keep_scale(seed, t, rate, BATCH, 128)
        hidden = np.maximum(pre, 0) * mask
        d_logits = softmax(hidden @ w2 + b2).astype(np.float64)
        d_logits[np.arange(BATCH), y] -= 1
        d_logits /= BATCH
        d_hidden = d_logits @ w2.T * mask * (pre > 0)
        grads = [x.T @ d_hidden, d_hidden.sum(0), hidden.T @ d_logits, d_logits.sum(0)]
        alpha = learning_rate * np.sqrt(1 - BETA_2 ** (t + 1)) / (1 - BETA_1 ** (t + 1))
        for i, g in enumerate(grads):
            m[i] += (g - m[i]) * (1 - BETA_1)
            v[i] += (g * g - v[i]) * (1 - BETA_2)
            weights[i] = weights[i] - alpha * m[i] / (np.sqrt(v[i]) + EPSILON)
    return weights


def test_each_model_of_a_group_learns_with_its_own_rate_and_dropout(small_mnist, tensors):
    """One group: two runs without dropout at learning rates 1e-3 and 3e-3 each equal
    Keras' fit on the same batches; a run with dropout 0.5 equals the NumPy steps with the
    same masks, and differs from the others."""
    members = [Member(ModelState(init_weights(seed, 128)), lr, rate, seed)
               for seed, lr, rate in ((1, 1e-3, 0.0), (2, 3e-3, 0.0), (3, 1e-3, 0.5))]
    steps = COUNT // BATCH
    stack, orders = train_stack(members, tensors, steps, seeds=(1, 2, 3))
    for k, (seed, lr) in enumerate(((1, 1e-3), (2, 3e-3))):
        expected = keras_reference(small_mnist, seed, lr, orders[k][0])
        for got, want in zip(stack.weights(k), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=2e-5)
    expected = numpy_reference(small_mnist, 3, 0.5, 1e-3, orders[2][0], steps)
    for got, want in zip(stack.weights(2), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=2e-5)
    # Without its dropout, the third run would be another run: the masks really act.
    without = numpy_reference(small_mnist, 3, 0.0, 1e-3, orders[2][0], steps)
    assert np.abs(stack.weights(2)[2] - without[2]).max() > 1e-3


def test_dropout_masks_drop_the_rate_and_rescale():
    scale = keep_scale(seed=5, step=0, rate=0.5, batch=64, hidden=128)
    assert set(np.unique(scale)) == {0.0, 2.0}
    assert abs((scale == 0).mean() - 0.5) < 0.02
    assert not np.array_equal(scale, keep_scale(5, 1, 0.5, 64, 128))  # fresh every step
    assert not np.array_equal(scale, keep_scale(6, 0, 0.5, 64, 128))  # and every run
    assert (keep_scale(5, 0, 0.0, 64, 128) == 1).all()


def test_orders_are_shuffled_per_seed_and_epoch_and_pad_the_last_batch():
    order, weights = epoch_order(seed=1, epoch=1, count=100, batch=32)
    assert order.shape == weights.shape == (4, 32)
    assert sorted(order.reshape(-1)[:100]) == list(range(100))
    assert weights.sum() == 100 and (weights.reshape(-1)[100:] == 0).all()
    assert not np.array_equal(order, epoch_order(1, 2, 100, 32)[0])
    assert not np.array_equal(order, epoch_order(2, 1, 100, 32)[0])
    np.testing.assert_array_equal(order, epoch_order(1, 1, 100, 32)[0])


def test_padding_models_change_nothing(tensors):
    """Three models train in the bucket of four: the same as in a bucket of their own."""
    assert [bucket(n) for n in (1, 2, 3, 5, 8)] == [1, 2, 4, 8, 8]
    members = [Member(ModelState(init_weights(seed, 128)), 1e-3, 0.2, seed) for seed in (1, 2, 3)]
    three, _ = train_stack(members, tensors, 4, seeds=(1, 2, 3))
    one, _ = train_stack(members[1:2], tensors, 4, seeds=(2,))
    for got, want in zip(three.weights(1), one.weights(0), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert three.state(1).steps == 4


def test_the_compiled_path_learns_as_well_as_keras_fit(small_mnist):
    """Over a few seeds the compiled loop's test accuracy matches Keras' fit's (same data,
    same settings; different random draws)."""
    accuracy = {"compiled": [], "fit": []}
    for seed in range(3):
        config = TrainConfig(epochs=2, dropout=0.2, seed=seed)
        accuracy["compiled"].append(train(config, small_mnist).test_accuracy)
        accuracy["fit"].append(train_fit(config, small_mnist).test_accuracy)
    assert min(accuracy["compiled"]) > 0.8
    assert abs(np.mean(accuracy["compiled"]) - np.mean(accuracy["fit"])) < 0.02, accuracy


def test_images_as_bytes_train_exactly_as_their_floats(small_mnist, tensors):
    """The room gathers MNIST as bytes (value / 255): the same images, the same training."""
    from mnist_core.room_trainer import _as_bytes

    as_bytes = _as_bytes(small_mnist.x_train)
    assert as_bytes.dtype == np.uint8 and as_bytes.shape == (2000, 784)
    byte_tensors = (as_tensor(as_bytes), tensors[1])
    members = [Member(ModelState(init_weights(seed, 128)), 1e-3, 0.3, seed) for seed in (4, 5)]
    floats, _ = train_stack(members, tensors, 8, seeds=(4, 5))
    bytes_, _ = train_stack(members, byte_tensors, 8, seeds=(4, 5))
    for k in range(2):
        for got, want in zip(bytes_.weights(k), floats.weights(k), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_images_that_are_not_bytes_stay_float(small_mnist):
    from mnist_core.room_trainer import _as_bytes

    images = small_mnist.x_train[:10] * np.float32(0.5)  # not all k / 255 any more
    kept = _as_bytes(images)
    assert kept.dtype == np.float32
    np.testing.assert_array_equal(kept, images.reshape(10, 784))
