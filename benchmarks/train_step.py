"""Wall time and peak RSS of one BNNP meta-training step (PP-AVI forward + backward + Adam).

Configuration (issue 6): BNN [64, 64, 64], inference nets [64, 64, 64], S = 16, B = 5, float64, full
unit-wise prior, Dx = 3 (ERA5: lon, lat, t2m), Dy = 1. Synthetic tasks (random inputs, a smooth target);
timing does not depend on the values.

Single configuration (run in a fresh process by the sweep)::

    python benchmarks/train_step.py --nc 1000 --nt 256 --chunk 1024 --steps 3

The §5.3 toy size (issue 14: BNN [48, 48], SiLU, inference nets [48, 48], S = 32, B = 5, Dx = 1, 70 points
per task split 35 / 35)::

    python benchmarks/train_step.py --preset toy --threads 2 --steps 7

Every run also times a plain 2048² float64 GEMM in the same process (before and after the steps) and
reports ``step_gemm_gflop = median step seconds × GEMM rate`` (and ``step_gemm_gflop_cpu`` from process CPU
times, the robust pair on a loaded machine with one thread): the step's cost in large-GEMM GFLOP, which
compares across machines and machine loads (the issue-14 targets, 0.20 s for the toy step and 1.5 s at
the ERA5 size on the quiet machine's 2 threads at ~115 GFLOP/s, are ~23 and ~170 large-GEMM GFLOP).

Sweep (each configuration in its own fresh process; writes ``benchmarks/results/train_step.json``)::

    python benchmarks/train_step.py --sweep

Each child reports the wall time of every step after ``--warmup`` untimed steps, and its own peak RSS
(``ru_maxrss``), plus the RSS right after building the model and data (imports + model baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    RESULTS,
    large_gemm_gflops,
    machine,
    median,
    peak_rss_mb,
    run_child,
    write_json,
)

HIDDEN = (64, 64, 64)
SAMPLES = 16
TASKS = 5
DIM_X = 3

# Model sizes: the ERA5 configuration above and the §5.3 toy size (issue 14).
PRESETS = {
    "era5": {
        "dim_x": DIM_X,
        "hidden": HIDDEN,
        "samples": SAMPLES,
        "activation": "relu",
        "nc": 271,
        "nt": 634,
    },
    "toy": {"dim_x": 1, "hidden": (48, 48), "samples": 32, "activation": "silu", "nc": 35, "nt": 35},
}

# (name, Nc, Nt, chunk, warmup, steps)
SWEEP = [
    ("era5_905pts_30pct_full", 271, 634, None, 1, 3),
    ("n1e3_full", 1000, 256, None, 1, 2),
    ("n1e3_chunk1024", 1000, 256, 1024, 1, 2),
    ("n3e3_full", 3000, 256, None, 1, 1),
    ("n3e3_chunk1024", 3000, 256, 1024, 1, 1),
    ("n1e4_full", 10000, 256, None, 0, 1),
    ("n1e4_chunk1024", 10000, 256, 1024, 0, 1),
    ("n1e5_chunk1024", 100000, 256, 1024, 0, 1),
]


def one_config(
    nc: int,
    nt: int,
    chunk: int | None,
    warmup: int,
    steps: int,
    threads: int | None = None,
    seed: int = 0,
    preset: str = "era5",
) -> dict:
    """Build the model and a fixed batch, run ``warmup + steps`` training steps, return timings and RSS."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)

    from climate_bnnp.models import BNNP
    from climate_bnnp.objectives import pp_avi
    from climate_bnnp.tasks import Batch

    size = PRESETS[preset]
    dim_x, samples = size["dim_x"], size["samples"]
    gemm_before = large_gemm_gflops()
    torch.manual_seed(seed)
    model = BNNP(
        dim_x=dim_x,
        dim_y=1,
        hidden_dims=size["hidden"],
        inf_hidden_dims=size["hidden"],
        activation=size["activation"],
        prior_type="full",
    ).to(torch.float64)
    xc = torch.randn(TASKS, nc, dim_x, dtype=torch.float64)
    xt = torch.randn(TASKS, nt, dim_x, dtype=torch.float64)
    f = lambda x: torch.sin(x.sum(-1, keepdim=True))  # noqa: E731
    batch = Batch(xc, f(xc) + 0.1 * torch.randn(TASKS, nc, 1, dtype=torch.float64), xt, f(xt))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    rss_before = peak_rss_mb()
    times, cpu_times = [], []
    for step in range(warmup + steps):
        tick, cpu = time.perf_counter(), time.process_time()
        loss = -pp_avi(model, batch, num_samples=samples, chunk_size=chunk).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        elapsed, cpu = time.perf_counter() - tick, time.process_time() - cpu
        if step >= warmup:
            times.append(elapsed)
            cpu_times.append(cpu)
    gemm_after = large_gemm_gflops()
    # GFLOP/s of a plain 2048² GEMM in this process (mean of before and after), by wall and by CPU clock
    gemm = {clock: 0.5 * (gemm_before[clock] + gemm_after[clock]) for clock in ("wall", "cpu")}
    step_median, median_cpu = median(times), median(cpu_times)
    return {
        "preset": preset,
        "nc": nc,
        "nt": nt,
        "chunk": chunk,
        "samples": samples,
        "warmup_steps": warmup,
        "step_seconds": times,
        "median_step_seconds": step_median,
        "median_step_cpu_seconds": median_cpu,
        "large_gemm_gflops": [gemm_before, gemm_after],
        "step_gemm_gflop": step_median * gemm["wall"],
        "step_gemm_gflop_cpu": median_cpu * gemm["cpu"],
        "load_average": os.getloadavg(),
        "step_process_cpu_seconds": cpu_times,
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_setup_mb": rss_before,
        "loss": float(loss.detach()),
        "jitter": model.jitter_report(),
    }


