"""Every MNIST_* environment variable, parsed and checked in one place (read at call time)."""

from __future__ import annotations

import os
from pathlib import Path

from mnist_core.constants import MODELS_DIR
from mnist_core.errors import ConfigError

DATA_ENV_VAR = "MNIST_DATA"  # an mnist.npz to use instead of the bundled one
MODELS_DIR_ENV_VAR = "MNIST_MODELS_DIR"  # where models are listed, loaded and saved
TRAIN_LIMIT_ENV_VAR = "MNIST_TRAIN_LIMIT"  # the app's runs train on the first N images
MAX_JOBS_ENV_VAR = "MNIST_MAX_TRAINING_JOBS"  # training runs at once on the server
TF_THREADS_ENV_VAR = "MNIST_TF_THREADS"  # TensorFlow threads per op; 0 = its default
STATUS_SECONDS_ENV_VAR = "MNIST_STATUS_SECONDS"  # how often idle pages look at the trainer
PUBLIC_URL_ENV_VAR = "MNIST_PUBLIC_URL"  # the address participants open, for the share link
BACKEND_ENV_VAR = "MNIST_TRAINING_BACKEND"  # where runs train: local (default) or ray
RAY_ADDRESS_ENV_VAR = "RAY_ADDRESS"  # Ray's own variable: the cluster to join
BACKENDS = ("local", "ray")
TRAINING_WORKERS_ENV_VAR = "MNIST_TRAINING_WORKERS"  # the room's worker processes; 0 = a thread
# Quickstart runs training at once per room worker (more wait): a 2-core server holds 48,
# more than a workshop's 40; each costs ~1.2 MB of weights and Adam moments.
ROOM_RUNS_PER_WORKER = 24
PRESENTER_SECRET_ENV_VAR = "MNIST_PRESENTER_SECRET"  # the presenter console's secret
RUNS_PER_PARTICIPANT_ENV_VAR = "MNIST_RUNS_PER_PARTICIPANT"  # on the board, per participant
RUNS_FOLDER_MB_ENV_VAR = "MNIST_RUNS_FOLDER_MB"  # no run is saved once models/runs/ is this big
ROOM_SECONDS_ENV_VAR = "MNIST_ROOM_SECONDS"  # how often a page looks for pushes and new runs
MIN_SECRET_LENGTH = 12  # a presenter secret shorter than this is refused (guessable)
DRAWINGS_DIR_ENV_VAR = "MNIST_DRAWINGS_DIR"  # where the room's labelled drawings are kept
# The quickstart's ops are tiny: splitting each across threads costs more than it saves,
# and one thread per run leaves the other core to answer drawings (bench/run.py).
DEFAULT_TF_THREADS = 1


def _int_from_env(name: str, low: int) -> int | None:
    """The integer >= `low` in environment variable `name`, or None when it is unset/empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    words = "a positive integer" if low == 1 else f"an integer of at least {low}"
    try:
        value = int(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be {words}, got {raw!r}") from e
    if value < low:
        raise ConfigError(f"{name} must be {words}, got {raw!r}")
    return value


def data_path() -> Path | None:
    """$MNIST_DATA as a path, or None to use the bundled copy."""
    raw = os.environ.get(DATA_ENV_VAR, "").strip()
    return Path(raw) if raw else None


def models_dir() -> Path:
    """The models folder: $MNIST_MODELS_DIR if set, else the project's models/."""
    return Path(os.environ.get(MODELS_DIR_ENV_VAR) or MODELS_DIR)


def drawings_dir() -> Path:
    """The room's labelled drawings: $MNIST_DRAWINGS_DIR, else drawings/ in the models folder."""
    raw = os.environ.get(DRAWINGS_DIR_ENV_VAR, "").strip()
    return Path(raw) if raw else models_dir() / "drawings"


def train_limit() -> int | None:
    """$MNIST_TRAIN_LIMIT: train the app's runs on the first N images (tests, slow laptops)."""
    return _int_from_env(TRAIN_LIMIT_ENV_VAR, 1)


