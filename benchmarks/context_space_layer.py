"""Issue 14 prototype: the layer step in context space (N × N algebra) instead of weight space (D × D).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/context_space_layer.py [--pairs 5] [--quick]

Per unit ``j`` (and sample ``s``, task ``b``) the BNNP layer has the prior ``w ~ N(m, P⁻¹)``, ``P = MᵀM``
(``M`` lower-triangular, ``UnitwisePrior.factor()``), context features ``H (N × D)``, pseudo-observations
``ŷ`` and pseudo-precisions ``λ ≥ 0``, and the posterior ``Λ = P + Hᵀ diag(λ) H``,
``μ = Λ⁻¹ (P m + Hᵀ diag(λ) ŷ)``. The current route (``accumulate_natural`` + ``sample_with_kl``) forms
``Λ`` and works on ``D × D`` matrices. With ``S = diag(√λ)``, ``Ũ = S H M⁻¹`` (``N × D``) and
``A = I_N + Ũ Ũᵀ`` (``N × N``, SPD, ``A ⪰ I`` so it never needs jitter):

    log|Λ| − log|P| = log|A|,   tr(P Λ⁻¹) = D − N + tr(A⁻¹),   μ − m = M⁻¹ Ũᵀ A⁻¹ S (ŷ − H m),
    KL(q ‖ p) = ½ [tr(A⁻¹) − N + ‖Ũᵀ z̃‖² + log|A|],   z̃ = A⁻¹ S (ŷ − H m),

and a draw by Matheron's rule: ``w₀ = m + M⁻¹ ζ``, ``w = w₀ + M⁻¹ Ũᵀ A⁻¹ (S (ŷ − H w₀) − ξ)`` with
``ζ ~ N(0, I_D)``, ``ξ ~ N(0, I_N)``, exactly ``N(μ, Λ⁻¹)``. ``Ũ`` for all units is one GEMM
``(S' B N, D) @ (D, J D)`` (the stacked ``M_j⁻¹``); then one batched ``N × D × N`` product, a Cholesky
of ``A`` and triangular solves per unit, against a Cholesky, a triangular inverse and five ``D³`` products
per unit now. The core's backward pass is written out (``_ContextCore``); the rest is autograd.

The script (1) checks exactness against the current route and a dense float64 oracle (values, the exact
linear map of the draw, gradients) and (2) times forward + backward of both routes, alternating in one
process, at the toy hidden layer (S = 32, B = 5, J = 48, D = 49) for N = 10, 20, 35, 49, 70 and at the
ERA5 hidden layer (S = 16, B = 5, J = 64, D = 65, N = 271; timed on ``--era5-samples`` of the 16 samples
and scaled per unit, since its N × N tensors are GBs). Times are process CPU time on one thread and are
also given in large-GEMM GFLOP (seconds × the rate of a plain 2048² GEMM in the same process).
Writes ``benchmarks/results/context_space_layer.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, large_gemm_gflops, machine, median, write_json  # noqa: E402

F64 = torch.float64
TOY = {"S": 32, "B": 5, "J": 48, "D": 49}
ERA5 = {"S": 16, "B": 5, "J": 64, "D": 65, "N": 271}
TOY_POINTS = (10, 20, 35, 49, 70)


def context_space_sample_with_kl(
    h: Tensor,
    yhat: Tensor,
    lam: Tensor,
    prior_mean: Tensor,
    prior_factor: Tensor,
    prior_logdet: Tensor | None,
    zeta: Tensor,
    xi: Tensor,
) -> tuple[Tensor, Tensor]:
    """Posterior draws and ``Σ_j KL(q_j ‖ p_j)`` of one amortised layer, in context space; differentiable.

    Args:
        h: context features with bias ``(S', B, N, D)``; ``S' = S``, or ``S' = 1`` when the features do
            not depend on the samples (first layer: one posterior shared by all S draws).
        yhat: pseudo-observations ``(S' or 1, B, N, J)`` (as ``BNNP._natural`` passes them on).
        lam: pseudo-precisions ``(S' or 1, B, N, J)``, ≥ 0 (0 at masked points; there the gradient with
            respect to ``λ`` is returned as 0, since ``∂√λ/∂λ`` is infinite; the model's mask zeroes it
            anyway).
        prior_mean: ``m`` ``(J, D)``; prior_factor: ``M`` ``(J, D, D)`` lower-triangular, ``P = MᵀM``.
        prior_logdet: ``log|P|`` ``(J,)``; not needed (``log|Λ| − log|P| = log|A|``), accepted for
            parity with ``sample_with_kl``.
        zeta: standard normal ``(S, B, J, D)`` (the prior draw); xi: standard normal ``(S, B, J, N)`` (the
            pseudo-observation noise). With both zero the draw is the posterior mean.

    Returns:
        Weights ``(S, B, J, D)`` and the KL summed over units ``(S', B)``.
    """
    del prior_logdet
    s_post, b, n, dim = h.shape
    s, j = zeta.shape[0], prior_mean.shape[0]
    draws, q = s // s_post, s_post * b
    eye_d = torch.eye(dim, dtype=h.dtype, device=h.device)
    minv = torch.linalg.solve_triangular(prior_factor, eye_d.expand(j, dim, dim), upper=False)  # M⁻¹
    # units are ordered (J, S', B): U_j = H M_j⁻¹ is then one contiguous block per unit j
    positive = lam > 0
    root = torch.where(positive, lam, torch.ones_like(lam)).sqrt() * positive  # √λ, gradient 0 at λ = 0
    root = root.permute(3, 0, 1, 2).expand(j, s_post, b, n).reshape(j, q, n)  # (J, S' B, N)
    # right-hand sides per unit: S (ŷ − H m) (the KL's and the mean's) and S (ŷ − H w₀) − ξ per draw
    w0 = prior_mean + torch.einsum("jde,sbje->sbjd", minv, zeta)  # m + M⁻¹ ζ  (S, B, J, D)
    w0_cols = w0.view(s_post, draws, b, j, dim).permute(0, 2, 4, 3, 1).reshape(s_post, b, dim, j * draws)
    hw0 = (h @ w0_cols).view(s_post, b, n, j, draws)
    hw = torch.cat([(h @ prior_mean.mT).unsqueeze(-1), hw0], -1)  # [H m | H w₀]  (S', B, N, J, 1 + d)
    resid = (yhat.unsqueeze(-1) - hw).permute(3, 0, 1, 2, 4).reshape(j, q, n, 1 + draws)
    noise = xi.view(s_post, draws, b, j, n).permute(3, 0, 2, 4, 1).reshape(j, q, n, draws)
    rhs = resid * root.unsqueeze(-1)
    rhs = torch.cat([rhs[..., :1], rhs[..., 1:] - noise], -1)  # S (ŷ − H ·) − [0 | ξ]  (J, S' B, N, 1 + d)
    trace_logdet, v = _ContextCore.apply(h.reshape(-1, dim), minv, root, rhs)
    kl = 0.5 * (trace_logdet - n + v[..., 0].square().sum(-1))  # (J, S' B)
    v = v[..., 1:].view(j, s_post, b, dim, draws)
    step = torch.einsum("jde,jpbek->pkbjd", minv, v).reshape(s, b, j, dim)  # M⁻¹ Ũᵀ A⁻¹ rhs
    return w0 + step, kl.sum(0).view(s_post, b)


class _ContextCore(torch.autograd.Function):
    """The N-space core of all units with a written-out backward pass.

    ``(H (R, D), M⁻¹ (J, D, D), s = √λ (J, Q, N), r (J, Q, N, k)) ↦ (tr(A⁻¹) + log|A| (J, Q),
    Uᵀ S A⁻¹ r (J, Q, D, k))`` with ``R = Q N`` rows of ``Q`` problems, ``U = H M_j⁻¹`` per unit
    ``(j, q)`` (one broadcast GEMM ``(R, D) @ (D, D)`` per j, no copies), ``A = I + S U Uᵀ S``.

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
        if bool(info.any()):
            raise torch.linalg.LinAlgError("I + S G S is not positive definite (non-finite input?)")
        ainv = torch.cholesky_inverse(chol)
        del a
        z = ainv @ rhs.reshape(j * q, n, -1)
        y = z * s.unsqueeze(-1)
        v = u.mT @ y  # (J Q, D, k)
        out = ainv.diagonal(dim1=-2, dim2=-1).sum(-1) + 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
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
        grad_a.baddbmm_(torch.cat([grad_r, z], -1), torch.cat([z, grad_r], -1).mT, alpha=-1.0)  # Ā_s = Ā + Āᵀ
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


# ---------------------------------------------------------------------------------------------- checks


def _problem(
    s: int,
    s_post: int,
    b: int,
    j: int,
    dim: int,
    n: int,
    seed: int,
    masked: bool = True,
    decades: float = 0.0,
):
    """A random layer problem with a learnable full prior (non-trivial M) and a masked point; ``decades``
    > 0 draws λ log-uniformly over 10^±decades (ill-conditioned posteriors) instead of from [0.05, 5]."""
    from climate_bnnp.layers.priors import UnitwisePrior

    gen = torch.Generator().manual_seed(seed)
    prior = UnitwisePrior(dim - 1, j).to(F64)
    prior.set_weight_mask(torch.ones(j, dim, dtype=torch.bool))
    with torch.no_grad():
        prior.mean.copy_(0.3 * torch.randn(j, dim, generator=gen, dtype=F64))
        prior.log_scale.copy_(0.3 * torch.randn(j, dim, generator=gen, dtype=F64))
        prior.offdiag.copy_(0.3 * torch.randn(j, dim, dim, generator=gen, dtype=F64))
    h = torch.randn(s_post, b, n, dim, generator=gen, dtype=F64)
    h[..., -1] = 1.0
    yhat = torch.randn(1, b, n, j, generator=gen, dtype=F64)
    lam = torch.rand(1, b, n, j, generator=gen, dtype=F64) * 5 + 0.05
    if decades:
        lam = 10.0 ** (decades * (2 * torch.rand(1, b, n, j, generator=gen, dtype=F64) - 1))
    if masked and n > 1:
        lam[:, 0, -1] = 0.0  # a masked (padded) point of task 0
    return prior, h, yhat, lam


def _current(prior, h, yhat, lam, eps):
    """What a BNNP layer does now: accumulate the natural parameters, then the fused D-space step."""
    from climate_bnnp.layers import accumulate_natural, sample_with_kl

    nat = accumulate_natural(h, lam, yhat)
    factor = prior.factor()
    precision, prior_shift = prior.natural(factor)
    w, kl = sample_with_kl(
        nat.precision, precision, nat.shift + prior_shift, eps, factor, prior.mean, prior.logdet_precision()
    )
    return w, kl.sum(-1)


def _context(prior, h, yhat, lam, zeta, xi):
    return context_space_sample_with_kl(
        h, yhat, lam, prior.mean, prior.factor(), prior.logdet_precision(), zeta, xi
    )


def _dense_oracle(prior, h, yhat, lam):
    """Posterior mean ``(S', B, J, D)``, covariance ``(S', B, J, D, D)``, KL ``(S', B)``: dense algebra."""
    p = prior.precision()  # (J, D, D)
    lam_u = lam.permute(0, 1, 3, 2).unsqueeze(-1)  # (1, B, J, N, 1)
    hh = h.unsqueeze(2)  # (S', B, 1, N, D)
    post = p + hh.mT @ (lam_u * hh)  # Λ (S', B, J, D, D)
    eta = (p @ prior.mean.unsqueeze(-1)).squeeze(-1) + (
        hh.mT @ (lam_u * yhat.permute(0, 1, 3, 2)[..., None])
    )[..., 0]
    cov = torch.linalg.inv(post)
    mean = (cov @ eta.unsqueeze(-1)).squeeze(-1)
    d = mean - prior.mean
    dim = h.shape[-1]
    kl = 0.5 * (
        (p * cov).sum((-2, -1))
        - dim
        + (d.unsqueeze(-2) @ p @ d.unsqueeze(-1))[..., 0, 0]
        + torch.linalg.slogdet(post)[1]
        - torch.linalg.slogdet(p)[1]
    )
    return mean, cov, kl.sum(-1)


def _rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def check_exactness(seed: int = 0) -> dict:
    """Values, the draw's exact linear map and gradients of the context route against the current route
    (``accumulate_natural`` + ``sample_with_kl``) and a dense oracle. Returns the worst relative errors."""
    out: dict = {}
    # (a) values at a moderate size (N < D and N > D), S' = S and S' = 1
    for name, (s, s_post, b, j, dim, n, decades) in {
        "N<D": (3, 3, 2, 4, 12, 7, 0.0),
        "N>D": (3, 3, 2, 4, 8, 15, 0.0),
        "shared_S'=1": (3, 1, 2, 4, 12, 7, 0.0),
        "toy_size_lambda_1e-4..1e4": (4, 4, 5, 48, 49, 35, 4.0),
    }.items():
        prior, h, yhat, lam = _problem(s, s_post, b, j, dim, n, seed, decades=decades)
        zero_d = torch.zeros(s, b, j, dim, dtype=F64)
        zero_n = torch.zeros(s, b, j, n, dtype=F64)
        with torch.no_grad():
            w_cur, kl_cur = _current(prior, h, yhat, lam, zero_d)
            w_ctx, kl_ctx = _context(prior, h, yhat, lam, zero_d, zero_n)
            mean, _, kl_dense = _dense_oracle(prior, h, yhat, lam)
        mean_s = mean.expand(s // s_post, *mean.shape).transpose(0, 1).reshape(s, b, j, dim)
        out[name] = {
            "kl_rel_vs_current": _rel(kl_ctx, kl_cur),
            "kl_rel_vs_dense": _rel(kl_ctx, kl_dense),
            "mean_rel_vs_current": _rel(w_ctx, w_cur),
            "mean_rel_vs_dense": _rel(w_ctx, mean_s),
        }
    # (b) the draw is an exact linear map of (ζ, ξ): w − μ = T [ζ; ξ] with T Tᵀ = Λ⁻¹
    s, b, j, dim = 2, 2, 3, 6
    worst = 0.0
    for n, s_post in ((4, 1), (9, 2)):  # N < D (one posterior for both draws) and N > D
        prior, h, yhat, lam = _problem(s, s_post, b, j, dim, n, seed + n)
        with torch.no_grad():
            cov = _dense_oracle(prior, h, yhat, lam)[1]  # (S', B, J, D, D); draw s = s' (S / S') + k
            cov = cov.unsqueeze(1).expand(s_post, s // s_post, *cov.shape[1:]).reshape(-1, dim, dim)
        noise = torch.zeros(s * b * j * (dim + n), dtype=F64)

        def draw(vec: Tensor, prior=prior, h=h, yhat=yhat, lam=lam, n=n) -> Tensor:
            zeta, xi = vec.split([s * b * j * dim, s * b * j * n])
            return _context(prior, h, yhat, lam, zeta.view(s, b, j, dim), xi.view(s, b, j, n))[0]

        jac = torch.autograd.functional.jacobian(draw, noise)  # (S, B, J, D, S B J (D + N))
        jz, jx = jac.split([s * b * j * dim, s * b * j * n], dim=-1)
        jz, jx = jz.reshape(s * b * j, dim, s * b * j, dim), jx.reshape(s * b * j, dim, s * b * j, n)
        units = torch.arange(s * b * j)
        t = torch.cat([jz[units, :, units], jx[units, :, units]], -1)  # per-unit T (units, D, D + N)
        blocks = jz.abs().sum() + jx.abs().sum() - t.abs().sum()  # cross-unit entries must be 0
        worst = max(worst, _rel(t @ t.mT, cov), float(blocks))
    out["draw_covariance_TTt_rel_vs_inverse_precision"] = worst
    # (c) gradients of Σ KL + Σ c·w (ζ = ξ = ε = 0: the mean path) w.r.t. H, λ, ŷ and the prior's parameters
    s, b, j, dim, n = 2, 2, 3, 10, 6
    prior, h, yhat, lam = _problem(s, s, b, j, dim, n, seed + 1)
    h.requires_grad_()
    yhat.requires_grad_()
    lam.requires_grad_()
    c = torch.randn(s, b, j, dim, dtype=F64, generator=torch.Generator().manual_seed(seed + 2))
    inputs = [h, yhat, lam, prior.mean, prior.log_scale, prior.offdiag]
    w, kl = _current(prior, h, yhat, lam, torch.zeros(s, b, j, dim, dtype=F64))
    g_cur = torch.autograd.grad(kl.sum() + (c * w).sum(), inputs)
    w, kl = _context(
        prior, h, yhat, lam, torch.zeros(s, b, j, dim, dtype=F64), torch.zeros(s, b, j, n, dtype=F64)
    )
    g_ctx = torch.autograd.grad(kl.sum() + (c * w).sum(), inputs)
    names = ["H", "yhat", "lam", "prior.mean", "prior.log_scale", "prior.offdiag"]
    live = lam.detach() > 0  # masked points: λ's gradient is 0 here (see the docstring)
    out["grad_rel_vs_current"] = {
        k: _rel(a[live] if k == "lam" else a, g[live] if k == "lam" else g)
        for k, a, g in zip(names, g_ctx, g_cur, strict=True)
    }
    return out


# ---------------------------------------------------------------------------------------------- timing


def _timing_setup(s: int, b: int, j: int, dim: int, n: int):
    prior, h, yhat, lam = _problem(s, s, b, j, dim, n, seed=n)
    h.requires_grad_()
    yhat.requires_grad_()
    lam.requires_grad_()
    gen = torch.Generator().manual_seed(1)
    eps = torch.randn(s, b, j, dim, generator=gen, dtype=F64)
    xi = torch.randn(s, b, j, n, generator=gen, dtype=F64)
    params = [h, yhat, lam, prior.mean, prior.log_scale, prior.offdiag]

    def current() -> None:
        w, kl = _current(prior, h, yhat, lam, eps)
        torch.autograd.grad(w.square().sum() + kl.sum(), params)

    def context() -> None:
        w, kl = _context(prior, h, yhat, lam, eps, xi)
        torch.autograd.grad(w.square().sum() + kl.sum(), params)

    return current, context


def time_pairs(s: int, b: int, j: int, dim: int, n: int, pairs: int) -> dict:
    """Median CPU seconds of forward + backward, current and context route alternating in ``pairs`` pairs."""
    current, context = _timing_setup(s, b, j, dim, n)
    current()
    context()  # warm-up
    cur, ctx = [], []
    for _ in range(pairs):
        for fn, times in ((current, cur), (context, ctx)):
            tick = time.process_time()
            fn()
            times.append(time.process_time() - tick)
    ratios = sorted(c / x for c, x in zip(cur, ctx, strict=True))
    return {
        "current_s": median(cur),
        "context_s": median(ctx),
        "speed_up_median_of_pairs": median(ratios),
        "speed_up_range": [ratios[0], ratios[-1]],
        "current_all_s": cur,
        "context_all_s": ctx,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--points", type=int, nargs="+", default=list(TOY_POINTS), help="toy-size N values")
    parser.add_argument(
        "--era5-samples", type=int, default=2, help="samples of the ERA5 layer timed (0: skip)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "context_space_layer.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    exact = check_exactness()
    print("exactness (max relative error):")
    for key, val in exact.items():
        print(f"  {key}: {val}")

    gemm_before = large_gemm_gflops()["cpu"]
    rows = []
    configs = [dict(TOY, N=n) for n in args.points]
    if args.era5_samples:
        configs.append(dict(ERA5, S=args.era5_samples))
    for cfg in configs:
        units = cfg["S"] * cfg["B"] * cfg["J"]
        res = time_pairs(cfg["S"], cfg["B"], cfg["J"], cfg["D"], cfg["N"], args.pairs)
        row = {**cfg, "units": units, **res}
        row["current_us_per_unit"] = res["current_s"] / units * 1e6
        row["context_us_per_unit"] = res["context_s"] / units * 1e6
        rows.append(row)
        print(
            f"S={cfg['S']} J={cfg['J']} D={cfg['D']} N={cfg['N']}: current {res['current_s']:.3f} s, "
            f"context {res['context_s']:.3f} s, speed-up {res['speed_up_median_of_pairs']:.2f}× "
            f"({res['speed_up_range'][0]:.2f}–{res['speed_up_range'][1]:.2f})",
            flush=True,
        )
    gemm = 0.5 * (gemm_before + large_gemm_gflops()["cpu"])
    for row in rows:
        for key in ("current", "context"):
            row[f"{key}_large_gemm_gflop"] = row[f"{key}_s"] * gemm
    print(f"\nlarge GEMM {gemm:.1f} GFLOP/s (1 thread, CPU time); forward + backward per layer step:")
    print("| D | N | units | current s (GFLOP) | context s (GFLOP) | speed-up (range) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        lo, hi = r["speed_up_range"]
        cur, ctx = (f"{r[k + '_s']:.3f} ({r[k + '_large_gemm_gflop']:.1f})" for k in ("current", "context"))
        print(
            f"| {r['D']} | {r['N']} | {r['units']} | {cur} | {ctx} | {r['speed_up_median_of_pairs']:.2f}× "
            f"({lo:.2f}–{hi:.2f}) |"
        )
    write_json(
        args.out,
        {
            "machine": machine(),
            "threads": 1,
            "clock": "process_cpu",
            "load_average": os.getloadavg(),
            "large_gemm_gflops": gemm,
            "exactness": exact,
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
