"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_function(name: str, module_name: str | None = None) -> ModuleType:
    """functions/<name>/app.py as a fresh module: every function's handler file is called app.py, so they cannot
    be imported side by side by their file name."""
    path = REPO / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(module_name or f"{name}_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
