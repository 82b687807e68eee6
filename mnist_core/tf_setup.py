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


def lower_compute_priority(niceness: int = 10) -> int:
    """Give TensorFlow's own threads in this process a lower OS priority (Linux); how many.

    A server's training run does its work on these threads: at niceness 10 it takes the
    CPU time that drawings, page updates (and a browser on the same machine) leave over,
    instead of an equal share. Predictions run on them too, but are ~2 ms of TensorFlow
    each. Lowering a priority needs no privileges (raising it back would).
    """
    lowered = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0  # not Linux: leave priorities alone
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                if not comm.read().startswith("tf_"):
                    continue
            tid = int(task)
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
                lowered += 1
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
    return lowered


_configure()

__all__ = ["keras", "lower_compute_priority", "tf"]
