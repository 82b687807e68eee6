"""Settings read from environment variables, checked the same way everywhere."""

from __future__ import annotations

import os

from mnist_core.errors import ConfigError


def positive_int_from_env(name: str) -> int | None:
    """The positive integer in environment variable `name`, or None when it is unset/empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}") from e
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value
