"""``climate_bnnp.predict``: posterior predictive maps from a trained model and an ``xr.Dataset``."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr
from torch import nn

from ..checkpoint import Checkpoint, load_checkpoint
from ..data import InputSchema
from ..data.cluster import dask_client
from ..models.devices import resolve_device
from .attrs import dataset_attrs, variable_attrs
from .blocks import PredictionPlan
from .engine import check_model, model_likelihood, noise_std, task_seed
from .graph import PredictProgress, assemble, block_slices
from .inputs import Layout, check_task_dims, check_variables, find_layout, interpolate_to, one_range_warning
from .summary import check_target_transform

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONTEXT_CHUNK_SIZE",
    "DEFAULT_NUM_SAMPLES",
    "DEFAULT_QUANTILES",
    "predict",
]

DEFAULT_NUM_SAMPLES = 100
"""Default number S of posterior weight draws per task."""
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
DEFAULT_CHUNK_SIZE = 16_384
"""Target points per decoder call: memory ~ S x chunk_size x (widest layer) floats."""
DEFAULT_CONTEXT_CHUNK_SIZE = 4_096
"""Context points per within-task minibatch when sampling the weights."""
_AUTO_PROGRESS_CELLS = 200_000


def _resolve_model(
    model_or_checkpoint: Any, schema: Any, device: torch.device | None = None
) -> tuple[nn.Module, InputSchema, tuple[str, str] | None]:
    if isinstance(model_or_checkpoint, (str, os.PathLike)):
        model_or_checkpoint = load_checkpoint(model_or_checkpoint, map_location=device or "cpu")
    if isinstance(model_or_checkpoint, Checkpoint):
        ckpt = model_or_checkpoint
        if schema is not None:
            raise ValueError(
                "schema= was given with a checkpoint: the input schema always comes from the checkpoint "
                "(what the model was trained on), never from elsewhere; drop schema=."
            )
        if ckpt.schema is None:
            raise ValueError(
                f"checkpoint {ckpt.path} records no input schema (it was not trained on ERA5 tasks), so "
                "predict() cannot build its inputs; load it and pass the model with schema=InputSchema(...)."
            )
        model, schema, provenance = ckpt.model, ckpt.schema, (ckpt.path.name, ckpt.sha256)
    else:
        model, provenance = model_or_checkpoint, None
        if schema is None:
            raise ValueError(
                "a bare model needs schema= (the InputSchema it was trained with); pass a checkpoint (path "
                "or load_checkpoint(...)) to take it from the file."
            )
        schema = schema if isinstance(schema, InputSchema) else InputSchema.from_dict(schema)
    check_model(model)
    if device is not None and next(model.parameters()).device != device:
        model = copy.deepcopy(model).to(device)  # the caller's model stays where it is
    schema.check_dim_x(int(model.config.dim_x), where="the model's dim_x")
    check_target_transform(model_likelihood(model), schema.normaliser, schema.target)
    model.eval()
    return model, schema, provenance


def _task_list(ds: xr.Dataset, task_dims: Sequence[str], seed: int) -> tuple[list[dict], tuple[int, ...]]:
    shape = tuple(ds.sizes[d] for d in task_dims)
    tasks = []
    for index in np.ndindex(*shape):
        sel = dict(zip(task_dims, index, strict=True))
        values = {d: ds[d].values[i] if d in ds.coords else i for d, i in sel.items()}
        key = tuple(values[d] for d in sorted(values))  # by dim name: (time, member) = (member, time)
        time = None
        if "time" in sel and "time" in ds.coords:
            time = ds["time"].values[sel["time"]]
        elif "time" in ds.coords and ds["time"].ndim == 0:
            time = ds["time"].values
        label = "task " + (", ".join(f"{d}={k}" for d, k in values.items()) or "(single)")
        tasks.append({"sel": sel, "seed": task_seed(seed, key), "time": time, "label": label})
    return tasks, shape


def _target_dataset(
    ds: xr.Dataset, layout: Layout, targets: xr.Dataset, covariates: Sequence[str], task_dims: Sequence[str],
    method: str,
) -> tuple[xr.Dataset, Layout]:  # fmt: skip
    t_layout = find_layout(targets, "targets")
    given = [c for c in covariates if c in targets.data_vars]
    check_variables(targets, given, t_layout, label="targets")
    for name in given:
        for dim in targets[name].dims:
            if dim in t_layout.spatial_dims:
                continue
            if dim not in task_dims or not np.array_equal(targets[dim].values, ds[dim].values):
                raise ValueError(
                    f"mismatched grids: targets[{name!r}] has dim {dim!r} that does not match the context's "
                    f"task dims {tuple(task_dims)} (same name and coordinate values needed)."
                )
    coords = {
        c: targets.coords[c] for c in targets.coords if set(targets[c].dims) <= set(t_layout.spatial_dims)
    }
    tds = targets[given].reset_coords(drop=True).assign_coords(coords)
    missing = [c for c in covariates if c not in given]
    if missing:
        interp = interpolate_to(ds, missing, layout, targets[t_layout.lat], targets[t_layout.lon], method)
        tds = tds.assign({name: interp[name] for name in missing})
    return tds, t_layout


def predict(
    model_or_checkpoint: nn.Module | Checkpoint | str | os.PathLike,
    ds: xr.Dataset,
    *,
    targets: xr.Dataset | None = None,
    schema: InputSchema | Mapping | None = None,
    num_samples: int = DEFAULT_NUM_SAMPLES,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    return_samples: bool = False,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    context_chunk_size: int | None = DEFAULT_CONTEXT_CHUNK_SIZE,
    predict_at: Literal["missing", "all"] = "missing",
    interpolation: str = "linear",
    allow_prior: bool = False,
    adapt: Callable[[nn.Module, np.ndarray, np.ndarray, int], nn.Module] | None = None,
    progress: bool | None = None,
    device: str | torch.device | None = None,
    scheduler: Any = None,
) -> xr.Dataset:
    """Posterior predictive of ``target`` given the observed cells of ``ds``, on ``ds``'s own coordinates.

    **Context and targets.** Per task (each index of the dims other than latitude/longitude, e.g. each time
    step), cells whose covariates are all valid and whose target is observed are the context; cells whose
    covariates are valid and whose target is NaN are predicted (``predict_at="all"``: every cell with
    valid covariates, the context included); cells with a missing covariate are outside the domain and stay
    NaN. With ``targets`` (a grid, or points along a dim such as ``station`` with latitude/longitude
    coordinates), ``ds`` only gives the context and every location of ``targets`` with valid covariates is
    predicted; covariates missing from ``targets`` are interpolated from ``ds``'s grid (``interpolation``:
    ``"linear"`` = bilinear in degrees, or ``"nearest"``; no wrap across the grid's longitude seam).

    **Randomness.** Weights are drawn once per task, seeded by ``seed`` and the task's coordinate values,
    and every target block is decoded with those same draws, so the chunking (``chunk_size``, dask chunks)
    and the choice of target locations never change a location's numbers. The context is streamed through
    each layer ``context_chunk_size`` points at a time (within-task minibatching; exact up to float64
    summation order), so a BNNP's memory is bounded by the chunk sizes even for a 1M-cell grid.

    **Laziness.** If the target or a covariate is dask-backed, the result is dask-backed and nothing is
    computed until you compute it (wrap that in :class:`PredictProgress` for a progress bar), with dask's
    current scheduler (a ``distributed.Client`` when one is active); checks that need values (all-NaN
    target, training-range warnings) then run at compute time. Otherwise the result is computed here, in
    this process, with a progress bar on long calls (``progress=None``: when predicting over 200,000 cells).

    **Clusters and devices.** With ``scheduler`` (a ``distributed.Client``, a scheduler address
    ``tcp://host:8786`` or a scheduler file ``*.json``) the result is computed on that cluster, lazy input
    or not (no local progress bar: see the cluster's dashboard). The graph holds the model once, as one
    key that every weight task depends on, so each worker receives it at most once; a task's context
    goes only to its weight task, whose draws go to the workers decoding that task's blocks. The model
    and ``adapt`` must pickle. ``device`` runs the networks there (the outputs are numpy on the host
    either way); a model on another device is copied there, the caller's model is not moved.

    Args:
        model_or_checkpoint: a checkpoint path, a :class:`~climate_bnnp.checkpoint.Checkpoint` (its
            :class:`~climate_bnnp.data.InputSchema` says which features, covariates, units, normalisation and
            target transform the model consumes), or a BNNP / AttnBNNP (then ``schema`` is required).
            BNAM is refused: its target points attend to each other, so chunking and station invariances
            would not hold.
        ds: the data, target in mm (``units`` attribute checked), covariates in training units.
        targets: optional separate target locations (grid or points).
        schema: only for bare models (an :class:`~climate_bnnp.data.InputSchema` or its ``to_dict()``); a
            checkpoint always uses its own.
        num_samples: S weight draws per task (default 100).
        quantiles: levels of the ``quantiles`` output.
        return_samples: add, along ``sample``, the S back-transformed function samples ``samples``
            (noise-free, spatially coherent fields), the S predictive samples ``predictive_samples``
            (observation draws, the ones the quantiles come from) and, for scoring the predictive
            density: Gaussian models ``f_normalised``, the function samples in the model's normalised
            units (with the ``noise_std_normalised`` attribute this is the predictive mixture);
            Bernoulli–Gamma models ``bg_prob``, ``bg_shape``, ``bg_scale``, ``bg_logit``, each draw's ``π, k,
            θ`` and the log-odds of π, in model units.
        seed: base seed.
        chunk_size: target points per decoder call. context_chunk_size: context points per minibatch.
        predict_at: ``"missing"`` or ``"all"`` (see above). allow_prior: accept tasks without context.
        adapt: optional per-task adaptation ``(model, xc, yc, seed) -> model`` applied to the context (model
            units) before the weights are drawn, e.g. test-time fine-tuning with
            ``climate_bnnp.train.fine_tuner(steps=200)`` (the paper's ERA5 protocol). Default: amortised.
        progress: show a progress bar (None: automatic).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available); None: where the
            model is (a checkpoint file loads onto the CPU).
        scheduler: None (this process, or dask's current scheduler for lazy input), or a
            ``distributed.Client``, scheduler address or scheduler file to compute on.

    Returns:
        Dataset with ``mean`` and ``std`` (task dims + spatial dims), ``quantiles`` (``quantile`` first) and
        optionally ``samples`` (``sample`` first), in the target's units (tp: mm, back-transformed from the
        model's target transform), with CF attributes and provenance (model kind, ``likelihood``, checkpoint
        sha256, ERA5 attribution). ``std`` includes the observation noise. A Bernoulli–Gamma model
        (``ModelConfig.likelihood="bernoulli_gamma"``, schema with ``tp_transform="scale"``) adds
        ``prob_rain`` (P(tp > 0)); its ``samples`` are the per-draw predictive means and its
        ``predictive_samples`` are >= 0 with exact zeros (see
        :mod:`climate_bnnp.likelihoods.predictive.bernoulli_gamma`). Precipitation samples and quantiles are
        clipped at 0 mm (:func:`~climate_bnnp.prediction.summary.to_physical`).

    Raises:
        ValueError: missing covariate or target, wrong units, mismatched grids, an all-NaN target without
            ``allow_prior``, bad options, a Bernoulli–Gamma model whose target normalisation moves 0, a
            CUDA device without CUDA. TypeError: unsupported model.
    """
    device = None if device is None else resolve_device(device, where="predict: device")
    model, schema, provenance = _resolve_model(model_or_checkpoint, schema, device)
    target = schema.target
    quantiles = tuple(float(q) for q in quantiles)
    if not all(0.0 < q < 1.0 for q in quantiles):
        raise ValueError(f"quantiles must lie strictly between 0 and 1, got {quantiles}.")
    if num_samples < 1 or chunk_size < 1 or (context_chunk_size is not None and context_chunk_size < 1):
        raise ValueError(
            f"num_samples, chunk_size and context_chunk_size must be positive, got {num_samples}, "
            f"{chunk_size}, {context_chunk_size}."
        )
    if predict_at not in ("missing", "all"):
        raise ValueError(f"predict_at must be 'missing' or 'all', got {predict_at!r}.")
    layout = find_layout(ds)
    if target not in ds.data_vars:
        raise ValueError(
            f"ds lacks the target variable {target!r} (NaN where unobserved); it has {sorted(ds.data_vars)}. "
            f"Add it in {schema.units.get(target, 'training')!r} units, NaN at the cells to predict."
        )
    check_variables(ds, [target], layout, role="target")
    covariates = schema.covariates
    check_variables(ds, covariates, layout)
    task_dims = tuple(d for d in ds[target].dims if d not in layout.spatial_dims)
    check_task_dims(ds, task_dims)
    for name in covariates:
        extra = [d for d in ds[name].dims if d not in task_dims and d not in layout.spatial_dims]
        if extra:
            raise ValueError(
                f"mismatched grids: ds[{name!r}] has dims {extra} that the target {target!r} lacks; "
                f"expected the target's dims. Select one, e.g. ds[{name!r}].isel({extra[0]}=0)."
            )
    ctx = ds[[target, *covariates]]
    if targets is None:
        tds, t_layout = ctx, layout
    else:
        tds, t_layout = _target_dataset(ds, layout, targets, covariates, task_dims, interpolation)
    plan = PredictionPlan(
        model, schema, int(num_samples), quantiles, bool(return_samples), int(chunk_size),
        context_chunk_size, bool(allow_prior), targets is None and predict_at == "missing", adapt,
    )  # fmt: skip
    tasks, task_shape = _task_list(ds, task_dims, seed)
    lazy = any(v.chunks is not None for v in (*ctx.data_vars.values(), *tds.data_vars.values()))
    blocks = block_slices(tds, t_layout, list(tds.data_vars), 4 * chunk_size)
    array = assemble(plan, ctx, layout, tds, t_layout, tasks, task_shape, blocks)  # (K, *task, *spatial)
    dims = task_dims + t_layout.spatial_dims
    coords = {c: ds.coords[c] for c in ds.coords if ds[c].dims and set(ds[c].dims) <= set(task_dims)}
    coords |= {c: ds.coords[c] for c in ds.coords if ds[c].ndim == 0}
    coords |= {
        c: tds.coords[c] for c in tds.coords if tds[c].dims and set(tds[c].dims) <= set(t_layout.spatial_dims)
    }
    units = str(ds[target].attrs.get("units", ""))
    vattrs = variable_attrs(target, units, likelihood=plan.likelihood)
    out = xr.Dataset(coords=coords)
    start = 0
    for name, count in plan.outputs:  # slices of the stacked output axis
        if name == "quantiles":
            out[name] = (("quantile", *dims), array[start : start + count], vattrs[name])
        elif name in plan.sample_outputs:
            out[name] = (("sample", *dims), array[start : start + count], vattrs[name])
        else:
            out[name] = (dims, array[start], vattrs[name])
        start += count
    out = out.assign_coords(quantile=("quantile", np.asarray(quantiles), vattrs["quantile"]))
    if return_samples:
        out = out.assign_coords(sample=("sample", np.arange(num_samples), vattrs["sample"]))
    if targets is None:
        order = tuple(ds[target].dims)
        out = out.transpose(*(d for d in ("quantile", "sample") if d in out.dims), *order)
    out.attrs = dataset_attrs(
        source_attrs=ds.attrs, model_kind=str(getattr(model, "kind", type(model).__name__)),
        checkpoint=provenance, num_samples=num_samples, seed=seed, noise_std=noise_std(model),
        schema=schema, likelihood=plan.likelihood,
        context_rule="observed cells with valid covariates, per " + (", ".join(task_dims) or "call"),
    )  # fmt: skip
    if scheduler is not None:
        if isinstance(scheduler, (str, os.PathLike)):
            with dask_client(str(scheduler)) as client:
                return out.compute(scheduler=client)
        return out.compute(scheduler=scheduler)
    if lazy:
        return out
    cells = int(np.prod(task_shape)) * int(np.prod([tds.sizes[d] for d in t_layout.spatial_dims]))
    show = cells > _AUTO_PROGRESS_CELLS if progress is None else bool(progress)
    with PredictProgress(disable=not show), one_range_warning("predict"):  # one warning per call
        return out.compute(scheduler="synchronous")
