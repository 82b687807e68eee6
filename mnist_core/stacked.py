"""K quickstart networks trained in one XLA computation: weights (K, 784, H), own data each.

Each model keeps exactly the quickstart's recipe, with its own seed, dropout and learning
rate: glorot-uniform kernels and zero biases, a fresh shuffle of its training images every
epoch, sparse cross-entropy on logits, Keras' Adam (beta 0.9 / 0.999, epsilon 1e-7). The
backward pass is written out (two Dense layers), so one compiled loop runs up to 128 steps
of all K models without returning to Python. One model-epoch of MNIST takes ~0.23 s on one
core here, against ~1.5 s in Keras' fit (bench/room.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mnist_core.constants import NUM_CLASSES
from mnist_core.tf_setup import tf

PIXELS = 28 * 28
CHUNK_STEPS = 128  # steps per compiled call: a report (and a chance to pause) between calls
BUCKETS = (1, 2, 4, 8)  # group sizes that get their own compiled loop; others are padded
MAX_GROUP = BUCKETS[-1]  # bigger groups gain nothing: per model-epoch ~0.23 s at K = 2..8
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # Keras' Adam defaults

# Dropout masks: a counter-based hash of (run seed, step, unit), as cheap as XLA's threefry
# (the default generator under XLA on CPU costs ~391 us a mask, the quickstart's step ~150 us)
# and the same for a run whatever group it trains in.
_MIX_1, _MIX_2 = 0x85EBCA6B, 0xC2B2AE35  # murmur3's finaliser
_GOLDEN, _STEP_SALT, _UNIT_MIX = 0x9E3779B9, 0x7F4A7C15, 0x27D4EB2F


def bucket(size: int) -> int:
    """The compiled group size that holds `size` models (<= MAX_GROUP)."""
    return next(b for b in BUCKETS if b >= size)


def _fmix(x: tf.Tensor) -> tf.Tensor:
    """murmur3's 32-bit finaliser on uint32 (wrapping multiplies)."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16)) * np.uint32(_MIX_1)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13)) * np.uint32(_MIX_2)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def _fmix_np(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint32)
    x = (x ^ (x >> 16)) * np.uint32(_MIX_1)
    x = (x ^ (x >> 13)) * np.uint32(_MIX_2)
    return x ^ (x >> 16)


def keep_scale(seed: int, step: int, rate: float, batch: int, hidden: int) -> np.ndarray:
    """The dropout factor (B, H) of one run at one step (0, or 1 / (1 - rate)), in NumPy:
    the same mask the compiled step draws (a reference for tests)."""
    with np.errstate(over="ignore"):
        key = _fmix_np(np.uint32(seed) * np.uint32(_GOLDEN)
                       + _fmix_np(np.uint32(step) + np.uint32(_STEP_SALT)))
        grid = np.arange(batch * hidden, dtype=np.uint32).reshape(batch, hidden)
        bits = _fmix_np(key + grid * np.uint32(_UNIT_MIX))
    uniform = (bits >> 8).astype(np.float32) * np.float32(1 / (1 << 24))
    return np.where(uniform >= np.float32(rate), np.float32(1 / (1 - rate)), np.float32(0))


def init_weights(seed: int, hidden: int) -> list[np.ndarray]:
    """Glorot-uniform kernels and zero biases from `seed`, in Keras' get_weights order."""
    rng = np.random.default_rng([seed, 0x51A7])
    kernels = []
    for fan_in, fan_out in ((PIXELS, hidden), (hidden, NUM_CLASSES)):
        limit = math.sqrt(6 / (fan_in + fan_out))
        kernels.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
    return [kernels[0], np.zeros(hidden, np.float32), kernels[1],
            np.zeros(NUM_CLASSES, np.float32)]


def epoch_order(seed: int, epoch: int, count: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's shuffled image indices (steps, B) and weights (1, or 0 for the padding of
    a last partial batch), from the run's seed and the epoch (1-based)."""
    steps = math.ceil(count / batch)
    order = np.zeros(steps * batch, np.int32)
    order[:count] = np.random.default_rng([seed, epoch]).permutation(count)
    weights = np.zeros(steps * batch, np.float32)
    weights[:count] = 1
    return order.reshape(steps, batch), weights.reshape(steps, batch)


