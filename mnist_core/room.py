"""The room: the presenter's secret, what the presenter pushed, the hold, the fresh board.

Kept in two small files beside the runs (models/runs/.room.json, .presenter-secret), each
written atomically, so a server restart keeps the room as the presenter left it.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mnist_core.config import (
    DROPOUT_CHOICES,
    EPOCH_CHOICES,
    TRAIN_IMAGE_CHOICES,
)
from mnist_core.errors import MnistStudioError, PresenterError
from mnist_core.settings import presenter_secret
from mnist_core.store import ModelStore, read_small_file, write_atomic

log = logging.getLogger(__name__)

ROOM_FILE = ".room.json"
SECRET_FILE = ".presenter-secret"
PRESENTER_PARAM = "presenter_key"  # ?presenter_key=... in the presenter link only
ROOM_TABS = ("learn", "train", "draw", "evaluate", "room")  # what a push may open
PUSHED_SETTINGS = {"epochs": EPOCH_CHOICES, "dropout": DROPOUT_CHOICES,
                   "train_images": TRAIN_IMAGE_CHOICES}


@dataclass(frozen=True)
class RoomState:
    """What the presenter set for the room; `version` grows with every push."""

    version: int = 0  # 0: nothing pushed yet
    settings: dict[str, float] = field(default_factory=dict)  # epochs, dropout, train_images
    tab: str | None = None  # the tab every page opens (None: each keeps its own)
    held: bool = False  # new training held for the room
    board_since: str | None = None  # ISO time of the last fresh start; earlier runs hidden
    pushed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Any) -> RoomState:
        """Rebuild from JSON, keeping only what is valid (a hand-edited file never breaks
        the room: a bad value is dropped)."""
        if not isinstance(values, dict):
            return cls()
        version = values.get("version")
        settings = check_settings(values.get("settings") or {}, strict=False)
        tab = values.get("tab") if values.get("tab") in ROOM_TABS else None
        since = values.get("board_since")
        pushed = values.get("pushed_at")
        return cls(
            version=version if isinstance(version, int) and version >= 0 else 0,
            settings=settings, tab=tab, held=values.get("held") is True,
            board_since=since if isinstance(since, str) and _is_time(since) else None,
            pushed_at=pushed if isinstance(pushed, str) and _is_time(pushed) else None,
        )


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def check_settings(settings: Any, strict: bool = True) -> dict[str, float]:
    """The pushable settings among `settings` that hold one of their choices; with `strict`,
    PresenterError for anything else."""
    if not isinstance(settings, dict):
        if strict:
            raise PresenterError(f"settings must be a mapping, got {settings!r}")
        return {}
    valid = {}
    for key, value in settings.items():
        choices = PUSHED_SETTINGS.get(key)
        if choices is not None and isinstance(value, (int, float)) \
                and not isinstance(value, bool) and value in choices:
            valid[key] = int(value) if key != "dropout" else float(value)
        elif strict:
            raise PresenterError(f"{key}={value!r} is not a setting a presenter can push")
    return valid


def now() -> str:
    """The current time, as saved in metadata (ISO, UTC)."""
    return datetime.now(UTC).isoformat()


class Room:
    """The room's state on disk and in memory (one per server and models folder)."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._secret = load_or_create_secret(store)
        self._state = self._read()
        self._presenter_seen = False  # the console was opened since this server started

    @property
    def live(self) -> bool:
        """Whether a presenter leads this room (pages then follow it every few seconds;
        until then no page spends a timer on it)."""
        state = self._state
        return self._presenter_seen or state.version > 0 or state.held

    def presenter_arrived(self, secret: Any) -> bool:
        """Note that the presenter opened the console (True if `secret` is theirs)."""
        if self.is_presenter(secret):
            self._presenter_seen = True
            return True
        return False

    @property
    def path(self) -> Path:
        """Where the room's state is kept."""
        return self.store.runs_dir / ROOM_FILE

    @property
    def state(self) -> RoomState:
        """The room as it is now (a frozen copy: read it without a lock)."""
        return self._state

    def _read(self) -> RoomState:
        try:
            text = read_small_file(self.path)
            return RoomState() if text is None else RoomState.from_dict(json.loads(text))
        except (MnistStudioError, ValueError) as e:  # a broken file: start afresh, say so
            log.warning("room state %s unreadable, starting afresh: %s", self.path, e)
            return RoomState()

    def is_presenter(self, secret: Any) -> bool:
        """Whether `secret` is the presenter's (compared in constant time)."""
        if not isinstance(secret, str) or not secret:
            return False
        return hmac.compare_digest(secret.encode("utf-8"), self._secret.encode("utf-8"))

    def link(self, base: str) -> str:
        """The presenter link for this server's address `base` (for the terminal only)."""
        return presenter_link(base, self._secret)

    def _change(self, secret: Any, **changes: Any) -> RoomState:
        """Apply a presenter's change, written to disk before it is seen by any page."""
        if not self.is_presenter(secret):
            raise PresenterError("Only the presenter can do this (the presenter link's "
                                 "secret is missing or wrong).")
        with self._lock:
            state = replace(self._state, **changes)
            write_atomic(self.path, json.dumps(state.to_dict(), indent=2))
            self._state = state
        return state

    def push(self, secret: Any, settings: dict[str, float], tab: str | None = None) -> RoomState:
        """Send settings (and a tab) to every page in the room; returns the new state."""
        if tab is not None and tab not in ROOM_TABS:
            raise PresenterError(f"tab={tab!r} is not one of {', '.join(ROOM_TABS)}")
        return self._change(secret, version=self._state.version + 1,
                            settings=check_settings(settings), tab=tab, pushed_at=now())

    def hold(self, secret: Any, held: bool) -> RoomState:
        """Hold (True) or release new training for the room."""
        return self._change(secret, held=bool(held))

    def fresh_board(self, secret: Any) -> RoomState:
        """Hide every run finished so far from the board (they stay on disk)."""
        return self._change(secret, board_since=now())


def load_or_create_secret(store: ModelStore) -> str:
    """$MNIST_PRESENTER_SECRET, else the secret kept in runs/.presenter-secret (owner-only),
    made on first use: so the presenter's link survives a restart."""
    configured = presenter_secret()
    if configured is not None:
        return configured
    path = store.runs_dir / SECRET_FILE
    try:
        text = read_small_file(path, limit=1024)
    except MnistStudioError as e:  # e.g. runs/ is not a folder: the app still works
        log.warning("presenter secret %s unreadable (%s): one for this process only", path, e)
        return secrets.token_urlsafe(18)
    if text and len(text.strip()) >= 16:
        return text.strip()
    secret = secrets.token_urlsafe(18)
    try:
        write_atomic(path, secret + "\n", mode=0o600)
    except MnistStudioError as e:  # read-only folder: a secret for this process only
        log.warning("presenter secret not saved (%s): it changes at the next start", e)
    return secret


def presenter_link(base: str, secret: str) -> str:
    """The link that opens the presenter console (the secret leaves the address at once)."""
    return f"{base.split('?')[0].rstrip('/')}/?{PRESENTER_PARAM}={secret}"




def main() -> None:
    """`python -m mnist_core.room [BASE_URL]`: print the presenter link of this models folder."""
    import sys

    base = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8501/"
    print(Room(ModelStore()).link(base))


if __name__ == "__main__":
    main()
