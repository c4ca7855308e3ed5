"""Shared fixtures: seeded RNGs and float64 defaults for the core tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helper modules (importlib mode)


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


CUDA = pytest.param(
    "cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
)


@pytest.fixture(params=["cpu", CUDA])
def device(request) -> torch.device:
    """Run an oracle test on the CPU and, marked ``gpu``, on CUDA when present (skipped without it)."""
    return torch.device(request.param)
