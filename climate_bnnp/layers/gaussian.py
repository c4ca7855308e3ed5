"""Gaussian algebra in natural (precision) form, in float64.

Every posterior in the package is a Gaussian ``N(m, Λ⁻¹)`` per output unit, stored as its mean and the
lower Cholesky factor ``L`` of its precision ``Λ = L Lᵀ`` (and ``L⁻¹``).
Shapes: precisions ``(..., D, D)``, vectors
``(..., D)`` with any leading batch dimensions (samples, tasks, units).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "JitterLog",
    "robust_cholesky",
    "cholesky_with_inverse",
    "lower_inverse",
    "sample_from_precision",
    "gaussian_kl",
    "packed_size",
    "unpack_symmetric",
    "pack_symmetric_gradient",
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


def _blocked_lower_inverse(chol: Tensor, base: int = 16, out: Tensor | None = None) -> Tensor:
    """Inverse of lower-triangular matrices by 2 × 2 block recursion (batched GEMMs; no autograd).

    ``[[A, 0], [C, B]]⁻¹ = [[A⁻¹, 0], [−B⁻¹ C A⁻¹, B⁻¹]]``. Torch's batched triangular solves with matrix
    right-hand sides run far below GEMM speed on CPU for many small matrices; this form does not.
    ``out``: a buffer for the result whose upper triangle is zero (only the lower triangle is written);
    the blocks are written straight into it.
    """
    n = chol.shape[-1]
    if out is None:
        out = chol.new_zeros(chol.shape)
    if n <= base:
        eye = torch.eye(n, dtype=chol.dtype, device=chol.device).expand_as(chol)
        out.copy_(torch.linalg.solve_triangular(chol, eye, upper=False))
        return out
    k = n // 2
    _blocked_lower_inverse(chol[..., :k, :k], base, out[..., :k, :k])
    _blocked_lower_inverse(chol[..., k:, k:], base, out[..., k:, k:])
    out[..., k:, :k] = (out[..., k:, k:] @ (chol[..., k:, :k] @ out[..., :k, :k])).neg_()
    return out


def _inverse_backward(inv: Tensor, grad_inv: Tensor) -> Tensor:
    """Gradient w.r.t. a lower-triangular ``L`` of a loss through ``L⁻¹``: ``−tril(L⁻ᵀ Ḡ L⁻ᵀ)``."""
    return -(inv.mT @ grad_inv.tril() @ inv.mT).tril()


class _CholeskyWithInverse(torch.autograd.Function):
    """``A ↦ (L, L⁻¹)`` with ``A = L Lᵀ``; the backward pass uses GEMMs with the saved ``L⁻¹`` only."""

    @staticmethod
    def forward(ctx, matrix: Tensor, log: JitterLog | None):  # type: ignore[override]
        chol = robust_cholesky(matrix, log)
        inv = _blocked_lower_inverse(chol)
        ctx.save_for_backward(chol, inv)
        return chol, inv

    @staticmethod
    def backward(ctx, grad_chol: Tensor | None, grad_inv: Tensor | None):  # type: ignore[override]
        chol, inv = ctx.saved_tensors
        # With dL = L Φ(L⁻¹ dA L⁻ᵀ) (Φ = lower triangle, halved diagonal) and d(L⁻¹) = −L⁻¹ dL L⁻¹:
        #   through L:   Ā = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹;      through L⁻¹:  Ā = −L⁻ᵀ Φ(Ḡ L⁻ᵀ) L⁻¹   (then symmetrised).
        inner = torch.zeros_like(chol)
        if grad_chol is not None:
            inner = inner + chol.mT @ grad_chol.tril()
        if grad_inv is not None:
            inner = inner - grad_inv.tril() @ inv.mT
        inner = inner.tril() - 0.5 * torch.diag_embed(inner.diagonal(dim1=-2, dim2=-1))
        sandwich = inv.mT @ inner @ inv
        return 0.5 * (sandwich + sandwich.mT), None


class _LowerInverse(torch.autograd.Function):
    """``L ↦ L⁻¹`` for lower-triangular ``L`` with a GEMM backward."""

    @staticmethod
    def forward(ctx, chol: Tensor):  # type: ignore[override]
        inv = _blocked_lower_inverse(chol)
        ctx.save_for_backward(inv)
        return inv

    @staticmethod
    def backward(ctx, grad_inv: Tensor):  # type: ignore[override]
        (inv,) = ctx.saved_tensors
        return _inverse_backward(inv, grad_inv)


def cholesky_with_inverse(matrix: Tensor, log: JitterLog | None = None) -> tuple[Tensor, Tensor]:
    """Lower Cholesky factor ``L`` of SPD ``matrix (..., D, D)`` and its inverse ``L⁻¹``, differentiable.

    Jitter is escalated as in :func:`robust_cholesky` (and counted in ``log``).
    """
    return _CholeskyWithInverse.apply(matrix, log)


def lower_inverse(chol: Tensor) -> Tensor:
    """Differentiable inverse of lower-triangular matrices ``(..., D, D)``."""
    return _LowerInverse.apply(chol)


def sample_from_precision(mean: Tensor, chol_inv: Tensor, eps: Tensor) -> Tensor:
    """Reparameterised draw ``w = m + L⁻ᵀ ε`` from ``N(m, (L Lᵀ)⁻¹)``.

    Leading dimensions broadcast (e.g. a posterior shared by all samples has a leading 1).

    Args:
        mean: ``(..., D)``.
        chol_inv: ``L⁻¹`` of the precision's Cholesky factor, ``(..., D, D)``.
        eps: standard normal draws, ``(..., D)``.
    """
    return mean + (chol_inv.mT @ eps.unsqueeze(-1)).squeeze(-1)  # Cov = L⁻ᵀ L⁻¹ = Λ⁻¹


def gaussian_kl(
    mean_q: Tensor, chol_inv_q: Tensor, mean_p: Tensor, factor_p: Tensor, logdet_precision_p: Tensor
) -> Tensor:
    """``KL(N(m_q, Λ_q⁻¹) ‖ N(m_p, Λ_p⁻¹))`` with ``Λ_q = L Lᵀ`` and ``Λ_p = Mᵀ M``.

    ``KL = ½ [‖M L⁻ᵀ‖²_F + ‖M (m_p − m_q)‖² − D + log|Λ_q| − log|Λ_p|]``, using ``tr(Λ_p Λ_q⁻¹) =
    ‖M L⁻ᵀ‖²_F`` so that no inverse beyond ``L⁻¹`` is formed.

    Args:
        mean_q: ``(..., D)``; chol_inv_q: ``L⁻¹`` ``(..., D, D)``; mean_p: ``(..., D)``;
        factor_p: ``M`` ``(..., D, D)``; logdet_precision_p: ``log|Λ_p|`` ``(...)``.

    Returns:
        ``(...)`` KL per Gaussian.
    """
    dim = mean_q.shape[-1]
    trace = (factor_p @ chol_inv_q.mT).square().sum((-2, -1))
    maha = (factor_p @ (mean_p - mean_q).unsqueeze(-1)).square().sum((-2, -1))
    logdet_q = -2.0 * chol_inv_q.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * (trace + maha - dim + logdet_q - logdet_precision_p)


def packed_size(dim: int) -> int:
    """Entries in the packed upper triangle of a symmetric ``dim × dim`` matrix."""
    return dim * (dim + 1) // 2


def _packed_position(dim: int, device: torch.device) -> Tensor:
    """``(D, D)``: index of entry ``(i, k)`` in the packed upper triangle (``triu_indices`` order)."""
    rows, cols = torch.triu_indices(dim, dim, device=device)
    position = torch.zeros(dim, dim, dtype=torch.long, device=device)
    position[rows, cols] = torch.arange(len(rows), device=device)
    return torch.maximum(position, position.T)


def unpack_symmetric(packed: Tensor, dim: int) -> Tensor:
    """Symmetric matrices ``(..., D, D)`` from their packed upper triangles ``(..., D (D + 1) / 2)``."""
    return packed[..., _packed_position(dim, packed.device)]


def pack_symmetric_gradient(grad: Tensor) -> Tensor:
    """Gradient w.r.t. the packed upper triangle given a symmetric gradient ``(..., D, D)``.

    Each off-diagonal packed entry feeds two matrix entries, so its gradient is twice ``grad[i, k]``.
    """
    dim = grad.shape[-1]
    rows, cols = torch.triu_indices(dim, dim, device=grad.device)
    weight = torch.where(rows == cols, 1.0, 2.0).to(grad.dtype)
    return grad[..., rows, cols] * weight
