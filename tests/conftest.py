"""Shared fixtures: seeded RNGs and float64 defaults for the core tests; one compute thread per process.

The tests' tensors are small: a second BLAS/OpenMP thread mostly spin-waits, and on a busy 2-core machine
it makes small products tens of times slower. So the suite runs single-threaded, in this process (torch,
and numpy/scipy's BLAS via threadpoolctl) and in the processes it starts (the environment variables).
Speed is measured by ``benchmarks/``, with their own thread settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

torch.set_num_threads(1)
threadpool_limits(1)
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
