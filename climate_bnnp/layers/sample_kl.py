"""One fused step per layer: closed-form posterior, a reparameterised weight draw and its KL.

For every unit the posterior is ``q = N(m, Λ⁻¹)`` with ``Λ = unpack(Λ_data) + Λ_0`` and ``m = Λ⁻¹ η``. With
``Λ = L Lᵀ`` and ``R = L⁻¹`` the draw is ``w = m + Rᵀ ε`` and the KL to ``p = N(μ_p, (MᵀM)⁻¹)`` is

    KL = ½ [‖R Mᵀ‖² + ‖M (m − μ_p)‖² − D + log|Λ| − log|MᵀM|].

The backward pass is written out. With Σ = RᵀR, P = MᵀM, d = m − μ_p, g = P d, k̄ and w̄ the incoming
gradients, m̄ = w̄ + k̄ g, v = R w̄, Φ = lower triangle with halved diagonal, K = R Mᵀ and Z = Rᵀ K = Σ Mᵀ:

    Λ̄ = sym(G),   G = Rᵀ X − (Σ m̄) mᵀ − ½ k̄ Z Zᵀ,   X = ½ k̄ R − Φ(ε vᵀ) R,
    η̄ = Σ m̄,   M̄ = k̄ (Zᵀ + M d dᵀ),   μ̄_p = −k̄ g,   (log|Λ_p|)‾ = −½ k̄.

Derivation: the draw's path through the Cholesky factor (``dL = L Φ(L⁻¹ dΛ L⁻ᵀ)``) gives
``−sym(Rᵀ Φ(ε vᵀ) R)``, ½ ∂log|Λ| gives ``½ k̄ Σ = Rᵀ (½ k̄ R)``, the trace gives ``−½ k̄ Σ P Σ =
−½ k̄ Z Zᵀ`` and the mean ``−sym(Σ m̄ mᵀ)``. ``X`` is lower-triangular and O(D²) per unit: row ``i`` of
``Φ(ε vᵀ) R`` is ``ε_i (Σ_{k≤i} v_k R[k] − ½ v_i R[i])``, a cumulative sum over rows, so
``X = c ⊙ R − ε ⊙ cumsum(v ⊙ R)`` with the row scales ``c_i = ½ k̄ + ½ ε_i v_i``.

Cost per unit: LAPACK's Cholesky (in place) and a blocked inverse of ``L``, one ``D × D`` product in the
forward pass (``R [Mᵀ | η]`` gives ``K`` for the trace and ``R η`` for the mean) and four in the backward
pass (``R [Mᵀ | m̄ | w̄]``, ``Rᵀ X``, ``Rᵀ [K | R m̄]`` and ``(½ k̄ Z) Zᵀ``); everything else is O(D²) per
unit, and the shared prior factor ``M`` is applied to vectors through its own ``(J, D, D)`` copy.

Layout and memory: units are processed in blocks of rows of the flattened ``(S' B)`` axis
(``BLOCK_ELEMENTS``), every block tensor lives in a buffer allocated once per call, and only the lower
triangle of ``R`` is kept for the backward pass. Packed triangles are moved with one contiguous slice
copy per matrix row (no gathers): the packed upper triangle of the data precision, read row by row, is
the lower triangle column by column, so it is written into the rows of a buffer whose transpose is the
column-major matrix that LAPACK factorises in place.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .gaussian import JitterLog, _blocked_lower_inverse, robust_cholesky

__all__ = ["sample_with_kl"]

BLOCK_ELEMENTS = 2**20  # elements of one block's (rows, J, D, D) tensors (8 MiB in float64)


def _row_starts(dim: int, upper: bool) -> list[int]:
    """Offsets of each row in a packed triangle: upper (row ``i`` holds ``D − i`` entries, ``triu_indices``
    order) or lower (row ``i`` holds ``i + 1`` entries, ``tril_indices`` order)."""
    starts, offset = [], 0
    for i in range(dim):
        starts.append(offset)
        offset += dim - i if upper else i + 1
    return starts


def _unpack_upper_rows(packed: Tensor, out: Tensor) -> None:
    """Packed upper triangles ``(..., T)`` into the upper triangles of ``out (..., D, D)``, row by row (the
    strict lower triangle of ``out`` is left as it is). For a symmetric matrix, ``out.mT``'s lower
    triangle is then the matrix's lower triangle, column by column."""
    dim = out.shape[-1]
    for i, start in enumerate(_row_starts(dim, upper=True)):
        out[..., i, i:].copy_(packed[..., start : start + dim - i])


