"""The per-unit algebra of one hidden layer: each route's cost, its fraction of the large-GEMM rate, float32.

    nice -n 10 python benchmarks/per_unit_algebra.py [--threads 2] [--repeats 5] [--points 10 35 49]

At the toy hidden layer (S = 32, B = 5, J = 48, D = 49, full learnable prior) and the ERA5 one (S = 16,
B = 5, J = 64, D = 65, N = 271: weight space only), forward + backward of ``(H, λ, ŷ, prior) ↦ (w, KL)``:

* ``weight``: :func:`~climate_bnnp.layers.accumulate_natural` + the fused weight-space step
  (:func:`~climate_bnnp.layers.sample_kl.sample_with_kl`), float64;
* ``context``: the context-space route (:func:`~climate_bnnp.layers.context_sample_with_kl`), float64;
* ``context_f32``: the same in float32 (the per-unit algebra; features, λ and ŷ rounded to float32), with
  its relative error on the KL, the draws and the gradients against float64;
* ``weight_f32``: the weight-space route in float32 (accumulation included), with the same errors.

FLOPs are counted from the algorithm (multiply-adds × 2, the dominant terms; see ``_flops``) and divided by
the time and by the rate of a plain 2048² float64 GEMM measured in the same process with the same threads:
the **fraction of large-GEMM throughput** each route reaches. Times are wall clock with ``--threads`` > 1,
process CPU time with one thread; every time is the median over alternating repeats. Writes
``benchmarks/results/per_unit_algebra.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, large_gemm_gflops, machine, median, write_json  # noqa: E402

from climate_bnnp.layers import accumulate_natural, context_sample_with_kl  # noqa: E402
from climate_bnnp.layers.priors import UnitwisePrior  # noqa: E402
from climate_bnnp.layers.sample_kl import sample_with_kl  # noqa: E402

TOY = {"S": 32, "B": 5, "J": 48, "D": 49}
ERA5 = {"S": 16, "B": 5, "J": 64, "D": 65, "N": 271}


def _flops(route: str, units: int, n: int, dim: int, samples_per_posterior: int = 1) -> float:
    """Algorithmic FLOPs of forward + backward (2 × multiply-adds of the D³/N³-type terms).

    weight: accumulation ``N T`` forward and ``2 N T`` backward per unit (T = D (D + 1) / 2), Cholesky
    ``D³/3``, blocked inverse ``D³/3``, one ``D³`` product forward and four backward.
    context: ``U = H M⁻¹`` and the two backward GEMMs with ``M⁻¹`` (``3 N D²``), ``G = U Uᵀ`` and
    ``Ū = Ā U`` (``2 N² D``), Cholesky and ``cholesky_inverse`` of ``A`` (``N³``), ``A⁻¹ − A⁻²`` (``N³``).
    """
    del samples_per_posterior
    if route.startswith("weight"):
        tri = dim * (dim + 1) / 2
        mac = 3 * n * tri + (2 / 3) * dim**3 + 5 * dim**3
    else:
        mac = 3 * n * dim**2 + 2 * n**2 * dim + 2 * n**3
    return 2.0 * mac * units


def _problem(s: int, b: int, j: int, dim: int, n: int, dtype: torch.dtype, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    prior = UnitwisePrior(dim - 1, j).to(torch.float64)
    prior.set_weight_mask(torch.ones(j, dim, dtype=torch.bool))
    with torch.no_grad():
        prior.mean.copy_(0.3 * torch.randn(j, dim, generator=gen, dtype=torch.float64))
        prior.log_scale.copy_(0.3 * torch.randn(j, dim, generator=gen, dtype=torch.float64))
        prior.offdiag.copy_(0.3 * torch.randn(j, dim, dim, generator=gen, dtype=torch.float64))
    prior = prior.to(dtype)
    h = torch.randn(s, b, n, dim, generator=gen, dtype=torch.float64)
    h[..., -1] = 1.0
    yhat = torch.randn(1, b, n, j, generator=gen, dtype=torch.float64)
    lam = 10.0 ** (2 * torch.rand(1, b, n, j, generator=gen, dtype=torch.float64) - 1)  # 0.1 .. 10
    eps = torch.randn(s, b, j, dim, generator=gen, dtype=torch.float64)
    xi = torch.randn(s, b, j, n, generator=gen, dtype=torch.float64)
    leaves = [t.to(dtype).requires_grad_() for t in (h, yhat, lam)]
    return prior, leaves, eps.to(dtype), xi.to(dtype)


def _step(route: str, prior, leaves, eps, xi):
    """Forward + backward of one layer; returns (w, KL, gradients)."""
    h, yhat, lam = leaves
    params = [h, yhat, lam, prior.mean, prior.log_scale, prior.offdiag]
    if route.startswith("context"):
        w, kl = context_sample_with_kl(h, yhat, lam, prior.mean, prior.scale_tril(), eps, xi)
    else:
        nat = accumulate_natural(h, lam, yhat)
        if h.dtype != torch.float64:  # accumulate_natural works in float64: this route's float32 variant
            nat_p, nat_s = nat.precision.to(h.dtype), nat.shift.to(h.dtype)
        else:
            nat_p, nat_s = nat.precision, nat.shift
        factor = prior.factor()
        precision, prior_shift = prior.natural(factor)
        w, kl = sample_with_kl(
            nat_p, precision, nat_s + prior_shift, eps, factor, prior.mean, prior.logdet_precision()
        )
    grads = torch.autograd.grad(w.square().sum() + kl.sum(), params)
    return w.detach(), kl.detach(), grads


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def measure(cfg: dict, routes: list[str], repeats: int, clock) -> dict:
    s, b, j, dim, n = cfg["S"], cfg["B"], cfg["J"], cfg["D"], cfg["N"]
    problems = {
        r: _problem(s, b, j, dim, n, torch.float32 if r.endswith("f32") else torch.float64) for r in routes
    }
    outputs = {r: _step(r, *problems[r]) for r in routes}  # warm-up, and the values compared below
    times: dict[str, list[float]] = {r: [] for r in routes}
    for _ in range(repeats):
        for r in routes:
            tick = clock()
            _step(r, *problems[r])
            times[r].append(clock() - tick)
    units = s * b * j
    row: dict = {**cfg, "units": units}
    for r in routes:
        row[r] = {
            "seconds": median(times[r]),
            "all_seconds": times[r],
            "gflop": _flops(r, units, n, dim) / 1e9,
        }
        base = r.removesuffix("_f32")
        if r.endswith("_f32") and base in outputs:
            w64, kl64, g64 = outputs[base]
            w32, kl32, g32 = outputs[r]
            row[r]["rel_err_vs_float64"] = {
                "kl": _rel(kl32, kl64),
                "w": _rel(w32, w64),
                "grad_max": max(_rel(a, c) for a, c in zip(g32, g64, strict=True)),
            }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--points", type=int, nargs="+", default=[35], help="toy-size N values")
    parser.add_argument("--era5", action="store_true", help="also the ERA5 hidden layer (weight space)")
    parser.add_argument("--out", type=Path, default=RESULTS / "per_unit_algebra.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock, clock_name = (time.process_time, "cpu") if args.threads == 1 else (time.perf_counter, "wall")
    gemm_before = large_gemm_gflops()[clock_name]
    rows = []
    for n in args.points:
        routes = ["weight", "context", "weight_f32", "context_f32"]
        rows.append(measure(dict(TOY, N=n), routes, args.repeats, clock))
    if args.era5:
        rows.append(measure(dict(ERA5), ["weight", "weight_f32"], max(1, args.repeats // 2), clock))
    gemm = 0.5 * (gemm_before + large_gemm_gflops()[clock_name])
    load = os.getloadavg()[0]
    print(f"large GEMM {gemm:.1f} GFLOP/s ({args.threads} threads, {clock_name} clock; load {load:.1f})")
    print("| D | N | route | s | algorithmic GFLOP | fraction of large GEMM | rel. error vs float64 |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        for r in ("weight", "context", "weight_f32", "context_f32"):
            if r not in row:
                continue
            cell = row[r]
            cell["large_gemm_gflop"] = cell["seconds"] * gemm
            cell["fraction_of_large_gemm"] = cell["gflop"] / cell["large_gemm_gflop"]
            err = cell.get("rel_err_vs_float64")
            err_s = "" if err is None else f"KL {err['kl']:.1e}, w {err['w']:.1e}, grad {err['grad_max']:.1e}"
            print(
                f"| {row['D']} | {row['N']} | {r} | {cell['seconds']:.3f} | {cell['gflop']:.2f} | "
                f"{cell['fraction_of_large_gemm']:.2f} | {err_s} |"
            )
    write_json(
        args.out,
        {
            "machine": machine(),
            "threads": args.threads,
            "clock": clock_name,
            "load_average": os.getloadavg(),
            "large_gemm_gflops": gemm,
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