@dataclass
class ModelState:
    """One model's weights, Adam moments and step count, in NumPy (Keras' weight order)."""

    weights: list[np.ndarray]
    m: list[np.ndarray] = field(default_factory=list)
    v: list[np.ndarray] = field(default_factory=list)
    steps: int = 0  # optimizer steps taken: Adam's bias correction and the dropout counter

    def __post_init__(self) -> None:
        self.m = self.m or [np.zeros_like(w) for w in self.weights]
        self.v = self.v or [np.zeros_like(w) for w in self.weights]


def _expand(per_model: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """(K,) -> (K, 1, ...) to broadcast against `like`."""
    return tf.reshape(per_model, [-1] + [1] * (len(like.shape) - 1))


@tf.function(jit_compile=True)
def _train_chunk(params, m, v, steps, lr, rate, seeds, x, y, order, weights, n):
    """`n` steps of K models. params/m/v: 4-tuples of (K, ...); steps (K,) int32; lr, rate
    (K,) float32; seeds (K,) uint32; x (N, 784) float32, or uint8 (value / 255); y (N,)
    int32; order, weights (K, CHUNK_STEPS, B). Returns params, m, v, steps and per model the
    summed loss and correct answers over the chunk's images."""
    batch, hidden = order.shape[2], params[0].shape[2]
    grid = tf.reshape(tf.cast(tf.range(batch * hidden), tf.uint32), (1, batch, hidden))
    keep_rate = _expand(rate, grid)
    scale = 1.0 / (1.0 - keep_rate)

    def step(i, params, m, v, steps, loss_sum, correct_sum):
        w1, b1, w2, b2 = params
        index, weight = tf.gather(order, i, axis=1), tf.gather(weights, i, axis=1)  # (K, B)
        images, labels = tf.gather(x, index), tf.gather(y, index)  # (K, B, 784), (K, B)
        if images.dtype == tf.uint8:  # a quarter of the bytes to gather; the same floats
            images = tf.cast(images, tf.float32) * np.float32(1 / 255)  # as load_mnist's
        pre = tf.einsum("kbi,kih->kbh", images, w1) + b1[:, None]  # (K, B, H)
        key = _fmix(seeds * np.uint32(_GOLDEN)
                    + _fmix(tf.cast(steps, tf.uint32) + np.uint32(_STEP_SALT)))
        bits = _fmix(key[:, None, None] + grid * np.uint32(_UNIT_MIX))
        uniform = tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) * (1.0 / (1 << 24))
        mask = tf.where(uniform >= keep_rate, scale, 0.0)  # (K, B, H)
        hidden_out = tf.nn.relu(pre) * mask
        logits = tf.einsum("kbh,khc->kbc", hidden_out, w2) + b2[:, None]  # (K, B, 10)
        onehot = tf.one_hot(labels, NUM_CLASSES)
        losses = tf.reduce_logsumexp(logits, -1) - tf.reduce_sum(logits * onehot, -1)
        share = weight / tf.reduce_sum(weight, 1, keepdims=True)  # the batch's mean
        d_logits = (tf.nn.softmax(logits) - onehot) * share[:, :, None]
        d_hidden = (tf.einsum("kbc,khc->kbh", d_logits, w2) * mask
                    * tf.cast(pre > 0, tf.float32))
        # (K, 784, B) @ (K, B, H): XLA's dot with the images transposed first is ~5% faster.
        grads = (tf.matmul(tf.transpose(images, [0, 2, 1]), d_hidden), tf.reduce_sum(d_hidden, 1),
                 tf.einsum("kbh,kbc->khc", hidden_out, d_logits), tf.reduce_sum(d_logits, 1))
        steps = steps + 1
        t = tf.cast(steps, tf.float32)
        alpha = lr * tf.sqrt(1 - tf.pow(BETA_2, t)) / (1 - tf.pow(BETA_1, t))
        new_params, new_m, new_v = [], [], []
        for p, g, m_p, v_p in zip(params, grads, m, v, strict=True):
            m_p = m_p + (g - m_p) * (1 - BETA_1)
            v_p = v_p + (tf.square(g) - v_p) * (1 - BETA_2)
            new_params.append(p - m_p * _expand(alpha, p) / (tf.sqrt(v_p) + EPSILON))
            new_m.append(m_p)
            new_v.append(v_p)
        right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels),
                        tf.float32)
        return (i + 1, tuple(new_params), tuple(new_m), tuple(new_v), steps,
                loss_sum + tf.reduce_sum(losses * weight, 1),
                correct_sum + tf.reduce_sum(right * weight, 1))

    zeros = tf.zeros_like(lr)
    out = tf.while_loop(lambda i, *_: i < n, step,
                        (tf.constant(0), tuple(params), tuple(m), tuple(v), steps, zeros, zeros))
    return out[1:]


