"""mnist_core.store: one bad entry in the models folder never breaks the listing."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mnist_core.errors import MnistStudioError
from mnist_core.store import ModelStore

LIST_TIMEOUT = 20  # seconds; a listing takes milliseconds (a FIFO must not block it)


def within(seconds: float, work: Callable[[], object]) -> object:
    """Run `work` in a thread; its result, or fail the test if it takes longer."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as e:
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]


def copy_model(models_dir: Path, name: str, metadata: dict | str | bytes | None = None) -> Path:
    """runs/NAME.keras, a copy of the quickstart, with the given JSON beside it."""
    runs = models_dir / "runs"
    runs.mkdir(exist_ok=True)
    path = runs / f"{name}.keras"
    shutil.copy(models_dir / "quickstart.keras", path)
    sidecar = path.with_suffix(".json")
    if isinstance(metadata, dict):
        sidecar.write_text(json.dumps(metadata))
    elif isinstance(metadata, str):
        sidecar.write_text(metadata)
    elif isinstance(metadata, bytes):
        sidecar.write_bytes(metadata)
    return path


def quickstart_metadata(models_dir: Path, **changes) -> dict:
    return {**json.loads((models_dir / "quickstart.json").read_text()), **changes}


def symlink_outside(models_dir: Path) -> None:
    (models_dir / "runs").mkdir(exist_ok=True)
    (models_dir / "runs" / "bad.keras").symlink_to("/etc/passwd")


def symlink_elsewhere(models_dir: Path) -> None:
    elsewhere = models_dir.parent / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(models_dir / "quickstart.keras", elsewhere / "real.keras")
    (models_dir / "runs").mkdir(exist_ok=True)
    (models_dir / "runs" / "bad.keras").symlink_to(elsewhere / "real.keras")
    (models_dir / "runs" / "bad.json").write_text((models_dir / "quickstart.json").read_text())


def directory(models_dir: Path) -> None:
    (models_dir / "runs" / "bad.keras").mkdir(parents=True)
    (models_dir / "runs" / "bad.json").write_text((models_dir / "quickstart.json").read_text())


def fifo_model(models_dir: Path) -> None:
    (models_dir / "runs").mkdir(exist_ok=True)
    os.mkfifo(models_dir / "runs" / "bad.keras")
    (models_dir / "runs" / "bad.json").write_text((models_dir / "quickstart.json").read_text())


def fifo_metadata(models_dir: Path) -> None:
    path = copy_model(models_dir, "bad")
    os.mkfifo(path.with_suffix(".json"))


def symlinked_metadata(models_dir: Path) -> None:
    path = copy_model(models_dir, "bad")
    path.with_suffix(".json").symlink_to(models_dir / "quickstart.json")


def huge_metadata(models_dir: Path) -> None:
    path = copy_model(models_dir, "bad", '{"name": "runs/bad", "description": "')
    with path.with_suffix(".json").open("r+b") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: 64 MB on paper, nothing on disk


BAD_ENTRIES: dict[str, tuple[Callable[[Path], None], str]] = {
    "symlink-to-etc-passwd": (symlink_outside, "outside the models folder"),
    "symlink-to-a-model-elsewhere": (symlink_elsewhere, "outside the models folder"),
    "directory-named-keras": (directory, "not a regular file"),
    "fifo-named-keras": (fifo_model, "not a regular file"),
    "config-is-a-string": (
        lambda d: copy_model(d, "bad", quickstart_metadata(d, config="x")), "config"),
    "accuracy-is-a-word": (
        lambda d: copy_model(d, "bad", quickstart_metadata(d, test_accuracy="high")),
        "test_accuracy is 'high'"),
    "epochs-overflow": (
        lambda d: copy_model(d, "bad", '{"config": {"epochs": 1' + "0" * 400 + "}}"),
        "unreadable metadata"),
    "history-is-a-list": (
        lambda d: copy_model(d, "bad", quickstart_metadata(d, history=[1, 2])), "history"),
    "not-utf8": (lambda d: copy_model(d, "bad", b'{"name": "\xff\xfe"}'), "utf-8"),
    "deeply-nested": (lambda d: copy_model(d, "bad", "[" * 200_000), "unreadable metadata"),
    "huge-json": (huge_metadata, "too large"),
    "fifo-json": (fifo_metadata, "not a regular file"),
    "symlinked-json": (symlinked_metadata, "symbolic link"),
    "no-json": (lambda d: copy_model(d, "bad"), "no metadata file"),
}


