"""The pipelines' step scripts as functions, for tests that run them in-process (one loader for all)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pipeline_step(name: str) -> Callable[[list[str] | None], int]:
    """``main(argv)`` of ``pipelines/<name>.py``."""
    spec = importlib.util.spec_from_file_location(f"pipeline_{name}", ROOT / "pipelines" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main
