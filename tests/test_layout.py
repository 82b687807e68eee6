"""The package boundaries: which modules may import TensorFlow, and none imports Streamlit."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mnist_core"
# Everything a page can use before TensorFlow has loaded.
TENSORFLOW_FREE = ["mnist_core", "mnist_core.config", "mnist_core.constants",
                   "mnist_core.errors", "mnist_core.settings", "mnist_core.numerics",
                   "mnist_core.naming", "mnist_core.scores", "mnist_core.store",
                   "mnist_core.data", "mnist_core.lesson", "mnist_core.compare",
                   "mnist_core.preprocess", "mnist_core.strokes", "mnist_core.augment",
                   "mnist_core.cli", "mnist_core.inside", "mnist_core.safe_load"]


@pytest.mark.parametrize("module", TENSORFLOW_FREE)
def test_module_leaves_tensorflow_unimported(module):
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=PACKAGE.parent)
    assert result.stdout.strip() == "[]", f"{module} imports {result.stdout.strip()}"


def test_the_check_sees_a_tensorflow_import():
    code = "import sys, mnist_core.model; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=PACKAGE.parent)
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_core_never_imports_streamlit(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"streamlit", "streamlit_drawable_canvas", "ui"}
