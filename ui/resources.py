"""Everything the server keeps for all sessions (st.cache_resource), and the TensorFlow
warm-up: TensorFlow is imported in a thread once the first page is sent."""

from __future__ import annotations

import gc
import importlib
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from mnist_core import lesson
from mnist_core.constants import IMAGE_SIZE
from mnist_core.data import MnistData, candidate_sources, load_mnist
from mnist_core.errors import MnistStudioError
from mnist_core.store import ModelStore, file_sha256

if TYPE_CHECKING:  # these import TensorFlow: only ever imported lazily
    from mnist_core.jobs import JobManager
    from mnist_core.lesson import LayerRow
    from mnist_core.scores import Evaluation

TENSORFLOW_MODULES = ("mnist_core.evaluate", "mnist_core.jobs")  # the app's modules needing TF


def _close_pyplot_figures() -> None:
    """The part of Streamlit's after-run cleanup that is safe here: close pyplot figures."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


def keep_keras_state_between_runs() -> None:
    """Stop Streamlit calling keras.backend.clear_session() after every script run."""
    # Models train in threads that outlive script runs: each clear_session() reset Keras
    # under them and made training ten times slower. Streamlit has no setting for it.
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = _close_pyplot_figures


@dataclass
class Warmup:
    """TensorFlow being imported in a background thread, started once."""

    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: bool = False

    def start(self) -> None:
        """Start importing (only the first call does anything)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=_warm_up, args=(self,), name="tf-warmup", daemon=True).start()


def _warm_up(warmup: Warmup) -> None:
    """Import the TensorFlow-backed modules and read MNIST if it is local (runs in a thread)."""
    try:
        for module in TENSORFLOW_MODULES:
            importlib.import_module(module)
        source = candidate_sources()[0]
        if source != "keras":  # a local file: never download anything on page load
            load_mnist(source)  # kept per process by mnist_core for the training workers
    except MnistStudioError:
        pass  # a data problem is reported where the data is needed
    except Exception as e:  # reported in the page instead of a traceback
        warmup.error = f"{type(e).__name__}: {e}"
    finally:
        warmup.done.set()
    # TensorFlow leaves ~360k long-lived objects that every full collection walks (~0.2 s,
    # holding the GIL): collect once, then keep them out of later collections.
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def tensorflow_warmup() -> Warmup:
    """The server's TensorFlow loader (started by the first page that needs it)."""
    return Warmup()


def tensorflow_ready() -> bool:
    """Whether TensorFlow has finished loading (never waits)."""
    warmup = tensorflow_warmup()
    return warmup.done.is_set() and warmup.error is None


def wait_for_tensorflow() -> bool:
    """Wait (with a spinner) until TensorFlow is loaded; False, with a message, if it failed."""
    warmup = tensorflow_warmup()
    warmup.start()
    if not warmup.done.is_set():
        with st.spinner("Loading TensorFlow (only the first time, about 10 seconds)..."):
            warmup.done.wait()
    if warmup.error:
        st.error(f"TensorFlow could not be loaded: {warmup.error}")
        return False
    return True


@st.cache_resource(show_spinner=False)
def mnist_data() -> MnistData:
    """The MNIST dataset, loaded once per server process (for the Learn and Evaluate tabs)."""
    return load_mnist()


@st.cache_resource(show_spinner=False)
def mnist_overview() -> lesson.DataOverview:
    """Shapes, pixel ranges and digit counts of MNIST (computed once per server)."""
    return lesson.data_overview(mnist_data())


@st.cache_resource(show_spinner=False)
def job_manager(models_root: str) -> JobManager:
    """The server-wide training queue (one per models folder, i.e. one per server)."""
    from mnist_core.jobs import JobManager

    # Workers call load_mnist itself (it keeps one copy per process, as mnist_data() does).
    return JobManager(ModelStore(models_root), data_loader=load_mnist)


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_model(models_root: str, ref: str, mtime_ns: int) -> Any:
    """A saved model, loaded once per (folder, ref, modification time), its prediction
    traced here once (else every session's first drawing traces it, ~0.1 s each)."""
    from mnist_core.evaluate import predict_logits

    model = ModelStore(models_root).load(ref)
    predict_logits(model, np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32))
    return model


@st.cache_data(max_entries=256, show_spinner=False)
def file_fingerprint(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of a model file, read once per (path, modification time, size)."""
    return file_sha256(path)


@st.cache_resource(max_entries=32, show_spinner=False)
def cached_evaluation(identity: str, _model: Any) -> Evaluation:
    """A model's figures on the 10,000 test images, computed once per model identity."""
    from mnist_core.evaluate import evaluate

    data = mnist_data()
    return evaluate(_model, data.x_test, data.y_test)


@st.cache_resource(show_spinner=False)
def untrained_model() -> Any:
    """The quickstart network before training (fixed seed: the same numbers for everyone)."""
    return lesson.untrained_model()


@st.cache_data(show_spinner=False)
def quickstart_layers() -> list[LayerRow]:
    """The quickstart's layer table, read from the real (untrained) model."""
    from mnist_core.model import layer_summary

    return layer_summary(untrained_model())


def model_store() -> ModelStore:
    """The models folder ($MNIST_MODELS_DIR or models/)."""
    return ModelStore()



def trainer() -> JobManager:
    """The server-wide training queue of this models folder."""
    return job_manager(str(model_store().root))
