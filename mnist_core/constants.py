"""Named constants shared by every module."""

from __future__ import annotations

from pathlib import Path

IMAGE_SIZE = 28
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE)
NUM_CLASSES = 10
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
# MNIST digits were size-normalised to fit a 20x20 box, then centred in 28x28.
DIGIT_BOX = 20

# The Draw tab's canvas, also what mnist_core.strokes draws synthetic digits on.
CANVAS_SIZE = 280  # px, square
STROKE_WIDTH = 20  # px, the pen's width

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA_PATH = PROJECT_ROOT / "data" / "mnist.npz"
MODELS_DIR = PROJECT_ROOT / "models"
RUNS_SUBDIR = "runs"

QUICKSTART_MODEL = "quickstart"
DRAWING_MODEL = "drawing"
