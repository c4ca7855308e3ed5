"""A Gaussian predictive in the model's normalised units as a prediction Dataset (for the baselines).

Per-task baselines (:mod:`climate_bnnp.baselines`) give a Gaussian ``N(μ, s²)`` per point for the
normalised target. :func:`gaussian_prediction` turns it into exactly the layout of
:func:`climate_bnnp.predict` along ``cell`` (:func:`~.points.point_prediction`): exact ``mean``/``std`` in
physical units, ``quantiles`` and ``predictive_samples`` from the same keyed noise draws, ``f_normalised``
(μ repeated S times) with the per-cell ``noise_std_normalised`` s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..data import InputSchema
from ..likelihoods.predictive import Gaussian
from .points import point_prediction

__all__ = ["gaussian_prediction"]

_GAUSSIAN = Gaussian()


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
        attrs: dataset attributes (e.g. ``method``); ``likelihood`` is ``"gaussian"``.
    """
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    if mean.shape != std.shape or mean.ndim != 1 or not (std > 0).all():
        raise ValueError(f"mean and std must be (N,) with std > 0, got {mean.shape} and {std.shape}.")
    return point_prediction(
        _GAUSSIAN, {"loc": mean, "scale": std}, lat, lon, schema=schema, num_samples=num_samples, seed=seed,
        quantiles=quantiles, attrs=attrs,
    )  # fmt: skip
