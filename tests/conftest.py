"""Shared fixtures: the real MNIST, small slices of it, a throwaway model store."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mnist_core.constants import MODELS_DIR
from mnist_core.data import MnistData, load_mnist

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The app's room trainer in a thread of the server rather than warm worker processes (each
# imports TensorFlow and loads MNIST: seconds per test's server). tests/test_executors.py
# covers the processes.
os.environ.setdefault("MNIST_TRAINING_WORKERS", "0")


@pytest.fixture(scope="session")
def mnist() -> MnistData:
    """The full, verified MNIST (loaded once per test session)."""
    return load_mnist()


@pytest.fixture(scope="session")
def small_mnist(mnist: MnistData) -> MnistData:
    """2,000 training and 500 test images: enough to learn, fast to train."""
    return mnist.limit(2000, 500)


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary models folder holding copies of the shipped models."""
    folder = tmp_path / "models"
    folder.mkdir()
    for shipped in MODELS_DIR.glob("*.keras"):
        shutil.copy(shipped, folder)
        sidecar = shipped.with_suffix(".json")
        if sidecar.exists():
            shutil.copy(sidecar, folder)
    monkeypatch.setenv("MNIST_MODELS_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium (Playwright's own browser download does not work here)."""
    from bench.appserver import chromium_path

    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[object]:
    """One headless Chromium for the module."""
    from bench.appserver import chromium_browser

    with chromium_browser(chromium) as browser:
        yield browser


@contextmanager
def app_server(base: Path, env: dict[str, str]) -> Iterator[object]:
    """`streamlit run streamlit_app.py` on a free port with copies of the shipped models;
    the test fails with the server's log if it does not start."""
    from bench.appserver import ServerError, copy_shipped_models, running_app

    try:
        with running_app(copy_shipped_models(base / "models"), base / "server.log",
                         env=env) as app:
            yield app
    except ServerError as e:
        pytest.fail(str(e))
