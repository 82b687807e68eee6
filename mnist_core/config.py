"""TrainConfig: the one home of every training default and range (CLI and sliders read it)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from mnist_core.errors import ConfigError

ARCHITECTURES = ("mlp", "cnn")  # the quickstart network; a small CNN for drawings


@dataclass(frozen=True)
class Limit:
    """The allowed values of one numeric setting: low..high, either end open or closed."""

    kind: type  # int or float
    low: float
    high: float | None  # None: no upper bound
    low_open: bool = False
    high_open: bool = False

    def check(self, name: str, value: Any) -> None:
        """Raise ConfigError, naming the setting, unless `value` is allowed."""
        integral = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if self.kind is int and self.high is None and self.low == 1:
            if not (integral and value >= 1):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
            return
        if self.kind is int and not integral:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        is_number = integral or isinstance(value, (float, np.floating))
        if self.kind is float and not is_number:
            raise ConfigError(f"{name} must be a number, got {value!r}")
        if not self.contains(value):
            where = (f"between {int(self.low)} and {int(self.high)}" if self.kind is int
                     and self.high is not None else f"in {self}")
            raise ConfigError(f"{name} must be {where}, got {value}")

    def contains(self, value: float) -> bool:
        """Whether `value` lies in the range."""
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        if self.high is None:
            return above
        return above and (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        high = "inf" if self.high is None else f"{self.high:g}"
        return (f"{'(' if self.low_open else '['}{self.low:g}, {high}"
                f"{')' if self.high_open or self.high is None else ']'}")


# Every numeric field of TrainConfig and what it may be.
LIMITS: dict[str, Limit] = {
    "epochs": Limit(int, 1, 100),
    "dropout": Limit(float, 0.0, 1.0, high_open=True),
    "batch_size": Limit(int, 1, 4096),
    "learning_rate": Limit(float, 0.0, 1.0, low_open=True),
    "hidden_units": Limit(int, 1, None),
    "seed": Limit(int, 0, 2**31 - 1),
    "train_limit": Limit(int, 1, 10**7),
    "test_limit": Limit(int, 1, 10**7),
}

# What the app's sliders offer: a beginner-sized part of LIMITS.
EPOCH_CHOICES = tuple(range(1, 21))
DROPOUT_CHOICES = tuple(round(i * 0.05, 2) for i in range(17))  # 0 to 0.8
BATCH_SIZE_CHOICES = (16, 32, 64, 128, 256, 512)
LEARNING_RATE_CHOICES = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03)
# Training images (the first N of MNIST's 60,000): a small set can be memorised, and the
# gap between training and test accuracy shows what dropout does (60,000 = all of them).
TRAIN_IMAGE_CHOICES = (500, 1000, 10_000, 60_000)
ALL_TRAIN_IMAGES = 60_000


def train_limit_for(images: int) -> int | None:
    """TrainConfig.train_limit for a number of training images (None: all of them)."""
    return None if images >= ALL_TRAIN_IMAGES else int(images)


# The overfitting demonstration: few images, no dropout, many epochs (then add dropout).
OVERFIT_PRESET = {"epochs": 20, "dropout": 0.0, "train_images": 500}


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run, saved beside the model."""

    epochs: int = 5
    dropout: float = 0.2
    batch_size: int = 32
    learning_rate: float = 1e-3
    hidden_units: int = 128
    arch: str = "mlp"
    augment: bool = False
    seed: int = 0
    train_limit: int | None = None  # use only the first N training images
    test_limit: int | None = None  # validate on only the first N test images
    room_drawings: bool = False  # MNIST + the room's labelled drawings (mnist_core.drawings)

    def __post_init__(self) -> None:
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if value is not None or name not in ("train_limit", "test_limit"):
                limit.check(name, value)
        if self.arch not in ARCHITECTURES:
            raise ConfigError(
                f"arch must be one of {', '.join(ARCHITECTURES)}, got {self.arch!r}")
        for name in ("augment", "room_drawings"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild from `to_dict` output, ignoring unknown keys from newer versions."""
        if not isinstance(values, dict):
            raise ConfigError(f"a training config must be a mapping, got {values!r}")
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


DEFAULTS = TrainConfig()
