"""xarray wrappers of :mod:`climate_bnnp.metrics.scores` via ``xr.apply_ufunc`` (dask-parallelised).

No metric logic lives here: each wrapper moves the named dimensions to where the numpy function expects
them (samples first, reduced point dimensions last, flattened into one) and calls it. Dask-backed inputs
give dask-backed outputs. NaN truths are ignored, as in the numpy functions; to mask a region, pass
``truth.where(mask)``.

Dimensions: ``sample_dim`` (default ``"sample"``) holds the Monte-Carlo draws; ``dim`` names the
dimensions a score is averaged over (default: all dimensions of ``truth``, e.g. pass
``dim=("latitude", "longitude")`` to get one score per ``time`` step). ``sigma`` is a float.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

import numpy as np
import xarray as xr

from climate_bnnp.metrics import scores
from climate_bnnp.metrics.calibration import central_coverage

__all__ = [
    "coverage_xr",
    "crps_xr",
    "log_predictive_density_xr",
    "mae_xr",
    "mean_log_predictive_density_xr",
    "nll_xr",
    "ppd_xr",
    "rmse_xr",
]


def _check(truth: xr.DataArray, other: xr.DataArray, sample_dim: Hashable | None) -> None:
    for name, da in (("truth", truth), ("prediction", other)):
        if not isinstance(da, xr.DataArray):
            raise TypeError(f"{name}: expected an xarray.DataArray, got {type(da).__name__}")
    if sample_dim is not None:
        if sample_dim not in other.dims:
            raise ValueError(
                f"samples: no sample dimension {sample_dim!r}; dims are {tuple(other.dims)}. "
                "Pass sample_dim=<name of the Monte-Carlo dimension>."
            )
        if sample_dim in truth.dims:
            raise ValueError(f"truth must not have the sample dimension {sample_dim!r}")


def _reduce_dims(truth: xr.DataArray, dim: Hashable | Iterable[Hashable] | None) -> list[Hashable]:
    if dim is None:
        return list(truth.dims)
    dims = [dim] if isinstance(dim, str) or not isinstance(dim, Iterable) else list(dim)
    missing = [d for d in dims if d not in truth.dims]
    if missing:
        raise ValueError(f"dim: {missing} not among truth's dimensions {tuple(truth.dims)}")
    return dims


def _flatten_tail(a: np.ndarray, k: int) -> np.ndarray:
    """Merge the last ``k`` axes into one (``k = 0`` adds a length-1 point axis)."""
    return a.reshape(*a.shape[: a.ndim - k], -1)


def _reduced_with_samples(func: Callable, k: int, **kwargs) -> Callable:
    """Adapter: ``(y (..., *k dims), s (..., sample, *k dims))`` → ``func(y (..., M), s (S, ..., M))``."""

    def wrapped(y: np.ndarray, s: np.ndarray) -> np.ndarray:
        s = np.moveaxis(s, s.ndim - k - 1, 0)  # (S, ..., *k dims)
        return np.asarray(func(_flatten_tail(y, k), _flatten_tail(s, k), axis=-1, **kwargs))

    return wrapped


def _pointwise_with_samples(func: Callable, **kwargs) -> Callable:
    """Adapter: ``(y (...), s (..., sample))`` → ``func(y, s (S, ...))``."""

    def wrapped(y: np.ndarray, s: np.ndarray) -> np.ndarray:
        return func(y, np.moveaxis(s, -1, 0), **kwargs)

    return wrapped


def _apply_reduced(func, truth, other, dim, sample_dim, name, **kwargs) -> xr.DataArray:
    _check(truth, other, sample_dim)
    dims = _reduce_dims(truth, dim)
    core_other = ([sample_dim] if sample_dim is not None else []) + dims
    if sample_dim is not None:
        adapter = _reduced_with_samples(func, len(dims), **kwargs)
    else:

        def adapter(y, m):
            k = len(dims)
            return np.asarray(func(_flatten_tail(y, k), _flatten_tail(m, k), axis=-1, **kwargs))

    out = xr.apply_ufunc(
        adapter,
        truth,
        other,
        input_core_dims=[dims, core_other],
        output_core_dims=[[]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"allow_rechunk": True},
    )
    return out.rename(name)


def _apply_pointwise(func, truth, samples, sample_dim, name, **kwargs) -> xr.DataArray:
    _check(truth, samples, sample_dim)
    out = xr.apply_ufunc(
        _pointwise_with_samples(func, **kwargs),
        truth,
        samples,
        input_core_dims=[[], [sample_dim]],
        output_core_dims=[[]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"allow_rechunk": True},
    )
    return out.rename(name)


def ppd_xr(truth, f_samples, sigma: float, *, dim=None, sample_dim: Hashable = "sample") -> xr.DataArray:
    """The paper's PPD (:func:`~climate_bnnp.metrics.scores.ppd`) averaged over ``dim``."""
    return _apply_reduced(scores.ppd, truth, f_samples, dim, sample_dim, "ppd", sigma=sigma)


def mean_log_predictive_density_xr(
    truth, f_samples, sigma: float, *, dim=None, sample_dim: Hashable = "sample"
) -> xr.DataArray:
    """Mean per-point log predictive density over ``dim`` (see ``scores.mean_log_predictive_density``)."""
    return _apply_reduced(
        scores.mean_log_predictive_density, truth, f_samples, dim, sample_dim, "mlpd", sigma=sigma
    )


def nll_xr(truth, f_samples, sigma: float, *, dim=None, sample_dim: Hashable = "sample") -> xr.DataArray:
    """Negative mean per-point log predictive density over ``dim``."""
    return _apply_reduced(scores.nll, truth, f_samples, dim, sample_dim, "nll", sigma=sigma)


def log_predictive_density_xr(
    truth, f_samples, sigma: float, *, sample_dim: Hashable = "sample"
) -> xr.DataArray:
    """Per-point log predictive density (a map), NaN where the truth is NaN."""
    return _apply_pointwise(
        scores.log_predictive_density, truth, f_samples, sample_dim, "log_predictive_density", sigma=sigma
    )


def mae_xr(truth, mean, *, dim=None) -> xr.DataArray:
    """Mean absolute error of the point prediction ``mean`` over ``dim``."""
    return _apply_reduced(scores.mae, truth, mean, dim, None, "mae")


def rmse_xr(truth, mean, *, dim=None) -> xr.DataArray:
    """Root mean squared error of the point prediction ``mean`` over ``dim``."""
    return _apply_reduced(scores.rmse, truth, mean, dim, None, "rmse")


def crps_xr(truth, samples, *, sample_dim: Hashable = "sample", fair: bool = False) -> xr.DataArray:
    """Per-point CRPS from samples (a map; average it with ``.mean(...)``, which skips NaN)."""
    return _apply_pointwise(scores.crps_samples, truth, samples, sample_dim, "crps", fair=fair)


def coverage_xr(
    truth, samples, level: float = 0.9, *, dim=None, sample_dim: Hashable = "sample"
) -> xr.DataArray:
    """Coverage of the central ``level`` interval over ``dim``, ties at the interval ends counted in
    proportion (:func:`climate_bnnp.metrics.calibration.central_coverage`: a calibrated ensemble gives
    ``level`` for any number of samples)."""
    return _apply_reduced(central_coverage, truth, samples, dim, sample_dim, "coverage", level=level)
