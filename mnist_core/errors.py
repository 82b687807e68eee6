"""Every exception MNIST Studio raises on purpose, in one place."""

from __future__ import annotations


class MnistStudioError(Exception):
    """Base class: a problem with a message meant for the user."""


class DataError(MnistStudioError):
    """The MNIST data could not be loaded or failed verification."""


class ConfigError(MnistStudioError, ValueError):
    """A hyperparameter or argument is out of range."""


class ModelLoadError(MnistStudioError):
    """A saved model is missing, corrupt, foreign or unsafe."""


class ModelSaveError(MnistStudioError):
    """A model could not be written (read-only folder, full disk, ...)."""


class InvalidNameError(MnistStudioError, ValueError):
    """A model name is empty, too long or would escape the models folder."""


class ImageError(MnistStudioError, ValueError):
    """An image of a digit is unreadable or too large to decode safely."""


class BusyError(MnistStudioError):
    """A participant already has a run queued or training (one at a time each)."""


class BackendError(MnistStudioError):
    """The configured training backend (a Ray cluster) cannot be used."""


class StoreFullError(ModelSaveError):
    """The runs folder has reached its size limit (MNIST_RUNS_FOLDER_MB)."""


class PresenterError(MnistStudioError):
    """A presenter action without the presenter's secret, or the room state unwritable."""


class DrawingError(MnistStudioError, ValueError):
    """A labelled drawing is refused: empty canvas, bad label, a full room, not yours."""


class DrawingSaveError(MnistStudioError):
    """A labelled drawing could not be written or deleted (read-only folder, full disk)."""
