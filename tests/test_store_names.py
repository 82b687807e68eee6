"""mnist_core.store: run names unique under concurrency, failed saves that leave nothing,
leftovers of killed saves cleaned."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import pytest

from mnist_core.errors import ModelSaveError
from mnist_core.jobs import JobManager, metadata_for, save_result
from mnist_core.store import ModelStore
from mnist_core.training import TrainConfig, train
from tests.conftest import PROJECT_ROOT

RUNS = 12


@pytest.fixture(scope="module")
def trained(small_mnist):
    return train(TrainConfig(epochs=1, train_limit=500, test_limit=100), small_mnist)


@pytest.fixture
def store(models_dir: Path) -> ModelStore:
    return ModelStore(models_dir)


def saved_runs(store: ModelStore) -> list[str]:
    return sorted(f"runs/{path.stem}" for path in store.runs_dir.glob("*.keras")
                  if not path.name.startswith("."))


def test_parallel_saves_get_unique_names(store, trained):
    """12 runs with the same settings saved at the same moment: 12 names, 12 files."""
    start = threading.Barrier(RUNS)
    refs: list[str] = []

    def save() -> None:
        start.wait()
        refs.append(save_result(store, trained))

    threads = [threading.Thread(target=save) for _ in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(refs) == RUNS and len(set(refs)) == RUNS, refs
    assert saved_runs(store) == sorted(refs)
    assert not list(store.runs_dir.glob(".*")), list(store.runs_dir.glob(".*"))
    listed = [info.ref for info in store.list_models() if not info.shipped]
    assert sorted(listed) == sorted(refs)
    assert all(store.read_metadata(ref).name == ref for ref in refs)


SAVER = """
import sys, time
from pathlib import Path
from mnist_core.jobs import save_result
from mnist_core.model import build_model
from mnist_core.store import ModelStore
from mnist_core.training import TrainConfig, TrainResult
config = TrainConfig(epochs=1)
result = TrainResult(build_model(seed=0), config, {"loss": [1.0]}, 1.0, 0.5, 1, False, 1.0)
store, go = ModelStore(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
for _ in range(int(sys.argv[3])):
    print(save_result(store, result), flush=True)
"""


def test_two_processes_saving_at_once_get_unique_names(store, tmp_path):
    """The CLI and the app share the folder: names are unique across processes too."""
    go = tmp_path / "go"
    per_process = RUNS // 2
    savers = [subprocess.Popen([sys.executable, "-c", SAVER, str(store.root), str(go),
                                str(per_process)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for saver in savers:
            assert saver.stdout.readline().strip() == "ready", saver.stderr.read()
        go.touch()
        outputs = [saver.communicate(timeout=120) for saver in savers]
    finally:
        for saver in savers:
            saver.kill()
    assert all(saver.returncode == 0 for saver in savers), [err for _, err in outputs]
    refs = [line for out, _ in outputs for line in out.split()]
    assert len(refs) == RUNS and len(set(refs)) == RUNS, refs
    assert saved_runs(store) == sorted(refs)
    assert not list(store.runs_dir.glob(".*"))


def test_a_reserved_name_is_never_listed_nor_given_twice(store):
    ref = store.new_run_ref("mlp-e1-d0.20")
    assert ref not in [info.ref for info in store.list_models()]
    other = store.new_run_ref("mlp-e1-d0.20")
    assert other != ref
    for reserved in (ref, other):
        store.release_run_ref(reserved)
    assert not list(store.runs_dir.iterdir())


@pytest.mark.parametrize("failing", ["os.replace", "model.save"])
def test_a_failed_save_frees_its_name_and_leaves_nothing(store, trained, monkeypatch,
                                                         failing):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "os.replace":
        monkeypatch.setattr("mnist_core.store.os.replace", disk_full)
    else:
        monkeypatch.setattr(keras.Model, "save", disk_full)
    with pytest.raises(ModelSaveError, match="No space left on device"):
        save_result(store, trained)
    monkeypatch.undo()
    assert not list(store.runs_dir.iterdir()), list(store.runs_dir.iterdir())


def test_the_clean_up_after_a_failed_save_never_raises(store, trained, monkeypatch):
    """A read-only folder: model.save fails with EROFS and so does every unlink."""

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(keras.Model, "save", read_only)
    monkeypatch.setattr(os, "unlink", read_only)  # Path.unlink calls os.unlink
    monkeypatch.setattr(os, "remove", read_only)
    with pytest.raises(ModelSaveError, match=r"could not save the model to .*Read-only"):
        store.save(trained.model, metadata_for(trained), "runs/read-only")
    with pytest.raises(ModelSaveError, match="Read-only file system"):
        save_result(store, trained)


def make_leftovers(store: ModelStore) -> dict[str, Path]:
    """Temp files of killed saves (old) and of a save under way (fresh), and real runs."""
    store.runs_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "old-model": store.runs_dir / ".tmp-123-456-mlp-e5.keras",
        "old-metadata": store.runs_dir / ".tmp-abc123.json",
        "old-reservation": store.runs_dir / ".tmp-mlp-e5-20240101-101010.reserved",
        "old-at-top": store.root / ".tmp-9-9-quickstart.keras",
        "fresh-model": store.runs_dir / ".tmp-777-888-mlp-e1.keras",
        "real-run": store.runs_dir / "mlp-e5.keras",
        "hidden-not-ours": store.runs_dir / ".gitkeep",
    }
    an_hour_ago = time.time() - 3600
    for name, path in files.items():
        path.write_bytes(b"PK\x03\x04 half written")
        if not name.startswith("fresh"):
            os.utime(path, (an_hour_ago, an_hour_ago))
    return files


def test_clean_leftovers_removes_only_old_temp_files(store):
    files = make_leftovers(store)
    assert store.clean_leftovers(max_age=60) == 4
    left = {name for name, path in files.items() if path.exists()}
    assert left == {"fresh-model", "real-run", "hidden-not-ours"}


def test_a_new_job_manager_cleans_leftovers(store, small_mnist):
    files = make_leftovers(store)
    JobManager(store, max_jobs=1, data_loader=lambda: small_mnist)
    assert not files["old-model"].exists() and files["fresh-model"].exists()


def test_clean_leftovers_in_a_read_only_or_missing_folder_does_not_raise(tmp_path,
                                                                          monkeypatch):
    store = ModelStore(tmp_path / "nowhere")
    assert store.clean_leftovers() == 0
    store = ModelStore(tmp_path)
    make_leftovers(store)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "unlink", read_only)
    assert store.clean_leftovers() == 0