@pytest.mark.parametrize("case", BAD_ENTRIES)
def test_a_bad_entry_is_listed_as_unusable_and_the_rest_works(models_dir, case):
    make, problem = BAD_ENTRIES[case]
    make(models_dir)
    copy_model(models_dir, "good", quickstart_metadata(models_dir, name="runs/good"))
    store = ModelStore(models_dir)
    infos = {info.ref: info for info in within(LIST_TIMEOUT, store.list_models)}
    assert infos["quickstart"].metadata is not None and infos["runs/good"].metadata is not None
    bad = infos["runs/bad"]
    assert bad.metadata is None and problem in bad.problem, bad.problem
    assert store.load("runs/good").count_params() == 101_770


@pytest.mark.parametrize("case", ["symlink-to-etc-passwd", "symlink-to-a-model-elsewhere",
                                  "directory-named-keras", "fifo-named-keras"])
def test_loading_a_bad_model_entry_says_why(models_dir, case):
    make, problem = BAD_ENTRIES[case]
    make(models_dir)
    store = ModelStore(models_dir)
    with pytest.raises(MnistStudioError, match="runs/bad") as info:
        within(LIST_TIMEOUT, lambda: store.load("runs/bad"))
    assert problem in str(info.value)


def test_unreadable_metadata_file(models_dir, monkeypatch):
    """A metadata file the server may not read (root ignores chmod, so simulated)."""
    copy_model(models_dir, "bad", quickstart_metadata(models_dir))
    real_open = os.open

    def no_permission(path, *args, **kwargs):
        if str(path).endswith("bad.json"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_permission)  # how the store opens metadata
    infos = {info.ref: info for info in ModelStore(models_dir).list_models()}
    assert "Permission denied" in infos["runs/bad"].problem
    assert infos["quickstart"].metadata is not None


def test_unreadable_model_file(models_dir, monkeypatch):
    """A model file the server may not read: listed (its metadata is fine), and loading it
    says so rather than calling it corrupt."""
    import zipfile

    copy_model(models_dir, "bad", quickstart_metadata(models_dir))
    real_zipfile = zipfile.ZipFile

    def no_permission(file, *args, **kwargs):
        if str(file).endswith("bad.keras"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_zipfile(file, *args, **kwargs)

    monkeypatch.setattr(zipfile, "ZipFile", no_permission)
    store = ModelStore(models_dir)
    assert "runs/bad" in [info.ref for info in store.list_models()]
    with pytest.raises(MnistStudioError, match=r"runs/bad: can't read it \(.*Permission denied"):
        store.load("runs/bad")


def test_an_unexpected_error_for_one_entry_does_not_break_the_listing(models_dir,
                                                                      monkeypatch):
    copy_model(models_dir, "bad", quickstart_metadata(models_dir))
    real_read = ModelStore.read_metadata

    def flaky(self, ref):
        if ref == "runs/bad":
            raise RuntimeError("something nobody expected")
        return real_read(self, ref)

    monkeypatch.setattr(ModelStore, "read_metadata", flaky)
    infos = {info.ref: info for info in ModelStore(models_dir).list_models()}
    assert "something nobody expected" in infos["runs/bad"].problem
    assert infos["quickstart"].metadata is not None


def test_files_with_names_we_would_refuse_are_skipped(models_dir):
    runs = models_dir / "runs"
    runs.mkdir()
    for name in ("with space.keras", ".hidden.keras", "-dash.keras"):
        shutil.copy(models_dir / "quickstart.keras", runs / name)
    refs = [info.ref for info in ModelStore(models_dir).list_models()]
    assert not [ref for ref in refs if ref.startswith("runs/")]
