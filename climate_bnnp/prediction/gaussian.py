"""A Gaussian predictive in the model's normalised units as a prediction Dataset (for the baselines).

Per-task baselines (:mod:`climate_bnnp.baselines`) give a Gaussian ``N(μ, s²)`` per point for the
normalised target. :func:`gaussian_prediction` turns it into exactly the layout of
:func:`climate_bnnp.predict` along ``cell`` — exact ``mean``/``std`` in physical units, ``quantiles`` and
``predictive_samples`` from the same keyed noise draws, ``f_normalised`` (μ repeated S times) with the
per-cell ``noise_std_normalised`` s — so the same scoring functions score baselines and models alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..data import InputSchema
from .attrs import variable_attrs
from .summary import cell_keys, summarise

__all__ = ["gaussian_prediction"]


def gaussian_prediction(
    mean: np.ndarray,
    std: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    schema: InputSchema,
    num_samples: int,
    seed: int,
    quantiles: Sequence[float],
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Prediction Dataset along ``cell`` of a per-point Gaussian ``N(mean, std²)`` in normalised units.

    Args:
        mean, std: ``(N,)`` in the model's normalised target units (``std > 0``).
        lat, lon: ``(N,)`` degrees (key the noise draws, as in ``predict``).
        schema: the target's normalisation and transform.
        num_samples: S predictive samples. seed: the task's seed. quantiles: levels in (0, 1).
        attrs: dataset attributes (e.g. ``method``); ``likelihood`` is ``"gaussian"`` unless given.
    """
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    if mean.shape != std.shape or mean.ndim != 1 or not (std > 0).all():
        raise ValueError(f"mean and std must be (N,) with std > 0, got {mean.shape} and {std.shape}.")
    f = np.broadcast_to(mean, (num_samples, mean.size))  # (S, N): S copies of one component
    stats = summarise(
        f, sigma=std, normaliser=schema.normaliser, target=schema.target, keys=cell_keys(seed, lat, lon),
        quantiles=tuple(quantiles), return_samples=True,
    )  # fmt: skip
    vattrs = variable_attrs(schema.target, schema.units.get(schema.target, ""))
    out = xr.Dataset(
        {
            "mean": ("cell", stats["mean"], vattrs["mean"]),
            "std": ("cell", stats["std"], vattrs["std"]),
            "quantiles": (("quantile", "cell"), stats["quantiles"], vattrs["quantiles"]),
            "samples": (("sample", "cell"), stats["samples"], vattrs["samples"]),
            "predictive_samples": (
                ("sample", "cell"), stats["predictive_samples"], vattrs["predictive_samples"]
            ),
            "f_normalised": (("sample", "cell"), np.array(f), vattrs["f_normalised"]),
            "noise_std_normalised": ("cell", std, {"units": "1", "long_name": "predictive std (normalised)"}),
        },
        coords={"latitude": ("cell", np.asarray(lat)), "longitude": ("cell", np.asarray(lon)),
                "quantile": ("quantile", np.asarray(quantiles)),
                "sample": ("sample", np.arange(num_samples))},
    )  # fmt: skip
    out.attrs = {
        "num_samples": int(num_samples), "likelihood": "gaussian",
        "input_schema": json.dumps(schema.to_dict()), **dict(attrs or {}),
    }  # fmt: skip
    return out
