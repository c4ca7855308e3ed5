"""Wall time and peak RSS of one BNNP meta-training step (PP-AVI forward + backward + Adam).

Configuration (issue 6): BNN [64, 64, 64], inference nets [64, 64, 64], S = 16, B = 5, float64, full
unit-wise prior, Dx = 3 (ERA5: lon, lat, t2m), Dy = 1. Synthetic tasks (random inputs, a smooth target);
timing does not depend on the values.

Single configuration (run in a fresh process by the sweep)::

    python benchmarks/train_step.py --nc 1000 --nt 256 --chunk 1024 --steps 3

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

from _common import RESULTS, machine, peak_rss_mb, run_child, write_json  # noqa: E402

HIDDEN = (64, 64, 64)
SAMPLES = 16
TASKS = 5
DIM_X = 3

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
    nc: int, nt: int, chunk: int | None, warmup: int, steps: int, threads: int | None = None, seed: int = 0
) -> dict:
    """Build the model and a fixed batch, run ``warmup + steps`` training steps, return timings and RSS."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)

    from climate_bnnp.models import BNNP
    from climate_bnnp.objectives import pp_avi
    from climate_bnnp.tasks import Batch

    torch.manual_seed(seed)
    model = BNNP(
        dim_x=DIM_X, dim_y=1, hidden_dims=HIDDEN, inf_hidden_dims=HIDDEN, activation="relu", prior_type="full"
    ).to(torch.float64)
    xc = torch.randn(TASKS, nc, DIM_X, dtype=torch.float64)
    xt = torch.randn(TASKS, nt, DIM_X, dtype=torch.float64)
    f = lambda x: torch.sin(x.sum(-1, keepdim=True))  # noqa: E731
    batch = Batch(xc, f(xc) + 0.1 * torch.randn(TASKS, nc, 1, dtype=torch.float64), xt, f(xt))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    rss_before = peak_rss_mb()
    times, cpu_times = [], []
    for step in range(warmup + steps):
        tick, cpu = time.perf_counter(), time.process_time()
        loss = -pp_avi(model, batch, num_samples=SAMPLES, chunk_size=chunk).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        elapsed, cpu = time.perf_counter() - tick, time.process_time() - cpu
        if step >= warmup:
            times.append(elapsed)
            cpu_times.append(cpu)
    return {
        "nc": nc,
        "nt": nt,
        "chunk": chunk,
        "warmup_steps": warmup,
        "step_seconds": times,
        "median_step_seconds": sorted(times)[len(times) // 2],
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
    parser.add_argument("--nc", type=int, default=271)
    parser.add_argument("--nt", type=int, default=634)
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
    out = one_config(args.nc, args.nt, args.chunk, args.warmup, args.steps, args.threads)
    out["machine"] = machine()
    print(json.dumps(out) if args.json_stdout else out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
