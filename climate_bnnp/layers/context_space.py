"""The layer step in context space: ``N × N`` algebra per unit instead of ``D × D``, for small contexts.

Per unit ``j`` (and posterior ``(s', b)``) the prior is ``w ~ N(m, P⁻¹)`` with ``P = MᵀM`` and
``M⁻¹ = L_Σ`` (the prior covariance's Cholesky factor, lower-triangular); the context gives features
``H (N × D)``, pseudo-observations ``ŷ`` and pseudo-precisions ``λ ≥ 0``, and the posterior is
``Λ = P + Hᵀ diag(λ) H``, ``μ = Λ⁻¹ (P m + Hᵀ diag(λ) ŷ)``. With ``S = diag(√λ)``, ``U = H M⁻¹``
(``N × D``) and ``A = I_N + S U Uᵀ S`` (``N × N``, ``A ⪰ I``, so it never needs jitter), Woodbury and the
matrix determinant lemma give, exactly,

    log|Λ| − log|P| = log|A|,     tr(P Λ⁻¹) = D − N + tr(A⁻¹),
    KL(q ‖ p) = ½ [tr(A⁻¹) − N + ‖Uᵀ S z‖² + log|A|],     z = A⁻¹ S (ŷ − H m),

and a draw by Matheron's rule: ``w₀ = m + M⁻¹ ζ``, ``w = w₀ + M⁻¹ Uᵀ S A⁻¹ (S (ŷ − H w₀) − ξ)`` with
``ζ ~ N(0, I_D)`` and ``ξ ~ N(0, I_N)`` is exactly ``N(μ, Λ⁻¹)`` (``ζ = ξ = 0`` gives ``μ``).

Cost per unit: ``U`` for all units is one GEMM per unit index ``j`` (``(S' B N, D) @ M_j⁻¹``), then per
unit ``G = U Uᵀ`` (``N² D``), a Cholesky and ``cholesky_inverse`` of ``A`` (``N³``) and products with the
right-hand sides; the weight-space route costs ``D³`` per unit whatever ``N``. So this route wins for
``N`` below about ``0.9 D`` (measured: ``benchmarks/context_space_layer.py``) and the layer chooses it
there (see :func:`context_route_cheaper`). Padded points (``λ = 0``) leave every output unchanged and get
a zero gradient (``∂√λ/∂λ`` is infinite at 0; the gradient w.r.t. such a ``λ`` is defined as 0, and those
w.r.t. their features and pseudo-observations are exactly 0).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "CONTEXT_CROSSOVER",
    "CONTEXT_CROSSOVER_FLOAT32",
    "FLOAT32_BOUND",
    "context_route_cheaper",
    "context_sample_with_kl",
    "float32_suffices",
]

CONTEXT_CROSSOVER = 0.9  # the context route is used for N < CONTEXT_CROSSOVER · D (padded points count)
CONTEXT_CROSSOVER_FLOAT32 = 1.2  # ... and for N < 1.2 D when its algebra runs in float32 (measured ~1.25 D)
# float32 is used (when asked for) only while every entry of A = I + S U Uᵀ S is at most 1 + FLOAT32_BOUND:
# float32 rounding of A (~6e-8 ‖A‖) then stays far below A's smallest eigenvalue (≥ 1).
FLOAT32_BOUND = 1e4
_NON_FINITE = (
    "Posterior precision holds NaN or inf values; check the inputs for NaN and consider a lower "
    "learning rate."
)


def context_route_cheaper(points: int, dim: int, float32: bool = False) -> bool:
    """Whether the context-space route is the cheaper exact route for ``points`` context points (padding
    included) and ``dim = d_in + 1`` weights per unit, with its algebra in float64 or in ``float32``.

    Measured (``benchmarks/per_unit_algebra.py``, toy hidden layer D = 49, against the float64 weight-space
    route): float64 context algebra breaks even near N ≈ 0.9 D, float32 near N ≈ 1.25 D.
    """
    return 0 < points < (CONTEXT_CROSSOVER_FLOAT32 if float32 else CONTEXT_CROSSOVER) * dim


def float32_suffices(
    h: Tensor | tuple[Tensor, ...], lam: Tensor | tuple[Tensor, ...], prior_scale_tril: Tensor
) -> bool:
    """Whether the context route may run in float32 for these inputs: ``max λ · max ‖h_n‖² · max_j
    ‖M_j⁻¹‖²_F ≤ FLOAT32_BOUND``, an upper bound on the off-identity entries of every ``A``. ``h`` and
    ``lam`` may be given as their chunks.

    Measured (``benchmarks/per_unit_algebra.py``, toy hidden layer, N = 35): within the bound the float32
    route's KL, draws and gradients are within ~2e-6 relative of float64's, and the layer step is ~2×
    faster on this CPU.
    """
    hs, lams = (h,) if isinstance(h, Tensor) else h, (lam,) if isinstance(lam, Tensor) else lam
    with torch.no_grad():
        lam_max = torch.stack([part.max() for part in lams]).max()
        h_max = torch.stack([part.square().sum(-1).max() for part in hs]).max()
        bound = lam_max * h_max * prior_scale_tril.square().sum((-2, -1)).max()
        return bool(torch.isfinite(bound)) and float(bound) <= FLOAT32_BOUND


def context_sample_with_kl(
    h: Tensor,
    yhat: Tensor,
    lam: Tensor,
    prior_mean: Tensor,
    prior_scale_tril: Tensor,
    zeta: Tensor,
    xi: Tensor,
) -> tuple[Tensor, Tensor]:
    """Posterior draws and ``KL(q_j ‖ p_j)`` of one amortised layer, in context space; differentiable.

    Args:
        h: context features with bias ``(S', B, N, D)``; ``S' = S``, or ``S' = 1`` when the features do
            not depend on the samples (one posterior shared by all S draws).
        yhat: pseudo-observations ``(S' or 1, B, N, J)``.
        lam: pseudo-precisions ``(S' or 1, B, N, J)``, ≥ 0 (0 at padded points).
        prior_mean: ``m`` ``(J, D)``.
        prior_scale_tril: ``M⁻¹`` ``(J, D, D)``, the lower Cholesky factor of the prior covariance.
        zeta: standard normal ``(S, B, J, D)`` (the prior draw).
        xi: standard normal ``(S, B, J, N)`` (the pseudo-observation noise).

    Returns:
        Weights ``(S, B, J, D)`` and the KL per unit ``(S', B, J)``.

    Raises:
        FloatingPointError: if the inputs hold NaN or inf.
    """
    s_post, b, n, dim = h.shape
    s, j = zeta.shape[0], prior_mean.shape[0]
    draws, q = s // s_post, s_post * b
    minv = prior_scale_tril
    # units are ordered (J, S', B): U_j = H M_j⁻¹ is then one contiguous block per unit index j
    positive = lam > 0
    root = torch.where(positive, lam, torch.ones_like(lam)).sqrt() * positive  # √λ, gradient 0 at λ = 0
    root = root.permute(3, 0, 1, 2).expand(j, s_post, b, n).reshape(j, q, n)  # (J, S' B, N)
    # right-hand sides per unit: S (ŷ − H m) (the KL's and the mean's) and S (ŷ − H w₀) − ξ per draw
    w0 = prior_mean + torch.einsum("jde,sbje->sbjd", minv, zeta)  # m + M⁻¹ ζ  (S, B, J, D)
    w0_cols = w0.view(s_post, draws, b, j, dim).permute(0, 2, 4, 3, 1).reshape(s_post, b, dim, j * draws)
    hw0 = (h @ w0_cols).view(s_post, b, n, j, draws)  # H w₀  (S', B, N, J, draws)
    hw = torch.cat([(h @ prior_mean.mT).unsqueeze(-1), hw0], -1)  # [H m | H w₀]  (S', B, N, J, 1 + draws)
    resid = (yhat.unsqueeze(-1) - hw).permute(3, 0, 1, 2, 4).reshape(j, q, n, 1 + draws)
    noise = xi.view(s_post, draws, b, j, n).permute(3, 0, 2, 4, 1).reshape(j, q, n, draws)
    rhs = resid * root.unsqueeze(-1)
    rhs = torch.cat(
        [rhs[..., :1], rhs[..., 1:] - noise], -1
    )  # S (ŷ − H ·) − [0 | ξ]  (J, S' B, N, 1 + draws)
    trace_logdet, v = _ContextCore.apply(h.reshape(-1, dim), minv, root, rhs)
    kl = 0.5 * (trace_logdet - n + v[..., 0].square().sum(-1))  # (J, S' B)
    v = v[..., 1:].view(j, s_post, b, dim, draws)
    step = torch.einsum("jde,jpbek->pkbjd", minv, v).reshape(s, b, j, dim)  # M⁻¹ Uᵀ S A⁻¹ rhs
    return w0 + step, kl.permute(1, 0).reshape(s_post, b, j)


class _ContextCore(torch.autograd.Function):
    """The ``N``-space core of all units with a written-out backward pass.

    ``(H (R, D), M⁻¹ (J, D, D), s = √λ (J, Q, N), r (J, Q, N, k)) ↦ (tr(A⁻¹) + log|A| (J, Q),
    Uᵀ S A⁻¹ r (J, Q, D, k))`` with ``R = Q N`` rows of ``Q`` problems, ``U = H M_j⁻¹`` per unit
    ``(j, q)`` (one broadcast GEMM ``(R, D) @ (D, D)`` per j, no copies) and ``A = I + S U Uᵀ S``.

    Backward, with ``Z = A⁻¹ r``, ``Y = S Z``, ``V = Uᵀ Y``, ``G = U Uᵀ`` and incoming ``t̄``, ``V̄``:
    ``Ȳ = U V̄``, ``Z̄ = S Ȳ``, ``r̄ = A⁻¹ Z̄``, ``Ā = t̄ (A⁻¹ − A⁻²) − r̄ Zᵀ``, ``Ā_s = Ā + Āᵀ``,
    ``s̄ = rowsum(Z ⊙ Ȳ) + (Ā_s ⊙ G) s``, ``Ū = (Ā_s ⊙ s sᵀ) U + Y V̄ᵀ``, ``H̄ = Σ_j Ū_j M_j⁻ᵀ``,
    ``(M_j⁻¹)‾ = Hᵀ Ū_j``.
    """

    @staticmethod
    def forward(ctx, h, minv, root, rhs):  # type: ignore[override]
        j, q, n = root.shape
        dim = h.shape[-1]
        u = torch.bmm(h.expand(j, *h.shape), minv).view(j * q, n, dim)  # (J Q, N, D), contiguous per unit
        s = root.reshape(j * q, n)
        g = torch.bmm(u, u.mT)  # G = U Uᵀ
        a = (g * s.unsqueeze(-1)).mul_(s.unsqueeze(-2))
        a.diagonal(dim1=-2, dim2=-1).add_(1.0)  # A = I + S G S
        chol, info = torch.linalg.cholesky_ex(a)
        diag = chol.diagonal(dim1=-2, dim2=-1)
        if bool(info.any()) or not bool(torch.isfinite(diag).all()):
            raise FloatingPointError(_NON_FINITE)
        ainv = torch.cholesky_inverse(chol)
        del a
        z = ainv @ rhs.reshape(j * q, n, -1)
        y = z * s.unsqueeze(-1)
        v = u.mT @ y  # (J Q, D, k)
        out = ainv.diagonal(dim1=-2, dim2=-1).sum(-1) + 2.0 * diag.log().sum(-1)
        ctx.save_for_backward(h, minv, s, u, g, ainv, z, y)
        ctx.shape = (j, q, n)
        return out.view(j, q), v.view(j, q, dim, -1)

    @staticmethod
    def backward(ctx, grad_t, grad_v):  # type: ignore[override]
        h, minv, s, u, g, ainv, z, y = ctx.saved_tensors
        j, q, n = ctx.shape
        dim = h.shape[-1]
        grad_v = grad_v.reshape(j * q, dim, -1)
        grad_y = u @ grad_v  # (J Q, N, k)
        grad_s = (z * grad_y).sum(-1)
        grad_r = ainv @ (grad_y * s.unsqueeze(-1))  # r̄ = A⁻¹ Z̄
        grad_a = torch.baddbmm(ainv, ainv, ainv, alpha=-1.0).mul_(2.0 * grad_t.reshape(-1, 1, 1))
        grad_a.baddbmm_(torch.cat([grad_r, z], -1), torch.cat([z, grad_r], -1).mT, alpha=-1.0)  # Ā + Āᵀ
        grad_s += ((grad_a * g) @ s.unsqueeze(-1)).squeeze(-1)
        grad_g = grad_a.mul_(s.unsqueeze(-1)).mul_(s.unsqueeze(-2))
        grad_u = torch.bmm(grad_g, u).baddbmm_(y, grad_v.mT).view(j, -1, dim)  # (J, R, D)
        grad_h = grad_minv = None
        if ctx.needs_input_grad[0]:
            grad_h = grad_u[0] @ minv[0].mT
            for unit in range(1, j):
                grad_h.addmm_(grad_u[unit], minv[unit].mT)
        if ctx.needs_input_grad[1]:
            grad_minv = torch.bmm(h.mT.expand(j, dim, h.shape[0]), grad_u)  # (J, D, D)
        return grad_h, grad_minv, grad_s.view(j, q, n), grad_r.view(j, q, n, -1)
