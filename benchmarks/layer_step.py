"""The fused layer step (``sample_with_kl``, forward + backward) and the batched primitives it is made of.

    python benchmarks/layer_step.py --threads 1 [--repeats 5] [--baseline /tmp/base]

Per configuration (the toy §5.3 hidden layer: S = 32, B = 5, J = 48, D = 49; the ERA5 hidden layer:
S = 16, B = 5, J = 64, D = 65) it times, as process CPU time with one thread (wall time otherwise):

* the layer step: ``sample_with_kl`` forward and backward with a learnable full prior (what a training
  step does for each hidden layer), and the forward alone;
* its primitives on the same number of units: one batched ``D × D × D`` product (``torch.bmm``), LAPACK's
  batched Cholesky (``torch.linalg.cholesky_ex``) and the blocked triangular inverse.

With ``--baseline DIR`` (a tree holding another ``climate_bnnp/layers/sample_kl.py``, e.g. from
``git archive <commit> climate_bnnp | tar -x -C DIR``) the baseline's layer step is timed as well, in the
same process, alternating with the current one. Everything is reported in µs per unit and in
large-GEMM GFLOP (seconds × the rate of a plain 2048² GEMM timed in the same process), so the layer step
can be read as "so many products' worth" of work on any machine.
Writes ``benchmarks/results/layer_step.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, large_gemm_gflops, machine, median, write_json  # noqa: E402

CONFIGS = {"toy": (32, 5, 48, 49, 35), "era5": (16, 5, 64, 65, 271)}  # S, B, J, D, context points


def measure(name: str, median_time, threads: int, baseline=None) -> dict:
    """Time the layer step and its primitives for one configuration of ``CONFIGS``."""
    import torch

    from climate_bnnp.layers import accumulate_natural, sample_with_kl
    from climate_bnnp.layers.gaussian import _blocked_lower_inverse
    from climate_bnnp.layers.priors import UnitwisePrior

    f64 = torch.float64
    s, b, j, dim, n = CONFIGS[name]
    units = s * b * j
    torch.manual_seed(0)
    h = torch.randn(s, b, n, dim, dtype=f64)
    nat = accumulate_natural(h, torch.rand(1, b, n, j, dtype=f64), torch.randn(1, b, n, j, dtype=f64))
    packed, shift = nat.precision.requires_grad_(), nat.shift.requires_grad_()
    prior = UnitwisePrior(dim - 1, j).to(f64)
    prior.set_weight_mask(torch.ones(j, dim, dtype=torch.bool))
    eps = torch.randn(s, b, j, dim, dtype=f64)
    params = [packed, shift, prior.mean, prior.log_scale, prior.offdiag]

    def step(grad: bool = True, fn=sample_with_kl) -> None:
        with torch.set_grad_enabled(grad):
            factor = prior.factor()
            precision, prior_shift = prior.natural(factor)
            w, kl = fn(
                packed, precision, shift + prior_shift, eps, factor, prior.mean, prior.logdet_precision()
            )
            if grad:
                torch.autograd.grad(w.square().sum() + kl.sum(), params)

    clock = "cpu" if threads == 1 else "wall"
    gemm_before = large_gemm_gflops()[clock]
    x, y = torch.randn(units, dim, dim, dtype=f64), torch.randn(units, dim, dim, dtype=f64)
    out = torch.empty_like(x)
    spd = x @ x.mT + dim * torch.eye(dim, dtype=f64)
    chol = torch.linalg.cholesky(spd)
    seconds = {
        "layer_step_forward_backward": median_time(step),
        "layer_step_forward": median_time(lambda: step(False)),
        "one_batched_product": median_time(lambda: torch.bmm(x, y, out=out)),
        "lapack_cholesky": median_time(lambda: torch.linalg.cholesky_ex(spd)),
        "blocked_inverse": median_time(lambda: _blocked_lower_inverse(chol)),
    }
    if baseline is not None:  # alternate current and baseline so that both see the same load
        pairs = [(median_time(step), median_time(lambda: step(fn=baseline.sample_with_kl))) for _ in range(3)]
        seconds["layer_step_forward_backward"] = median(c for c, _ in pairs)
        seconds["baseline_layer_step_forward_backward"] = median(b for _, b in pairs)
    gemm = 0.5 * (gemm_before + large_gemm_gflops()[clock])
    row = {
        "S": s,
        "B": b,
        "J": j,
        "D": dim,
        "units": units,
        "large_gemm_gflops": gemm,
        "seconds": seconds,
        "us_per_unit": {k: v / units * 1e6 for k, v in seconds.items()},
        "large_gemm_gflop": {k: v * gemm for k, v in seconds.items()},
        "product_gflops": 2 * units * dim**3 / seconds["one_batched_product"] / 1e9,
        "layer_step_in_products": seconds["layer_step_forward_backward"] / seconds["one_batched_product"],
    }
    if baseline is not None:
        row["speed_up_vs_baseline"] = (
            seconds["baseline_layer_step_forward_backward"] / seconds["layer_step_forward_backward"]
        )
    per = row["us_per_unit"]
    print(
        f"{name}: {units} units of D = {dim}, GEMM {gemm:.0f} GFLOP/s ({clock}); per unit: layer step "
        f"{per['layer_step_forward_backward']:.0f} µs (forward {per['layer_step_forward']:.0f}) = "
        f"{row['large_gemm_gflop']['layer_step_forward_backward']:.1f} large-GEMM GFLOP = "
        f"{row['layer_step_in_products']:.1f} batched products; one product "
        f"{per['one_batched_product']:.1f} µs ({row['product_gflops']:.0f} GFLOP/s), Cholesky "
        f"{per['lapack_cholesky']:.1f} µs, inverse {per['blocked_inverse']:.1f} µs"
        + (
            f"; baseline layer step {per['baseline_layer_step_forward_backward']:.0f} µs "
            f"({row['speed_up_vs_baseline']:.2f}× slower)"
            if baseline is not None
            else ""
        ),
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", nargs="+", default=sorted(CONFIGS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", type=Path, default=None, help="tree with another layers/sample_kl.py")
    parser.add_argument("--out", type=Path, default=RESULTS / "layer_step.json")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    clock_name = "process_cpu" if args.threads == 1 else "wall"

    def median_time(fn) -> float:
        fn()
        times = []
        for _ in range(args.repeats):
            tick = clock()
            fn()
            times.append(clock() - tick)
        return median(times)

    baseline = None
    if args.baseline is not None:
        path = args.baseline / "climate_bnnp" / "layers" / "sample_kl.py"
        spec = importlib.util.spec_from_file_location("climate_bnnp.layers._baseline_sample_kl", path)
        baseline = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = baseline
        spec.loader.exec_module(baseline)
    rows = {name: measure(name, median_time, args.threads, baseline) for name in args.configs}
    write_json(
        args.out,
        {
            "machine": machine(),
            "threads": args.threads,
            "clock": clock_name,
            "load_average": os.getloadavg(),
            "baseline": None if args.baseline is None else str(args.baseline),
            "configs": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
