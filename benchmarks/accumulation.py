"""Achieved FLOP/s of the natural-parameter accumulation vs a plain batched matmul and a large GEMM.

    python benchmarks/accumulation.py [--threads 1] [--repeats 5]

Shapes (issue 6): S = 16, B = 5, J = 64 units, D = 65 features (64 + bias), float64, n points per call.
``climate_bnnp.layers.accumulate_natural(h (S, B, n, D), λ (1, B, n, J), ŷ (1, B, n, J))`` computes
``Σ_n λ_nj h_n h_nᵀ`` (packed: ``λᵀ · vech(h hᵀ)``, T = D (D + 1) / 2 = 2145 columns) and
``Σ_n λ_nj ŷ_nj h_n``.

FLOPs counted (the packed algorithm's useful work): ``2 S B J n T + 2 S B J n D`` (GEMMs) + ``S B n T``
(outer products). Compared with

* the plain batched matmul of the same GEMM shapes ``(S B, J, n) @ (S B, n, T)`` on pre-built operands
  (what the accumulation would cost with zero overhead around its GEMM), and
* a large square GEMM (``--gemm-size``, default 4096), the machine's practical peak.

Times are the minimum over ``--repeats`` runs; ``--cpu-time`` measures process CPU time instead of wall
time (with ``--threads 1`` this is robust to other load on a shared machine). Writes
``benchmarks/results/accumulation.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, write_json  # noqa: E402

S, B, J, D = 16, 5, 64, 65


CLOCK = time.perf_counter  # --cpu-time switches to process CPU time (robust on a shared machine, 1 thread)


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up (first touch of the output buffers)
    best = float("inf")
    for _ in range(repeats):
        tick = CLOCK()
        fn()
        best = min(best, CLOCK() - tick)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, nargs="+", default=[271, 1024, 4096])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gemm-size", type=int, default=4096)
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with process CPU time (use with --threads 1 when the machine is busy)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "accumulation.json")
    args = parser.parse_args(argv)

    import torch

    from climate_bnnp.layers import accumulate_natural
    from climate_bnnp.layers.gaussian import unpack_symmetric

    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dt = torch.float64
    g = args.gemm_size
    a, b = torch.randn(g, g, dtype=dt), torch.randn(g, g, dtype=dt)
    gemm_s = best_time(lambda: a @ b, max(2, args.repeats // 2))
    gemm_rate = 2 * g**3 / gemm_s

    print(f"large GEMM {g}x{g} float64: {gemm_s * 1e3:.0f} ms, {gemm_rate / 1e9:.1f} GFLOP/s")
    tri = D * (D + 1) // 2
    rows = []
    for n in args.points:
        h = torch.randn(S, B, n, D, dtype=dt)
        lam = torch.rand(1, B, n, J, dtype=dt)
        yhat = torch.randn(1, B, n, J, dtype=dt)
        with torch.no_grad():
            acc_s = best_time(lambda: accumulate_natural(h, lam, yhat), args.repeats)  # noqa: B023
            check = accumulate_natural(h[:1, :1, :8], lam[:, :1, :8], yhat[:, :1, :8])
        # oracle for the first task/sample on 8 points: Σ_n λ_nj h_n h_nᵀ
        direct = torch.einsum("nj,nd,ne->jde", lam[0, 0, :8], h[0, 0, :8], h[0, 0, :8])  # (J, D, D)
        err = float((unpack_symmetric(check.precision, D)[0, 0] - direct).abs().max())
        left = lam.expand(S, B, n, J).reshape(S * B, n, J).mT.contiguous()  # (S B, J, n)
        right = torch.randn(S * B, n, tri, dtype=dt)  # (S B, n, T)
        bmm_s = best_time(lambda: torch.bmm(left, right), args.repeats)  # noqa: B023
        flops = 2 * S * B * J * n * tri + 2 * S * B * J * n * D + S * B * n * tri
        gemm_flops = 2 * S * B * J * n * tri
        row = {
            "points": n,
            "accumulate_seconds": acc_s,
            "accumulate_gflops": flops / acc_s / 1e9,
            "bmm_seconds": bmm_s,
            "bmm_gflops": gemm_flops / bmm_s / 1e9,
            "ratio_to_bmm": (flops / acc_s) / (gemm_flops / bmm_s),
            "ratio_to_large_gemm": (flops / acc_s) / gemm_rate,
            "bmm_ratio_to_large_gemm": (gemm_flops / bmm_s) / gemm_rate,
            "check_max_abs_error": err,
        }
        rows.append(row)
        print(
            f"n={n:5d}: accumulate {acc_s * 1e3:8.1f} ms {row['accumulate_gflops']:6.1f} GFLOP/s | plain bmm "
            f"{bmm_s * 1e3:8.1f} ms {row['bmm_gflops']:6.1f} GFLOP/s | acc/bmm {row['ratio_to_bmm']:.2f} "
            f"acc/GEMM {row['ratio_to_large_gemm']:.2f} (check err {err:.1e})",
            flush=True,
        )

    write_json(
        args.out,
        {
            "machine": machine(),
            "shapes": {"S": S, "B": B, "J": J, "D": D, "T": tri},
            "large_gemm": {"size": g, "seconds": gemm_s, "gflops": gemm_rate / 1e9},
            "threads": torch.get_num_threads(),
            "clock": "process_cpu" if args.cpu_time else "wall",
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
