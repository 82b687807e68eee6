"""mnist_core.cli: the command line, run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import PROJECT_ROOT


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_core", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_help_everywhere():
    for command in ([], ["train"], ["evaluate"], ["predict"], ["list"]):
        result = run_cli(*command, "--help")
        assert result.returncode == 0 and "usage: python -m mnist_core" in result.stdout


def test_train_small_slice(tmp_path):
    out = tmp_path / "tiny.keras"
    result = run_cli("train", "--epochs", "1", "--limit", "1000", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Epoch 1/1" in result.stdout and "test_accuracy" in result.stdout
    assert "Test loss" in result.stdout and f"Saved {out}" in result.stdout
    assert out.is_file() and out.with_suffix(".json").is_file()


def test_train_by_name_goes_to_runs(models_dir):
    result = run_cli("train", "--epochs", "1", "--limit", "500", "--name", "cli-run")
    assert result.returncode == 0, result.stderr
    assert (models_dir / "runs" / "cli-run.keras").is_file()
    listing = run_cli("list")
    assert "runs/cli-run" in listing.stdout and "quickstart · 97." in listing.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dropout", "1.5"], "argument --dropout: must be in [0.0, 1.0), got 1.5"),
        (["--epochs", "0"], "argument --epochs: must be in [1, 100], got 0"),
        (["--epochs", "five"], "argument --epochs: expected int, got 'five'"),
        (["--learning-rate", "0"], "argument --learning-rate: must be in (0.0, 1.0], got 0"),
        (["--name", "../escape"], "invalid model name '../escape'"),
    ],
)
def test_bad_train_arguments(args, message):
    result = run_cli("train", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_shipped_model():
    result = run_cli("evaluate", "quickstart")
    assert result.returncode == 0, result.stderr
    accuracy = float(result.stdout.split("test accuracy ")[1].split("%")[0])
    assert accuracy >= 97.5
    assert "Confusion matrix" in result.stdout


def test_evaluate_missing_and_corrupt(tmp_path):
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"garbage")
    for model, message in [("runs/none", "runs/none: no such model"),
                           (str(corrupt), "not a Keras model file")]:
        result = run_cli("evaluate", model)
        assert result.returncode == 1 and message in result.stderr
        assert "Traceback" not in result.stderr


def test_missing_data_file_message(tmp_path):
    result = run_cli("evaluate", "quickstart", "--data", str(tmp_path / "gone.npz"))
    assert result.returncode == 1
    assert "Could not load the MNIST data" in result.stderr and "gone.npz" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def digit_images(tmp_path: Path, mnist) -> list[Path]:
    """Test digits saved as a drawing would be: white on black, and as ink on paper."""
    paths = []
    for index in range(3):  # labels 7, 2, 1
        image = Image.fromarray((mnist.x_test[index] * 255).astype(np.uint8)).resize((280, 280))
        path = tmp_path / f"digit{index}.png"
        image.save(path)
        paths.append(path)
    paper = Image.fromarray(255 - (mnist.x_test[3] * 255).astype(np.uint8))  # a 0, dark on light
    paper.resize((200, 200)).convert("RGB").save(tmp_path / "paper.jpg")
    paths.append(tmp_path / "paper.jpg")
    return paths


def test_predict_images(digit_images, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100)).save(blank)
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    result = run_cli("predict", "quickstart", *map(str, digit_images), str(blank))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    predicted = [line.split(": ")[1].split(" ")[0] for line in lines[:4]]
    assert predicted == ["7", "2", "1", "0"]
    assert "no digit found" in lines[4]
    bad = run_cli("predict", "quickstart", str(not_image))
    assert bad.returncode == 1 and "not a readable image" in bad.stderr


def test_list_survives_bad_entries(models_dir):
    """A symlink to /etc/passwd and a run whose metadata is nonsense: the rest is listed."""
    runs = models_dir / "runs"
    runs.mkdir()
    (runs / "linked.keras").symlink_to("/etc/passwd")
    (runs / "nonsense.keras").write_bytes((models_dir / "quickstart.keras").read_bytes())
    (runs / "nonsense.json").write_text('{"config": "x", "test_accuracy": "high"}')
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    assert "quickstart · 97." in result.stdout
    lines = result.stdout.splitlines()
    linked = next(line for line in lines if line.startswith("runs/linked"))
    assert "outside the models folder" in linked
    assert "unreadable metadata" in next(line for line in lines
                                         if line.startswith("runs/nonsense"))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels (grey); its data is a few rows."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
            + chunk(b"IEND", b""))


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [(20_000, 20_000, "400 megapixels"), (10_000, 10_000, "100 megapixels")],
    ids=["past-pillows-limit", "past-ours"],
)
def test_predict_refuses_huge_images(tmp_path, width, height, message):
    path = tmp_path / "huge.png"
    path.write_bytes(png_claiming(width, height))
    result = run_cli("predict", "quickstart", str(path))
    assert result.returncode == 1, result.stdout
    assert f"{path}: too large" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_train_cleans_old_leftovers(models_dir):
    import time

    runs = models_dir / "runs"
    runs.mkdir()
    old, fresh = runs / ".tmp-1-2-killed.keras", runs / ".tmp-3-4-live.keras"
    for path in (old, fresh):
        path.write_bytes(b"PK\x03\x04 cut off")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    result = run_cli("train", "--epochs", "1", "--limit", "300")
    assert result.returncode == 0, result.stderr
    assert not old.exists() and fresh.exists()
    assert len([path for path in runs.glob("*.keras") if not path.name.startswith(".")]) == 1
