"""Loading a script of ``benchmarks/`` as a module in a test, leaving ``sys.path`` as it was."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(filename: str) -> ModuleType:
    """``benchmarks/<filename>`` as a module; ``sys.path`` is restored afterwards (the scripts put
    ``benchmarks/`` first, whose ``distributed.py`` would shadow dask's)."""
    path = list(sys.path)
    spec = importlib.util.spec_from_file_location(f"benchmark_{Path(filename).stem}", BENCHMARKS / filename)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path
    return module
