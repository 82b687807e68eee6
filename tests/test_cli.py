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
