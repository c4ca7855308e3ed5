"""The two kinds of work unit of a prediction, on in-memory data.

* :func:`task_weights`: one task's context (all its observed cells with valid covariates) -> weight draws;
* :func:`block_outputs`: one block of target locations + those weights -> mean, std, quantiles, samples.

Both receive numpy-backed ``xr.Dataset`` slices (dask computes them just before calling), so the same code
serves eager and lazy predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from torch import Tensor, nn

from ..data import InputSchema
from ..likelihoods.predictive import PredictiveLikelihood
from .engine import decode_points, model_likelihood, predictive_params, sample_task_weights
from .inputs import RANGE_SIGMAS, Layout, check_training_range
from .summary import cell_keys, summarise

__all__ = ["RANGE_SIGMAS", "PredictionPlan", "block_outputs", "task_weights"]


@dataclass(frozen=True)
class PredictionPlan:
    """Everything a work unit needs besides its data slice."""

    model: nn.Module
    schema: InputSchema
    num_samples: int
    quantiles: tuple[float, ...]
    return_samples: bool
    chunk_size: int
    context_chunk_size: int | None
    allow_prior: bool
    predict_missing_only: bool
    adapt: Callable[[nn.Module, np.ndarray, np.ndarray, int], nn.Module] | None = None

    @property
    def likelihood(self) -> PredictiveLikelihood:
        """The predictive side of the model's likelihood."""
        return model_likelihood(self.model)

    @property
    def sample_outputs(self) -> tuple[str, ...]:
        """Outputs with one value per weight draw (along ``sample``), returned with ``return_samples=True``:
        ``samples, predictive_samples`` and the likelihood's per-draw variables (Gaussian: ``f_normalised``;
        Bernoulli–Gamma: ``bg_prob, bg_shape, bg_scale, bg_logit``)."""
        lik = self.likelihood
        return ("samples", "predictive_samples", *(lik.variables[n] for n in lik.per_draw))

    @property
    def outputs(self) -> tuple[tuple[str, int], ...]:
        """The stacked outputs ``(name, count)`` in order along the output axis: ``mean, std``, the
        likelihood's point summaries (Bernoulli–Gamma: ``prob_rain``), ``quantiles`` and, on request, the
        :attr:`sample_outputs` (S each)."""
        head = [("mean", 1), ("std", 1), *((n, 1) for n in self.likelihood.summaries)]
        head.append(("quantiles", len(self.quantiles)))
        if not self.return_samples:
            return tuple(head)
        return tuple(head + [(n, self.num_samples) for n in self.sample_outputs])

    @property
    def num_outputs(self) -> int:
        """K: the total count of :attr:`outputs`, stacked along one axis."""
        return sum(count for _, count in self.outputs)


