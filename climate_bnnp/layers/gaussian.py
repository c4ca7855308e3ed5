"""Gaussian algebra in natural (precision) form, in float64.

Every posterior in the package is a Gaussian ``N(m, Λ⁻¹)`` per output unit, stored as its mean and the
lower Cholesky factor ``L`` of its precision ``Λ = L Lᵀ``. Shapes: precisions ``(..., D, D)``, vectors
``(..., D)`` with any leading batch dimensions (samples, tasks, units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "JitterLog",
    "robust_cholesky",
    "sample_from_precision",
    "kl_from_precisions",
    "logdet_from_cholesky",
]

JITTER_START = 1e-10  # relative to the mean diagonal
JITTER_GROWTH = 100.0
JITTER_MAX = 1e-4


@dataclass
class JitterLog:
    """Counts factorisations that needed jitter (never a silent NaN).

    Attributes:
        matrices: number of matrices that were jittered.
        calls: number of factorisation calls that needed any jitter.
        max_relative: largest jitter used, relative to the matrix's mean diagonal.
    """

    matrices: int = 0
    calls: int = 0
    max_relative: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"jitter_matrices": self.matrices, "jitter_calls": self.calls, "jitter_max": self.max_relative}


def robust_cholesky(matrix: Tensor, log: JitterLog | None = None) -> Tensor:
    """Lower Cholesky factor of symmetric positive-definite matrices ``(..., D, D)``.

    No jitter is added unless a factorisation fails; failed matrices then get relative jitter
    ``JITTER_START · mean(diag)``, growing by ``JITTER_GROWTH`` up to ``JITTER_MAX``, and ``log`` counts it.

    Raises:
        FloatingPointError: if the input holds NaN/inf or is not positive definite even with the
            largest jitter.
    """
    if not torch.isfinite(matrix).all():
        raise FloatingPointError(
            "Posterior precision holds NaN or inf values; check the inputs for NaN and consider a lower "
            "learning rate."
        )
    chol, info = torch.linalg.cholesky_ex(matrix)
    failed = info > 0
    if not failed.any():
        return chol
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    scale = matrix.diagonal(dim1=-2, dim2=-1).mean(-1).abs().clamp_min(torch.finfo(matrix.dtype).tiny)
    relative = JITTER_START
    jitter = torch.zeros_like(scale)
    while relative <= JITTER_MAX:
        jitter = torch.where(failed, relative * scale, jitter)
        chol, info = torch.linalg.cholesky_ex(matrix + jitter[..., None, None] * eye)
        if not (info > 0).any():
            if log is not None:
                log.matrices += int(failed.sum())
                log.calls += 1
                log.max_relative = max(log.max_relative, relative)
            return chol
        relative *= JITTER_GROWTH
    raise FloatingPointError(
        f"{int((info > 0).sum())} posterior precision matrices are not positive definite even with "
        f"relative jitter {JITTER_MAX:g}; the pseudo-precisions are probably degenerate."
    )


def logdet_from_cholesky(chol: Tensor) -> Tensor:
    """``log |L Lᵀ|`` from the lower Cholesky factor ``(..., D, D)``; returns ``(...)``."""
    return 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def sample_from_precision(mean: Tensor, chol: Tensor, eps: Tensor) -> Tensor:
    """Reparameterised draw ``w = m + L⁻ᵀ ε`` from ``N(m, (L Lᵀ)⁻¹)``.

    Args:
        mean: ``(..., D)``; chol: ``(..., D, D)``; eps: standard normal ``(..., D)``. Leading dimensions
        broadcast (e.g. a posterior shared by all samples has a leading 1).
    """
    # Solve Lᵀ z = ε, so that Cov(z) = L⁻ᵀ L⁻¹ = Λ⁻¹.
    z = torch.linalg.solve_triangular(chol.mT, eps.unsqueeze(-1), upper=True).squeeze(-1)  # (..., D)
    return mean + z


def kl_from_precisions(
    mean_q: Tensor, chol_q: Tensor, mean_p: Tensor, precision_p: Tensor, logdet_precision_p: Tensor
) -> Tensor:
    """``KL(N(m_q, Λ_q⁻¹) ‖ N(m_p, Λ_p⁻¹))`` with both Gaussians in precision form.

    ``KL = ½ [tr(Λ_p Λ_q⁻¹) + (m_p − m_q)ᵀ Λ_p (m_p − m_q) − D + log|Λ_q| − log|Λ_p|]``.

    Args:
        mean_q: ``(..., D)``; chol_q: Cholesky factor of ``Λ_q`` ``(..., D, D)``;
        mean_p: ``(..., D)``; precision_p: ``(..., D, D)``; logdet_precision_p: ``(...)``.

    Returns:
        ``(...)`` KL per Gaussian.
    """
    dim = mean_q.shape[-1]
    cov_q = torch.cholesky_inverse(chol_q)  # (..., D, D)
    trace = (precision_p * cov_q).sum((-2, -1))
    diff = (mean_p - mean_q).unsqueeze(-1)  # (..., D, 1)
    maha = (diff.mT @ precision_p @ diff).squeeze(-1).squeeze(-1)
    return 0.5 * (trace + maha - dim + logdet_from_cholesky(chol_q) - logdet_precision_p)


LOG_2PI = math.log(2.0 * math.pi)