@tf.function  # plain graph: traced in ~0.1 s, where XLA took ~0.5 s to compile
def _evaluate(w1, b1, w2, b2, x, y):
    """Mean cross-entropy and accuracy of one model on x (N, 784), y (N,) int32."""
    logits = tf.matmul(tf.nn.relu(tf.matmul(x, w1) + b1), w2) + b2
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    right = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y)
    return tf.reduce_mean(losses), tf.reduce_mean(tf.cast(right, tf.float32))


@dataclass(frozen=True)
class Member:
    """What the compiled loop needs to know of one model in a group."""

    state: ModelState
    learning_rate: float
    dropout: float
    seed: int


class Stack:
    """The stacked tensors of a group's models (padded to a bucket), trained a chunk at a time."""

    def __init__(self, members: list[Member], hidden: int) -> None:
        if not 1 <= len(members) <= MAX_GROUP:
            raise ValueError(f"a group holds 1 to {MAX_GROUP} models, got {len(members)}")
        self.size = len(members)
        padded = bucket(self.size) - self.size
        # Padding models learn nothing (learning rate 0) and keep zero weights.
        blank = ModelState([np.zeros((PIXELS, hidden), np.float32),
                            np.zeros(hidden, np.float32),
                            np.zeros((hidden, NUM_CLASSES), np.float32),
                            np.zeros(NUM_CLASSES, np.float32)])
        states = [member.state for member in members] + [blank] * padded

        def stack(pick) -> tuple[tf.Tensor, ...]:
            return tuple(tf.constant(np.stack([pick(s)[i] for s in states])) for i in range(4))

        self.params, self.m, self.v = stack(lambda s: s.weights), stack(lambda s: s.m), \
            stack(lambda s: s.v)
        self.steps = tf.constant([s.steps for s in states], tf.int32)
        self.lr = tf.constant([m.learning_rate for m in members] + [0.0] * padded, tf.float32)
        self.rate = tf.constant([m.dropout for m in members] + [0.0] * padded, tf.float32)
        self.seeds = tf.constant([m.seed for m in members] + [0] * padded, tf.uint32)

    def train(self, x: tf.Tensor, y: tf.Tensor, orders: list[np.ndarray],
              weights: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Train every model on its own (n, B) slice of indices; returns per real model the
        summed loss, correct answers and image count over the chunk."""
        n, batch = orders[0].shape
        total = len(self.lr)
        order = np.zeros((total, CHUNK_STEPS, batch), np.int32)
        weight = np.ones((total, CHUNK_STEPS, batch), np.float32)
        for k, (o, w) in enumerate(zip(orders, weights, strict=True)):
            order[k, :n], weight[k, :n] = o, w
        self.params, self.m, self.v, self.steps, loss, right = _train_chunk(
            self.params, self.m, self.v, self.steps, self.lr, self.rate, self.seeds, x, y,
            tf.constant(order), tf.constant(weight), tf.constant(n, tf.int32))
        counts = np.array([w.sum() for w in weights])
        return loss.numpy()[:self.size], right.numpy()[:self.size], counts

    def weights(self, k: int) -> list[np.ndarray]:
        """Model k's weights now (NumPy, Keras' order)."""
        return [p[k].numpy() for p in self.params]

    def state(self, k: int) -> ModelState:
        """Model k's whole state, to carry it into another group."""
        return ModelState(self.weights(k), [p[k].numpy() for p in self.m],
                          [p[k].numpy() for p in self.v], int(self.steps[k]))


def evaluate(weights: list[np.ndarray], x: tf.Tensor, y: tf.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) of one model's weights on x (N, 784) float32, y (N,) int32."""
    loss, accuracy = _evaluate(*weights, x, y)
    return float(loss), float(accuracy)
