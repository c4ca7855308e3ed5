"""Kriging with external drift (universal kriging on covariates) fitted on one task's context.

The baseline that sees what the model sees: positions *and* covariates (e.g. the standardised t2m, msl,
u10, v10 at every cell). Columns of ``x``: the first ``position_columns`` are positions (unit-sphere xyz),
the rest covariates ``c(x)``. Model, in the units of ``yc``::

    y = β₀ + βᵀ c̃(x) + g(x) + ε,    g ~ GP(0, s² · a · exp(−½ Σ_d (x_d − x'_d)² / ℓ_d²)),   ε ~ N(0, s² σ²)

with ``c̃`` the covariates standardised by their context mean and std, an ARD squared-exponential kernel
over all columns (positions and covariates: the residual may also vary with the covariates;
``kernel_columns="position"``: over the positions only, classic regression kriging), and the drift ``β``
unknown with a flat prior. Fitting, as in regression kriging:

1. ordinary least squares of ``yc`` on ``[1, c̃]``; ``s`` is the std of its residuals;
2. ``a``, ``ℓ``, ``σ²`` maximise the marginal likelihood of those residuals
   (:func:`climate_bnnp.baselines.kriging.fit_gp`, seeded restarts), in units of ``s``;
3. with them fixed, ``β`` is the generalised-least-squares estimate and the predictive is the universal
   kriging (kriging with external drift) one, for ``K = C(X, X) + s² σ² I``, ``k* = C(X, x*)``,
   ``H`` the drift basis at the context and ``h*`` at ``x*``::

       β̂  = (Hᵀ K⁻¹ H)⁻¹ Hᵀ K⁻¹ y
       μ* = h*ᵀ β̂ + k*ᵀ K⁻¹ (y − H β̂)
       v* = C(x*, x*) + s² σ² − k*ᵀ K⁻¹ k* + uᵀ (Hᵀ K⁻¹ H)⁻¹ u,   u = h* − Hᵀ K⁻¹ k*

   the last term being the uncertainty of the estimated drift. ``v*`` is the variance of an *observation*.

Covariates that are constant over the context are left out of the drift; with fewer than ``p + 2`` context
points for ``p`` drift terms the drift is the intercept alone (ordinary kriging). A constant context gives
a point mass (like :mod:`.kriging`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from sklearn.gaussian_process.kernels import Kernel

from ._common import MIN_STD, check_inputs, gaussian_samples
from .kriging import JITTER, PREDICT_CHUNK, fit_gp

__all__ = [
    "DEFAULT_POSITION_COLUMNS",
    "DriftKriging",
    "fit_drift_kriging",
    "kriging_cov",
    "kriging_cov_moments",
]

DEFAULT_POSITION_COLUMNS = 3
"""Leading columns of ``x`` that are positions (unit-sphere xyz); the columns after them are covariates."""
KERNEL_COLUMNS = ("all", "position")
"""Which columns the residual GP's kernel reads."""


