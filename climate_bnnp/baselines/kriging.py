"""Gaussian-process regression ("kriging") fitted on one task's context.

Model, in the units of ``yc`` standardised by its context mean ``m`` and std ``s`` (``normalize_y``)::

    y = g(x) + ε,   g ~ GP(0, a · exp(−½ Σ_d (x_d − x'_d)² / ℓ_d²)),   ε ~ N(0, σ²)

(``ConstantKernel(a) · RBF(ℓ) + WhiteKernel(σ²)``; one lengthscale per column with ``ard=True``, one shared
lengthscale otherwise). ``a``, ``ℓ`` and ``σ²`` maximise the log marginal likelihood of the context (L-BFGS-B,
at most ``max_iter`` iterations from the start point and from ``num_restarts`` seeded random starts inside
the bounds, on at most ``max_fit_points`` context points), or are given (``optimize=False``). The
predictive for an *observation* at ``x*`` is ``N(μ*, v*)`` with, for ``K = k(X, X) + (σ² + 1e-10) I``::

    μ* = m + s · k(x*, X) K⁻¹ (y − m) / s
    v* = s² · (a + σ² − k(x*, X) K⁻¹ k(X, x*))

i.e. the latent GP's variance plus the white-noise variance.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from ._common import MIN_STD, check_inputs, gaussian_samples

__all__ = ["fit_gp", "gp_kriging", "gp_kriging_moments"]

JITTER = 1e-10  # added to the diagonal of K (sklearn's ``alpha``), on top of the white noise
AMPLITUDE_BOUNDS = (1e-3, 1e3)  # signal variance a, in units of the standardised yc
NOISE_BOUNDS = (1e-6, 1e1)  # white-noise variance σ², in units of the standardised yc
LENGTHSCALE_RANGE = 1e3  # ℓ_d is bounded to [scale_d / 1e3, scale_d · 1e3] around its start value
PREDICT_CHUNK = 2048  # target points per prediction block


def _lengthscale_scale(xc: np.ndarray, ard: bool) -> np.ndarray:
    """Start values for ℓ: the per-column std of ``xc`` (ARD) or the RMS of those (isotropic); 1 if 0."""
    spread = xc.std(axis=0)  # (D,)
    scale = spread if ard else np.atleast_1d(np.sqrt(np.mean(spread**2)))
    return np.where(scale > 0, scale, 1.0)


def _optimizer(max_iter: int):
    """L-BFGS-B with an iteration cap, in sklearn's optimizer protocol (so fitting cannot run away)."""

    def optimize(obj_func, initial_theta, bounds):
        result = minimize(
            obj_func, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds, options={"maxiter": max_iter}
        )
        return result.x, result.fun

    return optimize