def configured_max_training_jobs() -> int | None:
    """$MNIST_MAX_TRAINING_JOBS, or None when unset."""
    return _int_from_env(MAX_JOBS_ENV_VAR, 1)


def max_training_jobs() -> int:
    """$MNIST_MAX_TRAINING_JOBS, else one per two CPU cores (runs trained by Keras' fit)."""
    configured = configured_max_training_jobs()
    if configured is not None:
        return configured
    # Each TensorFlow run already uses a core; two at once on two cores only thrash.
    return max(1, (os.cpu_count() or 2) // 2)


def training_workers() -> int:
    """$MNIST_TRAINING_WORKERS: the room trainer's worker processes (0: a thread of the
    server); by default one per CPU core (two 1-thread processes train twice one's runs)."""
    configured = _int_from_env(TRAINING_WORKERS_ENV_VAR, 0)
    return max(1, os.cpu_count() or 1) if configured is None else configured


def tf_threads() -> int:
    """$MNIST_TF_THREADS: TensorFlow threads per op (0 = TensorFlow's default, all cores)."""
    configured = _int_from_env(TF_THREADS_ENV_VAR, 0)
    return DEFAULT_TF_THREADS if configured is None else configured


def status_seconds() -> int:
    """$MNIST_STATUS_SECONDS: how often a page looks at an idle trainer (default 30 s)."""
    configured = _int_from_env(STATUS_SECONDS_ENV_VAR, 1)
    return 30 if configured is None else configured


def public_url() -> str | None:
    """$MNIST_PUBLIC_URL (http or https only), or None to work it out from the network."""
    raw = os.environ.get(PUBLIC_URL_ENV_VAR, "").strip()
    if not raw:
        return None
    if not raw.startswith(("http://", "https://")) or any(c.isspace() for c in raw):
        raise ConfigError(f"{PUBLIC_URL_ENV_VAR} must be an http:// or https:// address, "
                          f"got {raw!r}")
    return raw


def training_backend() -> str:
    """$MNIST_TRAINING_BACKEND: "local" (default: this server's cores) or "ray" (a cluster)."""
    raw = os.environ.get(BACKEND_ENV_VAR, "").strip().lower() or "local"
    if raw not in BACKENDS:
        raise ConfigError(f"{BACKEND_ENV_VAR} must be one of {', '.join(BACKENDS)}, got {raw!r}")
    return raw


def ray_address() -> str | None:
    """$RAY_ADDRESS (e.g. "10.0.0.5:6379" or "auto"), or None to start a Ray of our own."""
    return os.environ.get(RAY_ADDRESS_ENV_VAR, "").strip() or None


def presenter_secret() -> str | None:
    """$MNIST_PRESENTER_SECRET, or None for the one the server creates (runs/.presenter)."""
    raw = os.environ.get(PRESENTER_SECRET_ENV_VAR, "").strip()
    if not raw:
        return None
    if len(raw) < MIN_SECRET_LENGTH or any(c.isspace() for c in raw):
        raise ConfigError(f"{PRESENTER_SECRET_ENV_VAR} must be at least {MIN_SECRET_LENGTH} "
                          "characters without spaces")
    return raw


def runs_per_participant() -> int:
    """$MNIST_RUNS_PER_PARTICIPANT: each participant's newest runs on the board (default 20)."""
    configured = _int_from_env(RUNS_PER_PARTICIPANT_ENV_VAR, 1)
    return 20 if configured is None else configured


def runs_folder_mb() -> int:
    """$MNIST_RUNS_FOLDER_MB: the runs folder's size limit in MB (2000: ~4,500 runs)."""
    configured = _int_from_env(RUNS_FOLDER_MB_ENV_VAR, 1)
    return 2000 if configured is None else configured


def room_seconds() -> int:
    """$MNIST_ROOM_SECONDS: how often a page looks for the presenter's pushes (default 2 s)."""
    configured = _int_from_env(ROOM_SECONDS_ENV_VAR, 1)
    return 2 if configured is None else configured
