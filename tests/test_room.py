"""mnist_core.room: the presenter's secret, pushes, the hold and the fresh board, on disk."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from mnist_core.errors import ConfigError, PresenterError
from mnist_core.room import ROOM_FILE, SECRET_FILE, Room, RoomState, presenter_link
from mnist_core.store import ModelStore

SECRET = "a-presenter-secret-for-tests"


@pytest.fixture
def room(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Room:
    monkeypatch.setenv("MNIST_PRESENTER_SECRET", SECRET)
    return Room(ModelStore(models_dir))


def test_push_with_the_secret_is_kept_across_a_restart(room: Room) -> None:
    state = room.push(SECRET, {"dropout": 0.5, "epochs": 3}, tab="train")
    assert (state.version, state.settings, state.tab) == (1, {"dropout": 0.5, "epochs": 3},
                                                          "train")
    room.hold(SECRET, True)
    room.fresh_board(SECRET)
    again = Room(room.store)  # a restarted server reads it back
    assert again.state == room.state
    assert again.state.held and again.state.board_since is not None
    assert room.push(SECRET, {"train_images": 500}).version == 2


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x", 12345])
def test_every_action_is_refused_without_the_secret(room: Room, secret) -> None:
    for action in (lambda: room.push(secret, {"dropout": 0.5}), lambda: room.hold(secret, True),
                   lambda: room.fresh_board(secret)):
        with pytest.raises(PresenterError, match="Only the presenter"):
            action()
    assert room.state == RoomState()
    assert not room.path.exists()


@pytest.mark.parametrize(("settings", "tab", "message"), [
    ({"dropout": 0.33}, None, "dropout=0.33 is not a setting"),
    ({"epochs": 500}, None, "epochs=500"),
    ({"learning_rate": 0.1}, None, "learning_rate=0.1"),
    ({"epochs": True}, None, "epochs=True"),
    ({}, "console", "tab='console'"),
])
def test_a_push_outside_the_choices_is_refused(room: Room, settings, tab, message) -> None:
    with pytest.raises(PresenterError, match=message):
        room.push(SECRET, settings, tab=tab)
    assert room.state.version == 0


def test_a_hand_edited_room_file_keeps_what_is_valid(room: Room) -> None:
    room.path.parent.mkdir(parents=True, exist_ok=True)
    room.path.write_text(json.dumps({"version": 4, "settings": {"dropout": 0.5, "epochs": -1},
                                     "tab": "../etc", "held": "yes", "board_since": "x"}))
    state = Room(room.store).state
    assert state == RoomState(version=4, settings={"dropout": 0.5})
    room.path.write_text("[not json")
    assert Room(room.store).state == RoomState()


def test_the_server_makes_a_secret_kept_owner_only(models_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNIST_PRESENTER_SECRET", raising=False)
    store = ModelStore(models_dir)
    room = Room(store)
    path = store.runs_dir / SECRET_FILE
    secret = path.read_text().strip()
    assert len(secret) >= 20 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Room(store).is_presenter(secret)  # the same after a restart
    assert not room.is_presenter(secret.upper())
    link = presenter_link("http://10.0.0.5:8501/?tab=draw", secret)
    assert link == f"http://10.0.0.5:8501/?presenter_key={secret}"


def test_a_short_secret_in_the_environment_is_refused(models_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_PRESENTER_SECRET", "short")
    with pytest.raises(ConfigError, match="MNIST_PRESENTER_SECRET must be at least 12"):
        Room(ModelStore(models_dir))


def test_an_unwritable_room_fails_with_a_message_and_changes_nothing(
        room: Room, monkeypatch: pytest.MonkeyPatch) -> None:
    room.store.runs_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # root writes anywhere: make the rename fail instead
        monkeypatch.setattr(os, "replace", lambda *a, **k: (_ for _ in ()).throw(
            PermissionError(13, "Permission denied")))
    else:
        room.store.runs_dir.chmod(0o500)
    try:
        with pytest.raises(Exception, match=f"could not write {ROOM_FILE}"):
            room.push(SECRET, {"dropout": 0.5})
    finally:
        room.store.runs_dir.chmod(0o755)
    assert room.state.version == 0
    assert not list(room.store.runs_dir.glob(".tmp-*"))


def test_a_runs_path_that_is_not_a_folder_still_gives_a_room(
        models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNIST_PRESENTER_SECRET", raising=False)
    (models_dir / "runs").write_text("a file where the runs folder should be")
    room = Room(ModelStore(models_dir))
    assert room.state == RoomState() and not room.is_presenter("")