def _points(ds: xr.Dataset, layout: Layout) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Flattened ``lat, lon (N,)`` of a slice (C order over ``layout.spatial_dims``) and its spatial shape."""
    if layout.kind == "grid":
        lat2d, lon2d = np.meshgrid(
            ds[layout.lat].values, ds[layout.lon].values, indexing="ij"
        )  # (n_lat, n_lon)
        return lat2d.ravel(), lon2d.ravel(), lat2d.shape
    lat = np.asarray(ds[layout.lat].values, np.float64)
    return lat, np.asarray(ds[layout.lon].values, np.float64), lat.shape


def _column(ds: xr.Dataset, name: str, layout: Layout) -> np.ndarray:
    return np.asarray(ds[name].transpose(*layout.spatial_dims).values, dtype=np.float64).ravel()


def task_weights(
    plan: PredictionPlan, ctx: xr.Dataset, layout: Layout, *, seed: int, time: Any, label: str
) -> list[Tensor]:
    """Weight draws of one task from its observed cells.

    Args:
        ctx: the task's slice (spatial dims only) holding the target and the covariates, in memory.
        seed: the task's torch seed. time: its time stamp (or None). label: names the task in messages.

    Raises:
        ValueError: no observed cell with valid covariates and ``allow_prior=False``, or a target value the
            normaliser's transform cannot take.
    """
    lat, lon, _ = _points(ctx, layout)
    values = {name: _column(ctx, name, layout) for name in plan.schema.covariates}
    y = _column(ctx, plan.schema.target, layout)
    valid = np.isfinite(y)
    for v in values.values():
        valid &= np.isfinite(v)
    if not valid.any():
        if not plan.allow_prior:
            raise ValueError(
                f"{label}: the target {plan.schema.target!r} has no observed value at a cell with valid "
                "covariates, "
                "so there is no context. The answer would be the prior predictive; pass allow_prior=True "
                "if that is what you want."
            )
        return sample_task_weights(
            plan.model, None, None, num_samples=plan.num_samples, seed=seed, context_chunk_size=None
        )
    values = {k: v[valid] for k, v in values.items()}
    context = values | {plan.schema.target: y[valid]}
    check_training_range(plan.schema, context, unbounded_above=plan.likelihood.unbounded_above, label=label)
    with np.errstate(invalid="ignore"):
        yc = np.asarray(plan.schema.target_forward(y[valid]), dtype=np.float64)  # (Nc,)
    if not np.isfinite(yc).all():
        raise ValueError(
            f"{label}: some {plan.schema.target} values cannot be transformed (tp_transform="
            f"{plan.schema.normaliser.tp_transform!r}; e.g. log1p needs tp > -1 mm); "
            f"min value {np.nanmin(y):g}."
        )
    xc = plan.schema(lat=lat[valid], lon=lon[valid], time=time, values=values)  # (Nc, Dx)
    model = plan.model if plan.adapt is None else plan.adapt(plan.model, xc, yc, seed)  # e.g. fine-tuning
    return sample_task_weights(
        model,
        xc,
        yc,
        num_samples=plan.num_samples,
        seed=seed,
        context_chunk_size=plan.context_chunk_size,
    )


def block_outputs(
    plan: PredictionPlan,
    weights: Sequence[Tensor],
    block: xr.Dataset,
    layout: Layout,
    *,
    seed: int,
    time: Any,
    expand: int,
) -> np.ndarray:
    """Predictive summaries on one block of target locations.

    Args:
        weights: the task's draws (:func:`task_weights`).
        block: the block's covariates (and the target, when only missing cells are predicted), in memory.
        seed: the task's seed (keys the observation-noise draws of the quantiles).
        expand: number of size-1 axes (the task dims) to insert after the output axis.

    Returns:
        ``(K, 1, ..., 1, *block_shape)`` float64 with NaN outside the predicted cells; K is
        :attr:`PredictionPlan.num_outputs`.
    """
    lat, lon, shape = _points(block, layout)
    values = {name: _column(block, name, layout) for name in plan.schema.covariates}
    todo = np.ones(lat.shape, dtype=bool)
    for v in values.values():
        todo &= np.isfinite(v)
    if plan.predict_missing_only:
        todo &= ~np.isfinite(_column(block, plan.schema.target, layout))
    out = np.full((plan.num_outputs, lat.size), np.nan)
    index = np.flatnonzero(todo)
    names = [name for name, _ in plan.outputs]
    likelihood = plan.likelihood
    for start in range(0, index.size, plan.chunk_size):  # memory ~ S x chunk_size, whatever the block size
        idx = index[start : start + plan.chunk_size]
        xt = plan.schema(lat=lat[idx], lon=lon[idx], time=time, values={k: v[idx] for k, v in values.items()})
        layers = weights if isinstance(weights, list) else list(weights)  # a TaskWeights keeps its context
        f = decode_points(plan.model, layers, xt, chunk_size=plan.chunk_size)  # (S, n, P)
        stats = summarise(
            likelihood, predictive_params(plan.model, f), normaliser=plan.schema.normaliser,
            target=plan.schema.target, quantiles=plan.quantiles, keys=cell_keys(seed, lat[idx], lon[idx]),
            return_samples=plan.return_samples,
        )  # fmt: skip
        parts = [np.reshape(stats[name], (-1, idx.size)) for name in names]  # (count, n) each
        out[:, idx] = np.concatenate(parts, axis=0)  # (K, n)
    return out.reshape((plan.num_outputs,) + (1,) * expand + shape)
