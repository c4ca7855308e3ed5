"""A per-point predictive, given as its likelihood's parameters, as a prediction Dataset along ``cell``.

Methods that are not BNNPs (the per-task baselines of :mod:`climate_bnnp.baselines`, a peer model) give an
observation model's parameters per point, e.g. a Gaussian ``N(μ, s²)`` of the normalised target.
:func:`point_prediction` turns them into exactly the layout of :func:`climate_bnnp.predict` along ``cell``
(``return_samples=True``): exact ``mean``/``std`` in physical units, ``quantiles`` and ``predictive_samples``
from the same keyed draws, and the likelihood's per-draw variables (the parameters repeated S times; a
parameter that is not stored per draw, such as a Gaussian's per-point std, as a variable along ``cell``), so
the same scoring functions score every method alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..data import InputSchema
from ..likelihoods.predictive import PredictiveLikelihood
from .attrs import variable_attrs
from .summary import cell_keys, summarise

__all__ = ["point_prediction"]


def point_prediction(
    likelihood: PredictiveLikelihood,
    params: Mapping[str, np.ndarray],
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    schema: InputSchema,
    num_samples: int,
    seed: int,
    quantiles: Sequence[float],
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Prediction Dataset along ``cell`` of one ``likelihood`` distribution per point.

    Args:
        likelihood: the observation model. params: its parameters ``(N,)`` each, in the model's
            normalised target units (one draw: they are repeated for the S samples).
        lat, lon: ``(N,)`` degrees (key the draws, as in ``predict``).
        schema: the target's normalisation and transform.
        num_samples: S predictive samples. seed: the task's seed. quantiles: levels in (0, 1).
        attrs: dataset attributes (e.g. ``method``); ``likelihood`` is the likelihood's name.

    Raises:
        ValueError: a parameter that is not ``(N,)``, or outside the likelihood's range.
    """
    size = np.size(lat)
    params = {n: np.asarray(v, np.float64) for n, v in params.items()}
    bad = {n: v.shape for n, v in params.items() if v.shape != (size,)}
    if bad:
        raise ValueError(f"every parameter must be (N,) = ({size},) like lat, got shapes {bad}.")
    likelihood.check_params(params)
    repeat = set(likelihood.per_draw)
    draws = {
        n: np.broadcast_to(v, (num_samples, size)) if n in repeat else v for n, v in params.items()
    }  # (S, N)
    stats = summarise(
        likelihood, draws, normaliser=schema.normaliser, target=schema.target, keys=cell_keys(seed, lat, lon),
        quantiles=tuple(quantiles), return_samples=True,
    )  # fmt: skip
    vattrs = variable_attrs(schema.target, schema.units.get(schema.target, ""), likelihood=likelihood)
    lead = {1: (), 2: ("sample",)}
    variables = {
        name: (("quantile", "cell") if name == "quantiles" else (*lead[np.ndim(v)], "cell"), np.array(v))
        for name, v in stats.items()
    }  # (S, N) per draw, (N,) per point
    for n, v in params.items():  # a parameter shared by the draws (e.g. a per-point noise std)
        if n not in likelihood.per_draw:
            variables[likelihood.variables[n]] = ("cell", v)
    out = xr.Dataset(
        {name: (dims, v, vattrs.get(name, {})) for name, (dims, v) in variables.items()},
        coords={"latitude": ("cell", np.asarray(lat)), "longitude": ("cell", np.asarray(lon)),
                "quantile": ("quantile", np.asarray(quantiles)),
                "sample": ("sample", np.arange(num_samples))},
    )  # fmt: skip
    out.attrs = {
        "num_samples": int(num_samples), "likelihood": likelihood.name,
        "input_schema": json.dumps(schema.to_dict()), **dict(attrs or {}),
    }  # fmt: skip
    return out
