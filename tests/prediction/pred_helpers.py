"""Helpers for the prediction tests: a small float64 BNNP, its normaliser and a synthetic ERA5-like grid.

The grid is canonical (latitude ascending, longitude in [-180, 180)); tests derive the other orders from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from climate_bnnp import BNNP
from climate_bnnp.data import InputSchema

FEATURES = ("xyz", "t2m")


def schema_of(normaliser, features=FEATURES):
    """The input schema of the test models: ``features`` with ``normaliser`` (tp in mm, t2m in degC)."""
    return InputSchema(features=features, normaliser=normaliser, units={"t2m": "degC", "tp": "mm"})


TIMES = pd.to_datetime(["2026-03-25T00:00", "2026-03-25T07:00"]).values.astype("datetime64[ns]")


def make_model(kind: str = "bnnp", seed: int = 0):
    """A small float64 model on the 4 inputs of ``FEATURES`` (untrained: the numbers need only be fixed)."""
    torch.manual_seed(seed)
    if kind == "attn_bnnp":
        from climate_bnnp import AttnBNNP

        model = AttnBNNP(dim_x=4, dim_y=1, hidden_dims=(12, 12), attn_width=16, attn_heads=2, attn_layers=1)
    else:
        model = BNNP(dim_x=4, dim_y=1, hidden_dims=(12, 12), inf_hidden_dims=(16,), noise_init=0.3)
    return model.double().eval()


def make_grid(
    *, n_lat: int = 9, n_lon: int = 16, lat_range=(30.0, 62.0), lon_range=(-40.0, 35.0), seed: int = 0,
    observed: float = 0.3, times=TIMES,
) -> xr.Dataset:  # fmt: skip
    """Canonical grid (time, latitude, longitude): t2m (degC), tp (mm, NaN where unobserved)."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(*lat_range, n_lat)
    lon = np.linspace(*lon_range, n_lon)
    shape = (len(times), n_lat, n_lon)
    t2m = 12.0 + 6.0 * np.cos(np.deg2rad(lat))[None, :, None] + rng.normal(0, 2.0, shape)
    tp = rng.gamma(0.8, 1.0, shape)
    tp[rng.random(shape) > observed] = np.nan
    return xr.Dataset(
        {
            "tp": (("time", "latitude", "longitude"), tp, {"units": "mm"}),
            "t2m": (("time", "latitude", "longitude"), t2m, {"units": "degC"}),
        },
        coords={"time": times, "latitude": lat, "longitude": lon},
        attrs={"attribution": "test data"},
    )