def _pack_lower_rows(matrix: Tensor, out: Tensor) -> None:
    """Lower triangles of ``matrix (..., D, D)``, row by row, into ``out (..., D (D + 1) / 2)``."""
    dim = matrix.shape[-1]
    for i, start in enumerate(_row_starts(dim, upper=False)):
        out[..., start : start + i + 1].copy_(matrix[..., i, : i + 1])


def _unpack_lower_rows(packed: Tensor, out: Tensor) -> None:
    """Inverse of :func:`_pack_lower_rows` (the upper triangle of ``out`` is left as it is)."""
    dim = out.shape[-1]
    for i, start in enumerate(_row_starts(dim, upper=False)):
        out[..., i, : i + 1].copy_(packed[..., start : start + i + 1])


def _pack_symmetric_gradient(grad: Tensor, out: Tensor) -> None:
    """Gradient w.r.t. the packed upper triangle of ``sym(grad)``: entry ``(i, k ≥ i)`` gets
    ``G_ik + G_ki``, the diagonal ``G_ii`` (halve ``grad``'s diagonal first)."""
    dim = grad.shape[-1]
    for i, start in enumerate(_row_starts(dim, upper=True)):
        torch.add(grad[..., i, i:], grad[..., i:, i], out=out[..., start : start + dim - i])


def _posterior_factor(
    packed: Tensor, prior_t: Tensor, buffer_t: Tensor, out: Tensor, log: JitterLog | None
) -> Tensor:
    """``R = L⁻¹`` (lower, into ``out``, whose upper triangle must be zero) of the posterior precisions
    ``Λ = unpack(packed) + Λ₀``.

    ``buffer_t`` ``(..., D, D)`` is a buffer whose transpose is column-major: the precision's lower
    triangle is written into it (row ``i`` of the buffer is column ``i`` of ``Λ``), Λ₀ added
    (``prior_t = tril(Λ₀)ᵀ``), and LAPACK factorises it in place. A failed or non-finite factorisation
    falls back to :func:`robust_cholesky` (counted jitter, or an error for NaN/inf input).
    """
    _unpack_upper_rows(packed, buffer_t)
    buffer_t += prior_t
    chol = buffer_t.mT
    info = torch.linalg.cholesky_ex(chol, out=(chol, packed.new_empty(chol.shape[:-2], dtype=torch.int32)))[1]
    diag = chol.diagonal(dim1=-2, dim2=-1)
    if bool(info.any()) or not bool(((diag > 0) & (diag < torch.inf)).all()):
        buffer_t.zero_()
        _unpack_upper_rows(packed, buffer_t)
        buffer_t += prior_t
        lower = buffer_t.mT
        chol = robust_cholesky(lower + lower.tril(-1).mT, log)
    return _blocked_lower_inverse(chol, out=out)


