"""Per-variable z-scoring, fitted lazily on the training split.

``forward(name, x) = (g(x) - mean[name]) / std[name]`` where ``g`` is the identity, except for ``tp`` with
``tp_transform="log1p"`` where ``g(x) = log1p(x)`` (x in mm). ``inverse`` undoes it exactly (up to float
rounding). ``tp_transform="scale"`` does not centre ``tp``: its mean is fixed at 0 and its std is the
root-mean-square of tp over the training split, so ``forward("tp", x) = x / rms >= 0`` keeps dry cells
exactly 0 (what a zero-inflated Bernoulli–Gamma likelihood needs). The statistics are plain floats, so
:meth:`Normaliser.to_dict` is JSON-able and can live in Zarr attributes and in checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dask
import numpy as np
import xarray as xr

from climate_bnnp.config.vocab import TP_TRANSFORMS

__all__ = ["TP_TRANSFORMS", "Normaliser", "fit_normaliser"]

ArrayLike = TypeVar("ArrayLike", np.ndarray, xr.DataArray, float)


def _check_transform(tp_transform: str) -> None:
    if tp_transform not in TP_TRANSFORMS:
        raise ValueError(f"tp_transform must be one of {TP_TRANSFORMS}, got {tp_transform!r}.")


@dataclass(frozen=True, kw_only=True)
class Normaliser:
    """Per-variable mean and standard deviation (of the transformed values).

    Attributes:
        mean: variable name -> mean of ``g(x)`` over the training split (0 for tp with ``"scale"``).
        std: variable name -> standard deviation of ``g(x)`` (> 0); for tp with ``"scale"`` its
            root-mean-square.
        tp_transform: ``"none"``, ``"log1p"`` or ``"scale"``; applies to ``tp`` only.
        wet_threshold: tp below this amount (mm) is dry: ``g`` maps it to exactly 0 mm first (storage
            round-off traces are no rain for the model, its ``prob_rain`` or the Brier score).
    """

    mean: Mapping[str, float] = field(default_factory=dict)
    std: Mapping[str, float] = field(default_factory=dict)
    tp_transform: str = "none"
    wet_threshold: float = 0.0

    def __post_init__(self) -> None:
        _check_transform(self.tp_transform)
        if set(self.mean) != set(self.std):
            raise ValueError(
                f"mean and std must cover the same variables, got {sorted(self.mean)} vs {sorted(self.std)}."
            )
        for name, s in self.std.items():
            if not (math.isfinite(s) and s > 0):
                raise ValueError(
                    f"std of {name!r} must be finite and > 0, got {s}; is the variable constant?"
                )
        if not (math.isfinite(self.wet_threshold) and self.wet_threshold >= 0.0):
            raise ValueError(f"wet_threshold must be a finite amount >= 0 mm, got {self.wet_threshold}.")
        if self.tp_transform == "scale" and self.mean.get("tp", 0.0) != 0.0:
            raise ValueError(
                f"with tp_transform='scale' the mean of 'tp' must be 0 (tp is only divided by its RMS, so "
                f"that dry cells stay exactly 0), got {self.mean['tp']}; refit with fit_normaliser."
            )
        object.__setattr__(self, "mean", {k: float(v) for k, v in self.mean.items()})
        object.__setattr__(self, "std", {k: float(v) for k, v in self.std.items()})

    @property
    def variables(self) -> tuple[str, ...]:
        """Names of the normalised variables."""
        return tuple(self.mean)

    def _stats(self, name: str) -> tuple[float, float]:
        if name not in self.mean:
            raise KeyError(f"No statistics for {name!r}; this normaliser has {sorted(self.mean)}.")
        return self.mean[name], self.std[name]

    def transform(self, name: str, values: ArrayLike) -> ArrayLike:
        """Apply ``g``: for tp, amounts below the wet threshold set to 0, then log1p when configured; the
        identity otherwise. NaN stays NaN."""
        if name != "tp":
            return values
        if self.wet_threshold > 0.0:
            values = values * (values >= self.wet_threshold)  # keeps numpy/xarray/dask types; NaN * 0 = NaN
        return np.log1p(values) if self.tp_transform == "log1p" else values

    def untransform(self, name: str, values: ArrayLike) -> ArrayLike:
        """Apply ``g^{-1}`` (expm1 for tp when configured, otherwise the identity)."""
        return np.expm1(values) if (name == "tp" and self.tp_transform == "log1p") else values

    def forward(self, name: str, values: ArrayLike) -> ArrayLike:
        """Physical units -> normalised: ``(g(x) - mean) / std``. Works on numpy and xarray."""
        mean, std = self._stats(name)
        return (self.transform(name, values) - mean) / std

    def inverse(self, name: str, values: ArrayLike) -> ArrayLike:
        """Normalised -> physical units: ``g^{-1}(z * std + mean)``. Works on numpy and xarray."""
        mean, std = self._stats(name)
        return self.untransform(name, values * std + mean)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data: ``{"mean": {...}, "std": {...}, "tp_transform": str}`` (+
        ``"wet_threshold"`` when above 0, so schemas without one read and write as before)."""
        out = {"mean": dict(self.mean), "std": dict(self.std), "tp_transform": self.tp_transform}
        return out | ({"wet_threshold": self.wet_threshold} if self.wet_threshold else {})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Normaliser:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ValueError: if keys are missing or unexpected.
        """
        expected = {"mean", "std", "tp_transform"}
        if not expected <= set(data) <= expected | {"wet_threshold"}:
            raise ValueError(
                f"Normaliser data needs keys {sorted(expected)} (+ optional 'wet_threshold'), "
                f"got {sorted(data)}."
            )
        return cls(mean=dict(data["mean"]), std=dict(data["std"]), tp_transform=str(data["tp_transform"]),
                   wet_threshold=float(data.get("wet_threshold", 0.0)))  # fmt: skip


def fit_normaliser(
    ds: xr.Dataset,
    variables: Sequence[str],
    *,
    tp_transform: str = "none",
    wet_threshold: float = 0.0,
    times: Sequence[int] | None = None,
) -> Normaliser:
    """Fit per-variable mean/std over all (non-NaN) cells of the given time steps, lazily.

    The statistics of all variables are computed in one ``dask.compute`` call, in float64, chunk by chunk;
    the dataset is never loaded whole.

    Args:
        ds: standardised dataset (dims time, latitude, longitude).
        variables: names to fit.
        tp_transform: ``"none"``, ``"log1p"`` (tp statistics are of the transformed values) or ``"scale"``
            (tp gets mean 0 and std = its root-mean-square ``sqrt(mean(tp²))``).
        wet_threshold: tp below it (mm) counts as 0 (see :class:`Normaliser`); the statistics are of the
            thresholded values.
        times: positions along ``time`` of the TRAIN split (e.g. ``split_times(...)["train"]``); ``None`` uses
            all of ``ds`` (the caller then passes a train-only dataset).

    Returns:
        The fitted :class:`Normaliser`.

    Raises:
        ValueError: unknown transform, missing variables, or no finite values.
    """
    _check_transform(tp_transform)
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise ValueError(f"Cannot fit normaliser: variables {missing} not in dataset {sorted(ds.data_vars)}.")
    if times is not None:
        ds = ds.isel(time=list(times))
    lazy = {}
    stats_free = Normaliser(tp_transform=tp_transform, wet_threshold=wet_threshold)  # g only, no statistics
    for name in variables:
        x = stats_free.transform(name, ds[name].astype("float64"))
        rms = name == "tp" and tp_transform == "scale"
        spread = np.sqrt((x**2).mean(skipna=True)) if rms else x.std(skipna=True)
        lazy[name] = (x.mean(skipna=True).data, spread.data)
    (computed,) = dask.compute(lazy)
    mean = {k: float(v[0]) for k, v in computed.items()}
    std = {k: float(v[1]) for k, v in computed.items()}
    if tp_transform == "scale" and "tp" in mean and math.isfinite(mean["tp"]):
        mean["tp"] = 0.0  # not centred: "std" is the RMS, so forward(tp) = tp / rms keeps exact zeros
    bad = [k for k in variables if not math.isfinite(mean[k])]
    if bad:
        raise ValueError(f"No finite values to fit {bad}; check the train split is not all NaN.")
    return Normaliser(mean=mean, std=std, tp_transform=tp_transform, wet_threshold=wet_threshold)
