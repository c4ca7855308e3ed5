"""The layer step in context space (N × N algebra) against weight space (D × D): exactness and the crossover.

    nice -n 10 python benchmarks/context_space_layer.py [--pairs 5] [--threads 1] [--points 10 20 35 49]

The context route is the product's (:mod:`climate_bnnp.layers.context_space`, used automatically by the
amortised layer below the crossover ``N < 0.9 D``); this script measures where that crossover lies.

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
per unit in weight space. The core's backward pass is written out; the rest is autograd.

The script (1) checks exactness against the current route and a dense float64 oracle (values, the exact
linear map of the draw, gradients) and (2) times forward + backward of both routes, alternating in one
process, at the toy hidden layer (S = 32, B = 5, J = 48, D = 49) for N = 10, 20, 35, 49, 70 and at the
ERA5 hidden layer (S = 16, B = 5, J = 64, D = 65, N = 271; timed on ``--era5-samples`` of the 16 samples
and scaled per unit, since its N × N tensors are GBs). Times are process CPU time on one thread (wall
time with ``--threads`` > 1) and are also given in large-GEMM GFLOP (seconds × the rate of a plain 2048²
GEMM in the same process, same threads, same clock).
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

from climate_bnnp.layers.context_space import context_sample_with_kl  # noqa: E402

F64 = torch.float64
TOY = {"S": 32, "B": 5, "J": 48, "D": 49}
ERA5 = {"S": 16, "B": 5, "J": 64, "D": 65, "N": 271}
TOY_POINTS = (10, 20, 35, 49, 70)


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
    """The product's context-space route; the KL summed over units ``(S', B)``."""
    w, kl = context_sample_with_kl(h, yhat, lam, prior.mean, prior.scale_tril(), zeta, xi)
    return w, kl.sum(-1)


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


def time_pairs(s: int, b: int, j: int, dim: int, n: int, pairs: int, clock=time.process_time) -> dict:
    """Median seconds (``clock``) of forward + backward, current and context route alternating in ``pairs``
    pairs."""
    current, context = _timing_setup(s, b, j, dim, n)
    current()
    context()  # warm-up
    cur, ctx = [], []
    for _ in range(pairs):
        for fn, times in ((current, cur), (context, ctx)):
            tick = clock()
            fn()
            times.append(clock() - tick)
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
    parser.add_argument("--threads", type=int, default=1, help="torch threads (> 1: wall-clock times)")
    parser.add_argument("--skip-checks", action="store_true", help="time only (the tests run the checks)")
    parser.add_argument("--out", type=Path, default=RESULTS / "context_space_layer.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock, clock_name = (time.process_time, "cpu") if args.threads == 1 else (time.perf_counter, "wall")

    exact = {} if args.skip_checks else check_exactness()
    print("exactness (max relative error):")
    for key, val in exact.items():
        print(f"  {key}: {val}")

    gemm_before = large_gemm_gflops()[clock_name]
    rows = []
    configs = [dict(TOY, N=n) for n in args.points]
    if args.era5_samples:
        configs.append(dict(ERA5, S=args.era5_samples))
    for cfg in configs:
        units = cfg["S"] * cfg["B"] * cfg["J"]
        res = time_pairs(cfg["S"], cfg["B"], cfg["J"], cfg["D"], cfg["N"], args.pairs, clock)
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
    gemm = 0.5 * (gemm_before + large_gemm_gflops()[clock_name])
    for row in rows:
        for key in ("current", "context"):
            row[f"{key}_large_gemm_gflop"] = row[f"{key}_s"] * gemm
    print(f"\nlarge GEMM {gemm:.1f} GFLOP/s ({args.threads} threads, {clock_name} clock); layer step f + b:")
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
            "threads": args.threads,
            "clock": "process_cpu" if clock_name == "cpu" else "wall",
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