def sweep(threads: int | None, only: list[str] | None = None, on_result=None) -> dict:
    """Run the configurations in fresh processes; ``on_result(results)`` after each (partial saves)."""
    results = {}
    for name, nc, nt, chunk, warmup, steps in SWEEP:
        if only and name not in only:
            continue
        args = ["--nc", str(nc), "--nt", str(nt), "--warmup", str(warmup), "--steps", str(steps)]
        if threads is not None:
            args += ["--threads", str(threads)]
        if chunk is not None:
            args += ["--chunk", str(chunk)]
        out = run_child(Path(__file__), args)
        results[name] = out
        if on_result is not None:
            on_result(results)
        if "error" in out:
            print(f"{name:32s} FAILED: {out['error']}", flush=True)
        else:
            print(
                f"{name:32s} Nc={nc:>6d} Nt={nt:>4d} chunk={chunk!s:>5s}  "
                f"step {out['median_step_seconds']:7.3f} s "
                f"(CPU {out['step_process_cpu_seconds'][-1]:7.2f} s)  "
                f"peak RSS {out['peak_rss_mb']:7.0f} MB (after setup {out['rss_after_setup_mb']:.0f} MB)",
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sweep", action="store_true", help="run every configuration in a fresh process")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="era5", help="model size (not --sweep)")
    parser.add_argument("--nc", type=int, default=None, help="context points (default: the preset's)")
    parser.add_argument("--nt", type=int, default=None, help="target points (default: the preset's)")
    parser.add_argument("--chunk", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--only", nargs="*", default=None, help="sweep: names of the configurations to run")
    parser.add_argument("--json-stdout", action="store_true", help="print the result as one JSON line")
    parser.add_argument("--out", type=Path, default=RESULTS / "train_step.json")
    args = parser.parse_args(argv)
    if args.sweep:

        def save(results: dict) -> None:
            write_json(args.out, {"machine": machine(), "config": config, "results": results})

        config = {
            "hidden": HIDDEN,
            "inf_hidden": HIDDEN,
            "S": SAMPLES,
            "B": TASKS,
            "dim_x": DIM_X,
            "dtype": "float64",
            "objective": "pp_avi",
            "prior": "full",
            "threads": args.threads,
        }
        config["load_average_at_start"] = os.getloadavg()
        sweep(args.threads, args.only, on_result=save)
        print(f"wrote {args.out}")
        return 0
    size = PRESETS[args.preset]
    nc = size["nc"] if args.nc is None else args.nc
    nt = size["nt"] if args.nt is None else args.nt
    out = one_config(nc, nt, args.chunk, args.warmup, args.steps, args.threads, preset=args.preset)
    out["machine"] = machine()
    if args.json_stdout:
        print(json.dumps(out))
    else:
        gemm = out["large_gemm_gflops"]
        rates = f"GEMM wall {gemm[0]['wall']:.0f}/{gemm[1]['wall']:.0f}"
        rates += f", CPU {gemm[0]['cpu']:.0f}/{gemm[1]['cpu']:.0f}"
        print(
            f"{args.preset}: median step {out['median_step_seconds']:.3f} s wall = "
            f"{out['step_gemm_gflop']:.1f} large-GEMM GFLOP; {out['median_step_cpu_seconds']:.3f} s CPU = "
            f"{out['step_gemm_gflop_cpu']:.1f} ({rates} GFLOP/s), peak RSS {out['peak_rss_mb']:.0f} MB, "
            f"load {out['load_average'][0]:.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
