"""Import Keras with TensorFlow's thread pools sized for this workload, once."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

THREADS_ENV_VAR = "MNIST_TF_THREADS"
# The quickstart's ops are tiny (a 32 x 784 by 784 x 128 matmul): splitting each one
# across threads costs more in handoffs than it saves, and on a shared 2-core server
# a single-threaded training run leaves the other core to answer drawings. Measured
# in bench/run.py; set MNIST_TF_THREADS=0 for TensorFlow's default (all cores).
DEFAULT_THREADS = 1


def _configure() -> None:
    raw = os.environ.get(THREADS_ENV_VAR, "").strip()
    threads = int(raw) if raw.isdigit() else DEFAULT_THREADS
    if threads == 0:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow was already running: keep whatever it has


_configure()

__all__ = ["keras", "tf"]
