"""Shared fixtures: the real MNIST, small slices of it, a throwaway model store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mnist_core.constants import MODELS_DIR
from mnist_core.data import MnistData, load_mnist

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