def _draw_columns(t: Tensor, lead: tuple[int, int]) -> Tensor:
    """Draws ``(S, B, J, D)`` of posteriors with leading ``lead = (S', B')`` (``S' ∈ {1, S}``,
    ``B' ∈ {1, B}``) as columns per posterior: ``(S' B', J, D, (S / S') (B / B'))``."""
    s, b, j, dim = t.shape
    s_post, b_post = lead
    grouped = t.view(s_post, s // s_post, b_post, b // b_post, j, dim)
    return grouped.permute(0, 2, 4, 5, 1, 3).reshape(s_post * b_post, j, dim, -1)


def _from_draw_columns(t: Tensor, shape: torch.Size, lead: tuple[int, int]) -> Tensor:
    """Inverse of :func:`_draw_columns`."""
    s, b, j, dim = shape
    s_post, b_post = lead
    grouped = t.view(s_post, b_post, j, dim, s // s_post, b // b_post)
    return grouped.permute(0, 4, 1, 5, 2, 3).reshape(shape)


def _rows(t: Tensor, ndim: int, lead: tuple[int, int]) -> Tensor | None:
    """A reference tensor with the leading ``(S', B)`` flattened to one row axis, or None if it has none."""
    if t.dim() != ndim:
        return None
    return t.expand(*lead, *t.shape[2:]).reshape(lead[0] * lead[1], *t.shape[2:])


def _times_factor(factor: Tensor, vec: Tensor, shared: bool) -> Tensor:
    """``M v`` for ``vec (q, J, D)`` and ``M`` ``(J, D, D)`` (shared) or ``(q, J, D, D)``."""
    if shared:
        return torch.einsum("jde,qje->qjd", factor, vec)
    return (factor @ vec.unsqueeze(-1)).squeeze(-1)


class _SampleWithKL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, packed, prior_precision, shift, eps, factor_p, mean_p, logdet_p, log, block):  # type: ignore[override]
        s_post, b = packed.shape[:2]
        j, dim = shift.shape[-2:]
        lead, n_rows = (s_post, b), s_post * b
        eps_r = _draw_columns(eps, lead)  # ε as columns (rows, J, D, draws)
        draws = eps_r.shape[-1]
        packed_r = packed.reshape(n_rows, j, -1)
        shift_r = shift.reshape(n_rows, j, dim)
        factor_r, mean_r, logdet_r = (
            _rows(factor_p, 5, lead),
            _rows(mean_p, 4, lead),
            _rows(logdet_p, 3, lead),
        )
        shared_factor = factor_r is None
        inv_packed = packed.new_empty(n_rows, j, dim * (dim + 1) // 2)  # R, lower triangles only
        mean = shift.new_empty(n_rows, j, dim)
        kl = packed.new_empty(n_rows, j)
        w = eps.new_empty(n_rows, j, dim, draws)
        block = max(1, min(n_rows, block))
        shape = (block, j, dim, dim)
        # Λ₀'s lower triangle, transposed, for the column-major precision buffer (its upper stays zero)
        prior_t = prior_precision.tril().mT.expand(shape)
        precision_t, inv_full = packed.new_zeros(shape), packed.new_zeros(shape)
        rhs = packed.new_empty(block, j, dim, dim + 1)  # [Mᵀ | η]: one product gives K = R Mᵀ and z = R η
        out = torch.empty_like(rhs)
        if shared_factor:
            rhs[..., :dim] = factor_p.mT
        for start in range(0, n_rows, block):
            rows = slice(start, min(start + block, n_rows))
            q = rows.stop - rows.start
            inv = _posterior_factor(packed_r[rows], prior_t[:q], precision_t[:q], inv_full[:q], log)  # R
            _pack_lower_rows(inv, inv_packed[rows])
            if not shared_factor:
                rhs[:q, ..., :dim] = factor_r[rows].mT
            rhs[:q, ..., dim] = shift_r[rows]
            kz = torch.matmul(inv, rhs[:q], out=out[:q])  # [K | z]
            z = kz[..., dim:]  # R η (q, J, D, 1)
            mw = inv.mT @ torch.cat([z, z + eps_r[rows]], dim=-1)  # Rᵀ [z, z + ε]: the mean and the draws
            mean[rows] = mw[..., 0]
            w[rows] = mw[..., 1:]
            trace = torch.linalg.vector_norm(kz[..., :dim], dim=(-2, -1)).square()  # ‖R Mᵀ‖²
            diff = mean[rows] - (mean_p if mean_r is None else mean_r[rows])
            factor = factor_p if shared_factor else factor_r[rows]
            maha = _times_factor(factor, diff, shared_factor).square().sum(-1)  # ‖M d‖²
            logdet_q = -2.0 * inv.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            ref_logdet = logdet_p if logdet_r is None else logdet_r[rows]
            kl[rows] = 0.5 * (trace + maha - dim + logdet_q - ref_logdet)
        del precision_t, inv_full, rhs, out
        ctx.block, ctx.prior_shape, ctx.lead = block, prior_precision.shape, lead
        ctx.save_for_backward(inv_packed, mean, eps, factor_p, mean_p, logdet_p)
        return _from_draw_columns(w, eps.shape, lead), kl.view(*lead, j)

    @staticmethod
    def backward(ctx, grad_w, grad_kl):  # type: ignore[override]
        inv_packed, mean, eps, factor_p, mean_p, logdet_p = ctx.saved_tensors
        need = ctx.needs_input_grad
        lead, block = ctx.lead, ctx.block
        n_rows, j, dim = mean.shape
        grad_w = torch.zeros_like(eps) if grad_w is None else grad_w
        grad_kl = mean.new_zeros(n_rows, j) if grad_kl is None else grad_kl.reshape(n_rows, j)
        gw_r, eps_r = _draw_columns(grad_w, lead), _draw_columns(eps, lead)  # w̄, ε as columns
        draws = eps_r.shape[-1]
        factor_r, mean_r = _rows(factor_p, 5, lead), _rows(mean_p, 4, lead)
        shared_factor = factor_r is None
        grad_packed = mean.new_empty(n_rows, j, dim * (dim + 1) // 2) if need[0] else None
        grad_shift = torch.empty_like(mean)
        grad_prior = mean.new_zeros(j, dim, dim) if need[1] and not need[0] else None
        grad_factor = None
        if need[4]:
            grad_factor = (
                mean.new_zeros(j, dim, dim) if shared_factor else mean.new_empty(n_rows, j, dim, dim)
            )
        grad_mean_p = torch.empty_like(mean) if need[5] else None
        shape = (block, j, dim, dim)
        inv_full = mean.new_zeros(shape)  # the upper triangle stays zero
        # R [Mᵀ | m̄ | w̄] = [K | u | v], Rᵀ [K | u] = [Z | Σ m̄], Rᵀ X, then G −= (½ k̄ Z) Zᵀ
        rhs1 = mean.new_empty(block, j, dim, dim + 1 + draws)
        out1 = torch.empty_like(rhs1)
        out2 = mean.new_empty(block, j, dim, dim + 1)
        buf, grad_buf, z_half_k_buf = (mean.new_empty(shape) for _ in range(3))
        if shared_factor:
            rhs1[..., :dim] = factor_p.mT
        for start in range(0, n_rows, block):
            rows = slice(start, min(start + block, n_rows))
            q = rows.stop - rows.start
            inv = inv_full[:q]
            _unpack_lower_rows(inv_packed[rows], inv)
            m, k = mean[rows], grad_kl[rows]
            half_k = (0.5 * k)[..., None, None]
            factor = factor_p if shared_factor else factor_r[rows]
            diff = m - (mean_p if mean_r is None else mean_r[rows])
            factor_diff = _times_factor(factor, diff, shared_factor)  # M d (q, J, D)
            g = _times_factor(factor.mT, factor_diff, shared_factor)  # P d
            if not shared_factor:
                rhs1[:q, ..., :dim] = factor.mT
            wbar = gw_r[rows]  # (q, J, D, draws)
            torch.sum(wbar, -1, out=rhs1[:q, ..., dim]).addcmul_(k.unsqueeze(-1), g)  # m̄
            rhs1[:q, ..., dim + 1 :] = wbar
            kuv = torch.matmul(inv, rhs1[:q], out=out1[:q])  # [K | u | v]
            v = kuv[..., dim + 1 :]
            x = buf[:q]  # X = ½ k̄ R − Φ(ε vᵀ) R  (lower-triangular)
            if draws > 1:  # Σ_s Φ(ε_s v_sᵀ) R with a dense product
                outer = (eps_r[rows] @ v.mT).tril_().neg_()  # −tril(Σ_s ε_s v_sᵀ) (q, J, D, D)
                outer.diagonal(dim1=-2, dim2=-1).mul_(0.5).add_(half_k.squeeze(-1))  # ½ k̄ I − Φ(·)
                torch.matmul(outer, inv, out=x)
                del outer
            else:  # c ⊙ R − ε ⊙ cumsum(v ⊙ R),  c_i = ½ k̄ + ½ ε_i v_i
                e = eps_r[rows]
                torch.mul(inv, v, out=x).cumsum_(dim=-2).mul_(-e)
                x.addcmul_(inv, torch.addcmul(half_k, e, v, value=0.5))
            grad = torch.matmul(inv.mT, x, out=grad_buf[:q])  # Rᵀ X
            zs = torch.matmul(inv.mT, kuv[..., : dim + 1], out=out2[:q])  # [Z | Σ m̄]
            z_mat, sigma_mbar = zs[..., :dim], zs[..., dim:]
            grad_shift[rows] = sigma_mbar.squeeze(-1)
            z_half_k = torch.mul(z_mat, half_k, out=z_half_k_buf[:q])  # ½ k̄ Z
            grad3 = grad.view(-1, dim, dim)
            grad3.baddbmm_(z_half_k.view(-1, dim, dim), z_mat.reshape(-1, dim, dim).mT, alpha=-1.0)
            grad3.baddbmm_(sigma_mbar.reshape(-1, dim, 1), m.reshape(-1, 1, dim), alpha=-1.0)
            if grad_prior is not None:  # G = Rᵀ X − ½ k̄ Z Zᵀ − Σ m̄ mᵀ;  Λ̄ = sym(G)
                grad_prior += grad.sum(0)
            if grad_packed is not None:
                grad.diagonal(dim1=-2, dim2=-1).mul_(0.5)
                _pack_symmetric_gradient(grad, grad_packed[rows])
            if grad_factor is not None:  # k̄ (M Σ + M d dᵀ) = 2 (½ k̄ Z)ᵀ + k̄ (M d) dᵀ
                kd = k.unsqueeze(-1) * factor_diff  # k̄ M d (q, J, D)
                if shared_factor:
                    grad_factor += z_half_k.sum(0).mT.mul_(2.0)
                    grad_factor += torch.einsum("qjd,qje->jde", kd, diff)
                else:
                    torch.add(z_half_k.mT, z_half_k.mT, out=grad_factor[rows])
                    grad_factor[rows] += kd.unsqueeze(-1) * diff.unsqueeze(-2)
            if grad_mean_p is not None:
                grad_mean_p[rows] = -k.unsqueeze(-1) * g
        s_post, b = lead
        if need[1] and grad_packed is not None:  # Σ over units of Λ̄, from the packed gradients
            upper = mean.new_zeros(j, dim, dim)
            _unpack_upper_rows(grad_packed.sum(0), upper)  # (i ≤ k): Σ (G_ik + G_ki), diagonal Σ G_ii
            grad_prior = 0.5 * (upper + upper.mT)
        elif grad_prior is not None:
            grad_prior = 0.5 * (grad_prior + grad_prior.mT)
        if grad_prior is not None:
            grad_prior = grad_prior.sum_to_size(ctx.prior_shape)
        if grad_factor is not None and not shared_factor:
            grad_factor = grad_factor.view(s_post, b, j, dim, dim).sum_to_size(factor_p.shape)
        if grad_mean_p is not None:
            grad_mean_p = grad_mean_p.view(s_post, b, j, dim).sum_to_size(mean_p.shape)
        grad_logdet = (-0.5 * grad_kl).view(s_post, b, j).sum_to_size(logdet_p.shape) if need[6] else None
        if grad_packed is not None:
            grad_packed = grad_packed.view(s_post, b, j, -1)
        grad_shift = grad_shift.view(s_post, b, j, dim)
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
    j, dim = shift.shape[-2:]
    rows_per_block = max(1, BLOCK_ELEMENTS // (j * dim * dim))
    return _SampleWithKL.apply(
        packed_precision, prior_precision, shift, eps, factor_p, mean_p, logdet_p, log, rows_per_block
    )