@dataclass(frozen=True, kw_only=True)
class DriftKriging:
    """A kriging-with-external-drift predictor conditioned on one context (see the module docstring).

    Attributes:
        kernel: the fitted scikit-learn kernel (ARD RBF + white noise), in units of ``scale²``.
        scale: ``s``, the std of the OLS residuals (units of ``yc``).
        xc: context inputs ``(Nc, D)``.
        position_columns: number of leading position columns of ``x``; the rest are covariates.
        kernel_columns: the columns the residual GP's kernel reads: ``"all"`` or ``"position"``.
        cov_mean, cov_std: context mean and std of the covariates kept in the drift, ``(q,)`` each.
        drift_columns: indices into the columns of ``x`` of those covariates, ``(q,)``.
        beta: GLS drift coefficients on ``[1, c̃]``, ``(p,)`` (``p = q + 1``).
        alpha: ``K⁻¹ (y − H β̂)``, ``(Nc,)``.
        chol: lower Cholesky factor of ``K``, ``(Nc, Nc)``.
        gls_cov: ``(Hᵀ K⁻¹ H)⁻¹``, ``(p, p)`` (pseudo-inverse).
        k_inv_h: ``K⁻¹ H``, ``(Nc, p)``.
    """

    kernel: Kernel
    scale: float
    xc: np.ndarray
    position_columns: int
    kernel_columns: str
    cov_mean: np.ndarray
    cov_std: np.ndarray
    drift_columns: np.ndarray
    beta: np.ndarray
    alpha: np.ndarray
    chol: np.ndarray
    gls_cov: np.ndarray
    k_inv_h: np.ndarray

    @property
    def drift_coefficients(self) -> np.ndarray:
        """``∂ drift / ∂ c_j`` in units of ``yc`` per unit of covariate column ``j`` (all columns of ``x``
        after the positions; 0 for a covariate left out of the drift), ``(D − position_columns,)``."""
        out = np.zeros(self.xc.shape[1] - self.position_columns)
        out[self.drift_columns - self.position_columns] = self.beta[1:] / self.cov_std
        return out

    def _kernel_inputs(self, x: np.ndarray) -> np.ndarray:
        return x if self.kernel_columns == "all" else x[:, : self.position_columns]

    def basis(self, x: np.ndarray) -> np.ndarray:
        """Drift basis ``[1, c̃(x)]`` at inputs ``x (n, D)``, ``(n, p)``."""
        cov = (x[:, self.drift_columns] - self.cov_mean) / self.cov_std  # (n, q)
        return np.concatenate([np.ones((len(x), 1)), cov], axis=1)

    def moments(self, xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and variance of an observation at ``xt (Nt, D)``, ``(Nt,)`` each (units of yc)."""
        mean, var = np.empty(len(xt)), np.empty(len(xt))
        s2 = self.scale**2
        for start in range(0, len(xt), PREDICT_CHUNK):
            block = slice(start, start + PREDICT_CHUNK)
            x = xt[block]
            k_star = s2 * self.kernel(
                self._kernel_inputs(x), self._kernel_inputs(self.xc)
            )  # (n, Nc), no noise
            h_star = self.basis(x)  # (n, p)
            mean[block] = h_star @ self.beta + k_star @ self.alpha
            v = solve_triangular(self.chol, k_star.T, lower=True)  # (Nc, n) = L⁻¹ k*
            u = h_star - k_star @ self.k_inv_h  # (n, p) = (h* − Hᵀ K⁻¹ k*)ᵀ
            var[block] = (
                s2 * self.kernel.diag(self._kernel_inputs(x))
                - np.sum(v * v, axis=0)
                + np.einsum("ip,pq,iq->i", u, self.gls_cov, u)
            )
        return mean, var


def _drift_columns(xc: np.ndarray, position_columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covariate columns with a spread over the context, their mean and std; none if too few points."""
    nc, dim = xc.shape
    columns = np.arange(position_columns, dim)
    std = xc[:, columns].std(axis=0)
    keep = columns[std > 0]
    if nc < len(keep) + 3:  # p = q + 1 drift terms need p + 2 points: else ordinary kriging
        keep = keep[:0]
    return keep, xc[:, keep].mean(axis=0), xc[:, keep].std(axis=0)


def fit_drift_kriging(
    xc: np.ndarray,
    yc: np.ndarray,
    *,
    position_columns: int = DEFAULT_POSITION_COLUMNS,
    kernel_columns: str = "all",
    **options,
) -> DriftKriging:
    """Fit kriging with external drift on one context.

    Args:
        xc: context inputs ``(Nc, D)``: ``position_columns`` position columns, then covariates.
        yc: context targets ``(Nc,)`` (not constant; see :func:`kriging_cov_moments`).
        position_columns: number of leading position columns (``min(position_columns, D)`` are used;
            with ``D ≤ position_columns`` there is no covariate and the drift is the intercept).
        kernel_columns: ``"all"`` (default): the residual GP's ARD kernel reads positions and covariates;
            ``"position"``: positions only (classic regression kriging / KED: covariates in the drift only).
        options: keyword arguments of :func:`climate_bnnp.baselines.kriging.fit_gp` for the residual GP
            (``optimize``, ``lengthscale``, ``amplitude``, ``noise``, ``ard``, ``num_restarts``, ``max_iter``,
            ``max_fit_points``, ``seed``); variances in units of ``s²``.

    Returns:
        The fitted :class:`DriftKriging`.
    """
    xc, yc, _ = check_inputs(xc, yc)
    if isinstance(position_columns, bool) or not isinstance(position_columns, int) or position_columns < 0:
        raise ValueError(
            f"position_columns must be a non-negative int (3 for xyz), got {position_columns!r}."
        )
    position_columns = min(position_columns, xc.shape[1])
    columns, cov_mean, cov_std = _drift_columns(xc, position_columns)
    basis = np.concatenate([np.ones((len(xc), 1)), (xc[:, columns] - cov_mean) / cov_std], axis=1)  # (Nc, p)
    beta_ols = np.linalg.lstsq(basis, yc, rcond=None)[0]
    resid = yc - basis @ beta_ols
    scale = float(resid.std()) or 1.0  # what normalize_y divides by in fit_gp
    if kernel_columns not in KERNEL_COLUMNS:
        raise ValueError(f"kernel_columns must be one of {KERNEL_COLUMNS}, got {kernel_columns!r}.")
    xk = xc if kernel_columns == "all" else xc[:, :position_columns]
    if xk.shape[1] == 0:
        raise ValueError("kernel_columns='position' needs position_columns >= 1.")
    kernel = fit_gp(xk, resid, **options).kernel_
    big_k = scale**2 * kernel(xk)  # (Nc, Nc), white noise on the diagonal
    big_k[np.diag_indices_from(big_k)] += scale**2 * JITTER
    factor = cho_factor(big_k, lower=True)
    k_inv_h = cho_solve(factor, basis)  # (Nc, p)
    gls_cov = np.linalg.pinv(basis.T @ k_inv_h, hermitian=True)  # (p, p)
    beta = gls_cov @ (k_inv_h.T @ yc)
    alpha = cho_solve(factor, yc - basis @ beta)
    return DriftKriging(
        kernel=kernel,
        scale=scale,
        xc=xc,
        position_columns=position_columns,
        kernel_columns=kernel_columns,
        cov_mean=cov_mean,
        cov_std=cov_std,
        drift_columns=columns,
        beta=beta,
        alpha=alpha,
        chol=np.tril(factor[0]),
        gls_cov=gls_cov,
        k_inv_h=k_inv_h,
    )


def kriging_cov_moments(
    xc: np.ndarray,
    yc: np.ndarray,
    xt: np.ndarray,
    *,
    position_columns: int = DEFAULT_POSITION_COLUMNS,
    kernel_columns: str = "all",
    min_std: float = MIN_STD,
    **options,
) -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean and std ``(Nt,)`` each of an observation at ``xt`` by kriging with external drift.

    Args:
        xc, yc, xt: ``(Nc, D)``, ``(Nc,)``, ``(Nt, D)``; ``D = position_columns + number of covariates``
            (the covariates standardised as the model sees them, or raw: the drift is linear, the kernel's
            lengthscales are fitted per column).
        position_columns: leading position columns (default 3: unit-sphere xyz).
        kernel_columns: ``"all"`` or ``"position"``, see :func:`fit_drift_kriging`.
        min_std: floor of the std (units of ``yc``). A constant context gives that constant and ``min_std``.
        options: :func:`climate_bnnp.baselines.kriging.fit_gp` keywords for the residual GP.
    """
    xc, yc, xt = check_inputs(xc, yc, xt)
    if np.ptp(yc) == 0:
        return np.full(len(xt), yc[0]), np.full(len(xt), float(min_std))
    fit = fit_drift_kriging(
        xc, yc, position_columns=position_columns, kernel_columns=kernel_columns, **options
    )
    mean, var = fit.moments(xt)
    return mean, np.maximum(np.sqrt(np.clip(var, 0.0, None)), min_std)


def kriging_cov(
    xc: np.ndarray, yc: np.ndarray, xt: np.ndarray, *, num_samples: int, seed: int = 0, **options
) -> np.ndarray:
    """Observation samples ``(S, Nt)`` from :func:`kriging_cov_moments` (independent per point).

    ``seed`` seeds the hyperparameter search and the draws (``np.random.default_rng(seed)``).
    """
    mean, std = kriging_cov_moments(xc, yc, xt, seed=seed, **options)
    return gaussian_samples(mean, std, num_samples=num_samples, seed=seed)
