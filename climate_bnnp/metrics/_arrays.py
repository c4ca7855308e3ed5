"""Shared array plumbing for the metrics: validation, masks, axes and a masked log-sum-exp.

Private module; the public functions live in :mod:`climate_bnnp.metrics.scores`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__: list[str] = []

Axis = int | Sequence[int] | None


def as_float_array(x: object, name: str) -> np.ndarray:
    """Return ``x`` as a floating numpy array (float64 unless already floating)."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - numpy raises rarely here
        raise TypeError(f"{name}: expected an array-like of numbers, got {type(x).__name__}") from exc
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"{name}: expected a numeric array, got dtype {arr.dtype}. "
            "Pass numpy arrays (torch tensors: call .detach().cpu().numpy() first)."
        )
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def check_samples(y: np.ndarray, samples: np.ndarray, name: str = "samples") -> tuple[int, ...]:
    """Check that ``samples`` is ``(S, *shape)`` with ``shape`` broadcastable to ``y.shape``.

    Returns the broadcast point shape (without the sample axis).
    """
    if samples.ndim != y.ndim + 1:
        raise ValueError(
            f"{name}: expected a leading sample axis, i.e. shape (S, *y.shape) = (S, {_fmt(y.shape)}); "
            f"got shape {samples.shape} for y of shape {y.shape}. Samples lead (docs/research.md, 'Shapes'): "
            "stack Monte-Carlo draws on axis 0."
        )
    if samples.shape[0] < 1:
        raise ValueError(f"{name}: need at least one sample on axis 0, got shape {samples.shape}")
    try:
        return np.broadcast_shapes(y.shape, samples.shape[1:])
    except ValueError as exc:
        raise ValueError(
            f"{name}: shape {samples.shape[1:]} after the sample axis does not broadcast with "
            f"y of shape {y.shape}"
        ) from exc


def _fmt(shape: tuple[int, ...]) -> str:
    return ", ".join(str(s) for s in shape)


def normalise_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """Turn ``axis`` (int, tuple, or ``None`` = all) into sorted non-negative axes of an ``ndim`` array."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for targets with {ndim} dimension(s)")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def valid_mask(y: np.ndarray, mask: object | None, shape: tuple[int, ...]) -> np.ndarray:
    """Boolean array of ``shape``: True where the target is finite-or-inf (not NaN) and ``mask`` is True."""
    valid = ~np.isnan(y)
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype != bool:
            raise TypeError(f"mask: expected a boolean array (True = use the point), got dtype {m.dtype}")
        try:
            valid = valid & m
        except ValueError as exc:
            raise ValueError(
                f"mask: shape {m.shape} does not broadcast with targets of shape {y.shape}"
            ) from exc
    return np.broadcast_to(valid, shape)


def check_sigma(sigma: object, shape: tuple[int, ...]) -> np.ndarray:
    """Observation-noise standard deviation: positive, scalar or broadcastable to ``shape``."""
    s = as_float_array(sigma, "sigma")
    try:
        np.broadcast_shapes(s.shape, shape)
    except ValueError as exc:
        raise ValueError(f"sigma: shape {s.shape} does not broadcast with samples of shape {shape}") from exc
    if not np.all(s > 0):
        raise ValueError(f"sigma: the observation-noise standard deviation must be > 0, got min {np.min(s)}")
    return s


def masked_logsumexp(a: np.ndarray, valid: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``log Σ exp(a)`` over ``axes``, counting only entries where ``valid``; -inf if none is valid.

    NaN in a valid entry propagates to the result.
    """
    a = np.where(valid, a, -np.inf)
    amax = np.max(a, axis=axes, keepdims=True)
    shift = np.where(np.isfinite(amax), amax, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - shift), axis=axes, keepdims=True)) + shift
    return np.squeeze(out, axis=axes)


def masked_mean(a: np.ndarray, valid: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Mean of ``a`` over ``axes`` counting only valid entries; NaN where no entry is valid."""
    total = np.sum(np.where(valid, a, 0.0), axis=axes)
    count = np.sum(valid, axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def scalar_or_array(x: np.ndarray) -> float | np.ndarray:
    """Return a Python float for 0-d results, the array otherwise."""
    return float(x) if np.ndim(x) == 0 else x