def fit_gp(
    xc: np.ndarray,
    yc: np.ndarray,
    *,
    optimize: bool = True,
    lengthscale: float | Sequence[float] | None = None,
    amplitude: float = 1.0,
    noise: float = 0.1,
    ard: bool = True,
    num_restarts: int = 2,
    max_iter: int = 100,
    max_fit_points: int = 500,
    seed: int = 0,
) -> GaussianProcessRegressor:
    """A scikit-learn ``GaussianProcessRegressor`` conditioned on all of the context.

    Args:
        xc: context positions ``(Nc, D)``; yc: context targets ``(Nc,)``.
        optimize: fit ``a``, ``ℓ``, ``σ²`` by marginal likelihood; False keeps the given values.
        lengthscale: ℓ (a scalar, or one per column of ``xc``); None: the per-column std of ``xc``
            (with ``optimize=True`` only the start point).
        amplitude: signal variance ``a``; noise: white-noise variance ``σ²`` (both in units of the
            standardised ``yc``; start points when optimising).
        ard: one lengthscale per column (True) or one shared lengthscale (False); ignored when a
            sequence ``lengthscale`` is given.
        num_restarts: extra random starts of the optimiser (drawn log-uniformly within the bounds).
        max_iter: L-BFGS-B iterations per start.
        max_fit_points: the hyperparameters are fitted on a random subset of at most this many context
            points (``O(n³)`` per iteration); the predictive then conditions on all points.
        seed: seeds the subset and the restarts.

    Returns:
        The fitted regressor (``kernel_`` holds the hyperparameters).
    """
    xc, yc, _ = check_inputs(xc, yc)
    nc, dim = xc.shape
    scale = _lengthscale_scale(xc, ard)
    if lengthscale is None:
        lengthscale = scale if ard else float(scale[0])
    ell = np.atleast_1d(np.asarray(lengthscale, dtype=np.float64))
    if ell.shape not in ((1,), (dim,)) or not np.all(ell > 0):
        raise ValueError(
            f"lengthscale must be one positive number or {dim} (one per column of xc), got {lengthscale!r}."
        )
    if amplitude <= 0 or noise <= 0:
        raise ValueError(f"amplitude and noise must be positive variances, got {amplitude} and {noise}.")
    if ell.shape == (1,) and scale.shape == (dim,) and dim > 1:
        scale = np.atleast_1d(np.sqrt(np.mean(scale**2)))
    ell_bounds = np.stack([scale / LENGTHSCALE_RANGE, scale * LENGTHSCALE_RANGE], axis=-1)  # (D or 1, 2)
    if optimize:  # keep the start point inside the bounds
        ell = np.clip(ell, ell_bounds[:, 0], ell_bounds[:, 1])
        amplitude = float(np.clip(amplitude, *AMPLITUDE_BOUNDS))
        noise = float(np.clip(noise, *NOISE_BOUNDS))
    kernel = ConstantKernel(amplitude, AMPLITUDE_BOUNDS if optimize else "fixed") * RBF(
        ell if ell.size > 1 else float(ell[0]), ell_bounds if optimize else "fixed"
    ) + WhiteKernel(noise, NOISE_BOUNDS if optimize else "fixed")
    if optimize:
        rng = np.random.default_rng(seed)
        fit_index = slice(None)
        if nc > max_fit_points:
            fit_index = np.sort(rng.choice(nc, max_fit_points, replace=False))
        search = GaussianProcessRegressor(
            kernel,
            alpha=JITTER,
            optimizer=_optimizer(max_iter),
            n_restarts_optimizer=num_restarts,
            normalize_y=True,
            random_state=seed,
        )
        with warnings.catch_warnings():  # a hyperparameter at its bound (e.g. σ² → 1e-6) is expected
            warnings.simplefilter("ignore", ConvergenceWarning)
            kernel = search.fit(xc[fit_index], yc[fit_index]).kernel_
    final = GaussianProcessRegressor(kernel, alpha=JITTER, optimizer=None, normalize_y=True)
    return final.fit(xc, yc)


def gp_kriging_moments(
    xc: np.ndarray, yc: np.ndarray, xt: np.ndarray, *, min_std: float = MIN_STD, **options
) -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean and std ``(Nt,)`` each of an observation at ``xt`` (latent + white-noise variance).

    A constant context (including ``Nc = 1``) has no spread to learn from: the marginal-likelihood optimum
    is then a point mass, so the mean is that constant and the std ``min_std``.

    Args:
        xc, yc, xt: ``(Nc, D)``, ``(Nc,)``, ``(Nt, D)``; options: keyword arguments of :func:`fit_gp`.
        min_std: floor of the std (units of ``yc``).
    """
    xc, yc, xt = check_inputs(xc, yc, xt)
    if np.ptp(yc) == 0:
        return np.full(len(xt), yc[0]), np.full(len(xt), float(min_std))
    gp = fit_gp(xc, yc, **options)
    mean, std = np.empty(len(xt)), np.empty(len(xt))
    for start in range(0, len(xt), PREDICT_CHUNK):
        block = slice(start, start + PREDICT_CHUNK)
        mean[block], std[block] = gp.predict(xt[block], return_std=True)  # kernel_.diag includes σ²
    return mean, np.maximum(std, min_std)


def gp_kriging(
    xc: np.ndarray, yc: np.ndarray, xt: np.ndarray, *, num_samples: int, seed: int = 0, **options
) -> np.ndarray:
    """Observation samples ``(S, Nt)`` from the kriging predictive (independent per point).

    ``seed`` seeds the hyperparameter search (subset, restarts) and the draws
    (``np.random.default_rng(seed)``). ``options``: :func:`gp_kriging_moments` / :func:`fit_gp` keywords.
    """
    mean, std = gp_kriging_moments(xc, yc, xt, seed=seed, **options)
    return gaussian_samples(mean, std, num_samples=num_samples, seed=seed)
