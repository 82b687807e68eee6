"""Import Keras with TensorFlow's thread pools sized for this workload, once."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

from mnist_core.settings import tf_threads


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hide what C++ writes to fd 2 meanwhile: TensorFlow's start-up lines (oneDNN, CUDA
    probing, a cuInit 'error' on CPU-only machines) come before TF_CPP_MIN_LOG_LEVEL is
    read. TF_CPP_MIN_LOG_LEVEL=0 shows them."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _quiet_stderr():
    import keras
    import tensorflow as tf

    tf.config.list_physical_devices()  # the CUDA probe happens here, once


def _configure() -> None:
    threads = tf_threads()
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


def _keep_keras_skipsets() -> None:
    """Memoize Keras' per-type lists of attributes a save skips. Keras 3 reads them back
    under "saving_attr_skiplist_*" but stores "saving_attr_skipset_*", so each save built a
    throwaway Layer, Optimizer and Metric again: ~40% of saving a run, on the server's GIL."""
    try:
        from keras.src.saving import saving_lib
    except ImportError:  # another layout of Keras: nothing to mend
        return
    skipset = getattr(saving_lib, "get_attr_skipset", None)
    if callable(skipset) and not hasattr(skipset, "cache_info"):
        saving_lib.get_attr_skipset = functools.cache(skipset)  # read only, never mutated


_configure()
_keep_keras_skipsets()

__all__ = ["keras", "lower_compute_priority", "tf"]
