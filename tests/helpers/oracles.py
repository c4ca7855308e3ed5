"""Closed forms that share no code with the package: Bayesian linear regression and the Gaussian KL (numpy).

The linear-Gaussian model is ``y = H w + ε``, ``w ~ N(μ₀, Σ₀)``, ``ε ~ N(0, σ² I)`` with a design matrix
``H (N, D)`` (e.g. :func:`features`: the inputs and a bias column).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import multivariate_normal

__all__ = ["features", "blr_log_evidence", "blr_posterior", "gaussian_kl"]


def features(x: np.ndarray) -> np.ndarray:
    """``[x, 1]``: ``x (N, Dx)`` with a bias column, ``(N, Dx + 1)``."""
    return np.concatenate([x, np.ones((len(x), 1))], 1)


def blr_log_evidence(h: np.ndarray, y: np.ndarray, sigma: float, prior_cov: np.ndarray) -> float:
    """``log p(y) = log N(y; 0, H Σ₀ Hᵀ + σ² I)`` for ``w ~ N(0, Σ₀)``; ``y (N,)``, ``prior_cov (D, D)``."""
    cov = h @ prior_cov @ h.T + sigma**2 * np.eye(len(h))
    return float(multivariate_normal(np.zeros(len(h)), cov).logpdf(y))


def blr_posterior(
    h: np.ndarray, y: np.ndarray, sigma: float, prior_cov: np.ndarray, prior_mean: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean ``(D,)`` and covariance ``(D, D)`` of ``w ~ N(prior_mean, prior_cov)`` (mean 0 if
    None) given ``y (N,)``: ``Σ = (Σ₀⁻¹ + Hᵀ H / σ²)⁻¹``, ``μ = Σ (Σ₀⁻¹ μ₀ + Hᵀ y / σ²)``."""
    prior_precision = np.linalg.inv(prior_cov)
    cov = np.linalg.inv(prior_precision + h.T @ h / sigma**2)
    shift = h.T @ y / sigma**2
    if prior_mean is not None:
        shift = shift + prior_precision @ prior_mean
    return cov @ shift, cov


def gaussian_kl(m1: np.ndarray, c1: np.ndarray, m2: np.ndarray, c2: np.ndarray) -> float:
    """``KL(N(m1, c1) ‖ N(m2, c2))`` in closed form; means ``(D,)``, covariances ``(D, D)``."""
    inv2 = np.linalg.inv(c2)
    diff = m2 - m1
    return float(
        0.5
        * (
            np.trace(inv2 @ c1)
            + diff @ inv2 @ diff
            - len(m1)
            + np.linalg.slogdet(c2)[1]
            - np.linalg.slogdet(c1)[1]
        )
    )
