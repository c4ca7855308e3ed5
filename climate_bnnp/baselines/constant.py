"""The simplest baseline: one Gaussian for the whole task, with the context's mean and std."""

from __future__ import annotations

import numpy as np

from ._common import MIN_STD, check_inputs, gaussian_samples

__all__ = ["context_mean", "context_mean_moments"]


def context_mean_moments(
    xc: np.ndarray, yc: np.ndarray, xt: np.ndarray, *, min_std: float = MIN_STD
) -> tuple[np.ndarray, np.ndarray]:
    """``mean(yc)`` and ``std(yc)`` (population std, ``ddof=0``, floored at ``min_std``) at every target,
    ``(Nt,)`` each. The positions are only checked, not used."""
    xc, yc, xt = check_inputs(xc, yc, xt)
    return np.full(len(xt), yc.mean()), np.full(len(xt), max(float(yc.std()), float(min_std)))


def context_mean(
    xc: np.ndarray, yc: np.ndarray, xt: np.ndarray, *, num_samples: int, seed: int = 0, **options
) -> np.ndarray:
    """Observation samples ``(S, Nt)`` from ``N(mean(yc), std(yc)²)`` (``np.random.default_rng(seed)``)."""
    mean, std = context_mean_moments(xc, yc, xt, **options)
    return gaussian_samples(mean, std, num_samples=num_samples, seed=seed)
