"""Fixtures for the prediction tests (helpers live in pred_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # importlib mode: pred_helpers importable

import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from pred_helpers import make_grid, make_model  # noqa: E402

from climate_bnnp.data import Normaliser  # noqa: E402


@pytest.fixture
def model():
    return make_model()


@pytest.fixture
def normaliser() -> Normaliser:
    return Normaliser(mean={"tp": 0.8, "t2m": 15.0}, std={"tp": 1.1, "t2m": 5.0})


@pytest.fixture
def grid() -> xr.Dataset:
    return make_grid()
