"""One fused step per layer: closed-form posterior, a reparameterised weight draw and its KL.

For every unit the posterior is ``q = N(m, Λ⁻¹)`` with ``Λ = unpack(Λ_data) + Λ_0`` and ``m = Λ⁻¹ η``. With
``Λ = L Lᵀ`` the draw is ``w = m + L⁻ᵀ ε`` and the KL to ``p = N(μ_p, (MᵀM)⁻¹)`` is

    KL = ½ [‖M L⁻ᵀ‖² + ‖M (m − μ_p)‖² − D + log|Λ| − log|MᵀM|].

Autograd through these steps keeps several ``(S, B, J, D, D)`` tensors per layer alive (the Cholesky factor,
its inverse, products for the trace and their gradients). Here only the lower triangle of ``L⁻¹`` is
kept, the work runs in blocks over the leading (sample) dimension, and the backward pass is written out
(Σ = L⁻ᵀ L⁻¹, P = MᵀM, d = m − μ_p, g = P d, k̄ and w̄ the incoming gradients, m̄ = w̄ + k̄ g,
v = L⁻¹ w̄, Φ = lower triangle with halved diagonal):

    Λ̄ = sym(L⁻ᵀ [½ k̄ L⁻¹ − Φ(ε vᵀ) L⁻¹]) − ½ k̄ Σ P Σ − sym(Σ m̄ mᵀ),     η̄ = Σ m̄,
    M̄ = k̄ (M Σ + M d dᵀ),     μ̄_p = −k̄ g,     (log|Λ_p|)‾ = −½ k̄.

The first bracket holds the draw's path through the Cholesky factor (``dL = L Φ(L⁻¹ dΛ L⁻ᵀ)``) and
½ ∂log|Λ|; ``Φ(ε vᵀ) L⁻¹`` is a cumulative sum over rows (O(D²) per unit), so a unit costs four D × D
products in the backward pass instead of a dozen.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .gaussian import (
    JitterLog,
    _blocked_lower_inverse,
    gaussian_kl,
    pack_symmetric_gradient,
    robust_cholesky,
    sample_from_precision,
    unpack_symmetric,
)

__all__ = ["sample_with_kl"]

BLOCK_ELEMENTS = 2**21  # elements of one block's (S_b, B, J, D, D) tensors (16 MiB in float64)


def _lower_index(dim: int, device: torch.device) -> Tensor:
    """Positions of the lower triangle in a flattened ``D × D`` matrix."""
    rows, cols = torch.tril_indices(dim, dim, device=device)
    return rows * dim + cols


def _part(t: Tensor, rows: slice, ndim: int) -> Tensor:
    """Rows ``rows`` of ``t`` if it carries the leading (sample) dimension, else ``t`` (broadcast)."""
    return t[rows] if t.dim() == ndim and t.shape[0] > 1 else t


def _add_part(total: Tensor, rows: slice, value: Tensor, ndim: int) -> None:
    """``total[rows] += value`` for a per-sample ``total``, else ``total += value`` reduced to its shape."""
    target = _part(total, rows, ndim)
    target += value.sum_to_size(target.shape)


class _SampleWithKL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, packed, prior_precision, shift, eps, factor_p, mean_p, logdet_p, log, block):  # type: ignore[override]
        n, dim = packed.shape[0], shift.shape[-1]
        lower_index = _lower_index(dim, packed.device)
        inv_packed = packed.new_empty(*packed.shape[:-1], len(lower_index))  # L⁻¹, lower triangles only
        mean = torch.empty_like(shift)
        kl = packed.new_empty(packed.shape[:-1])
        w = eps.new_empty(torch.broadcast_shapes(eps.shape, shift.shape))
        for start in range(0, n, block):
            rows = slice(start, start + block)
            draws = slice(None) if n == 1 else rows
            precision = unpack_symmetric(packed[rows], dim) + prior_precision
            inv = _blocked_lower_inverse(robust_cholesky(precision, log))
            del precision
            inv_packed[rows] = inv.flatten(-2)[..., lower_index]
            mean[rows] = (inv.mT @ (inv @ shift[rows].unsqueeze(-1))).squeeze(-1)
            w[draws] = sample_from_precision(mean[rows], inv, eps[draws])
            kl[rows] = gaussian_kl(
                mean[rows], inv, _part(mean_p, rows, 4), _part(factor_p, rows, 5), _part(logdet_p, rows, 3)
            )
        ctx.block, ctx.prior_shape = block, prior_precision.shape
        ctx.save_for_backward(inv_packed, mean, eps, factor_p, mean_p, logdet_p)
        return w, kl

    @staticmethod
    def backward(ctx, grad_w, grad_kl):  # type: ignore[override]
        inv_packed, mean, eps, factor_p, mean_p, logdet_p = ctx.saved_tensors
        need = ctx.needs_input_grad
        n, dim = mean.shape[0], mean.shape[-1]
        lower_index = _lower_index(dim, mean.device)
        shared = n == 1 and eps.shape[0] > 1  # one posterior, several draws
        grad_w = torch.zeros_like(eps) if grad_w is None else grad_w
        grad_kl = mean.new_zeros(mean.shape[:-1]) if grad_kl is None else grad_kl
        grad_packed = mean.new_empty(*mean.shape[:-1], len(lower_index)) if need[0] else None
        grad_prior = mean.new_zeros(ctx.prior_shape) if need[1] else None
        grad_shift = torch.empty_like(mean)
        grad_factor = torch.zeros_like(factor_p) if need[4] else None
        grad_mean_p = torch.zeros_like(mean_p) if need[5] else None
        grad_logdet = torch.zeros_like(logdet_p) if need[6] else None
        for start in range(0, n, ctx.block):
            rows = slice(start, start + ctx.block)
            lower = mean.new_zeros(*mean[rows].shape, dim)
            lower.view(*lower.shape[:-2], dim * dim)[..., lower_index] = inv_packed[rows]
            m, k = mean[rows], grad_kl[rows]
            wbar, e = (grad_w, eps) if shared else (grad_w[rows], eps[rows])
            factor = _part(factor_p, rows, 5)
            diff = m - _part(mean_p, rows, 4)
            factor_diff = factor @ diff.unsqueeze(-1)  # M d (..., D, 1)
            g = (factor.mT @ factor_diff).squeeze(-1)  # P d
            mbar = (wbar.sum(0, keepdim=True) if shared else wbar) + k.unsqueeze(-1) * g
            sigma_mbar = (lower.mT @ (lower @ mbar.unsqueeze(-1))).squeeze(-1)
            grad_shift[rows] = sigma_mbar.sum_to_size(grad_shift[rows].shape)
            v = (lower @ wbar.unsqueeze(-1)).squeeze(-1)  # L⁻¹ w̄ per draw
            if shared:  # Σ_s Φ(ε_s v_sᵀ) L⁻¹
                outer = torch.einsum("sbji,sbjk->bjik", e, v).unsqueeze(0).tril()
                outer.diagonal(dim1=-2, dim2=-1).mul_(0.5)
                inner = outer @ lower
            else:  # row i of Φ(ε vᵀ) L⁻¹ is ε_i (Σ_{k<i} v_k L⁻¹[k] + ½ v_i L⁻¹[i])
                scaled = lower * v.unsqueeze(-1)
                inner = scaled.cumsum(-2).sub_(scaled, alpha=0.5).mul_(e.unsqueeze(-1))
                del scaled
            half_k = (0.5 * k)[..., None, None]
            inner.neg_().addcmul_(lower, half_k)  # ½ k̄ L⁻¹ − Φ(ε vᵀ) L⁻¹
            grad = lower.mT @ inner
            del inner
            factor_sigma = (factor @ lower.mT) @ lower  # M Σ
            grad.sub_((factor_sigma.mT @ factor_sigma).mul_(half_k))  # ½ k̄ Σ P Σ
            grad.sub_(sigma_mbar.unsqueeze(-1) * m.unsqueeze(-2))
            grad = (grad + grad.mT).mul_(0.5)
            if grad_packed is not None:
                grad_packed[rows] = pack_symmetric_gradient(grad).sum_to_size(grad_packed[rows].shape)
            if grad_prior is not None:
                grad_prior += grad.sum_to_size(grad_prior.shape)
            del grad
            if grad_factor is not None:
                value = k[..., None, None] * (factor_sigma + factor_diff @ diff.unsqueeze(-2))
                _add_part(grad_factor, rows, value, 5)
            if grad_mean_p is not None:
                _add_part(grad_mean_p, rows, -k.unsqueeze(-1) * g, 4)
            if grad_logdet is not None:
                _add_part(grad_logdet, rows, -0.5 * k, 3)
        return grad_packed, grad_prior, grad_shift, None, grad_factor, grad_mean_p, grad_logdet, None, None


def sample_with_kl(
    packed_precision: Tensor,
    prior_precision: Tensor,
    shift: Tensor,
    eps: Tensor,
    factor_p: Tensor,
    mean_p: Tensor,
    logdet_p: Tensor,
    log: JitterLog | None = None,
) -> tuple[Tensor, Tensor]:
    """Draw ``w = m + L⁻ᵀ ε`` from each unit's posterior and return it with ``KL(q ‖ p)``; differentiable.

    Args:
        packed_precision: data precisions, packed upper triangles ``(S', B, J, D (D + 1) / 2)``.
        prior_precision: ``Λ_0`` added to every data precision, ``(J, D, D)``.
        shift: total natural shift ``η`` (data + prior) ``(S', B, J, D)``.
        eps: standard normal ``(S, B, J, D)``; ``S' = S``, or ``S' = 1`` for a posterior shared by all
            draws.
        factor_p, mean_p, logdet_p: the KL's reference ``N(μ_p, (MᵀM)⁻¹)``, each with or without the
            leading ``(S', B)``: ``M`` ``(J, D, D)``, ``μ_p`` ``(J, D)``, ``log|MᵀM|`` ``(J,)``.
        log: counts factorisations that needed jitter.

    Returns:
        Weights ``(S, B, J, D)`` and the KL per unit ``(S', B, J)``.
    """
    per_sample = max(1, packed_precision[0].numel() // packed_precision.shape[-1] * shift.shape[-1] ** 2)
    block = max(1, BLOCK_ELEMENTS // per_sample)
    return _SampleWithKL.apply(
        packed_precision, prior_precision, shift, eps, factor_p, mean_p, logdet_p, log, block
    )
