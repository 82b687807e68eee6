"""Named constants shared by every module."""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_SIZE = 28
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE)
NUM_CLASSES = 10
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
# MNIST digits were size-normalised to fit a 20x20 box, then centred in 28x28.
DIGIT_BOX = 20

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA_PATH = PROJECT_ROOT / "data" / "mnist.npz"
MODELS_DIR = PROJECT_ROOT / "models"
MODELS_DIR_ENV_VAR = "MNIST_MODELS_DIR"
RUNS_SUBDIR = "runs"

ARCHITECTURES = ("mlp", "cnn")  # the quickstart network; a small CNN for drawings
MAX_EPOCHS = 100
MAX_BATCH_SIZE = 4096

QUICKSTART_MODEL = "quickstart"
DRAWING_MODEL = "drawing"


def models_dir() -> Path:
    """The models folder: $MNIST_MODELS_DIR if set (read at call time), else models/."""
    return Path(os.environ.get(MODELS_DIR_ENV_VAR) or MODELS_DIR)
