"""Where one training step's time and memory go (torch.profiler), at the paper's ERA5 size by default.

    python benchmarks/profile_step.py [--nc 271 --nt 634 --chunk N]
    python benchmarks/profile_step.py --preset toy --threads 1   # the §5.3 toy size (issue 14)

Prints the top operators by self CPU time and by self CPU memory, and writes
``benchmarks/results/profile_step.json`` (top operators, machine); ``--trace`` adds a Chrome trace.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, peak_rss_mb, write_json  # noqa: E402
from train_step import PRESETS, TASKS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="era5", help="model size")
    parser.add_argument("--nc", type=int, default=None, help="context points (default: the preset's)")
    parser.add_argument("--nt", type=int, default=None, help="target points (default: the preset's)")
    parser.add_argument("--chunk", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--trace", action="store_true", help="also write a Chrome trace next to the JSON")
    parser.add_argument("--out", type=Path, default=RESULTS / "profile_step.json")
    args = parser.parse_args(argv)

    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from climate_bnnp.models import BNNP
    from climate_bnnp.objectives import pp_avi
    from climate_bnnp.tasks import Batch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    size = PRESETS[args.preset]
    nc = size["nc"] if args.nc is None else args.nc
    nt = size["nt"] if args.nt is None else args.nt
    dim_x, samples = size["dim_x"], size["samples"]
    torch.manual_seed(0)
    model = BNNP(
        dim_x=dim_x,
        dim_y=1,
        hidden_dims=size["hidden"],
        inf_hidden_dims=size["hidden"],
        activation=size["activation"],
    ).to(torch.float64)
    xc = torch.randn(TASKS, nc, dim_x, dtype=torch.float64)
    xt = torch.randn(TASKS, nt, dim_x, dtype=torch.float64)
    f = lambda x: torch.sin(x.sum(-1, keepdim=True))  # noqa: E731
    batch = Batch(xc, f(xc), xt, f(xt))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        with record_function("forward"):
            loss = -pp_avi(model, batch, num_samples=samples, chunk_size=args.chunk).mean()
        optimiser.zero_grad(set_to_none=True)
        with record_function("backward"):
            loss.backward()
        with record_function("adam"):
            optimiser.step()

    step()  # warm-up
    tick, cpu = time.perf_counter(), time.process_time()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True) as prof:
        step()
    wall, cpu = time.perf_counter() - tick, time.process_time() - cpu
    events = prof.key_averages(group_by_input_shape=True)
    by_time = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
    by_mem = sorted(events, key=lambda e: e.self_cpu_memory_usage, reverse=True)[: args.top]
    total_self = sum(e.self_cpu_time_total for e in events)
    print(f"profiled step: wall {wall:.2f} s, process CPU {cpu:.2f} s, peak RSS {peak_rss_mb():.0f} MB")
    print(f"{'op':40s} {'self ms':>9s} {'%':>5s} {'calls':>6s} {'self MB':>9s}  shapes")
    rows = []
    for e in by_time:
        row = {
            "op": e.key,
            "self_cpu_ms": e.self_cpu_time_total / 1e3,
            "share": e.self_cpu_time_total / total_self,
            "calls": e.count,
            "self_cpu_memory_mb": e.self_cpu_memory_usage / 2**20,
            "input_shapes": str(e.input_shapes)[:160],
        }
        rows.append(row)
        print(
            f"{e.key[:40]:40s} {row['self_cpu_ms']:9.1f} {100 * row['share']:5.1f} {e.count:6d} "
            f"{row['self_cpu_memory_mb']:9.1f}  {row['input_shapes'][:90]}"
        )
    # the fused layer step and the accumulation (autograd functions: totals include their children)
    parts = {}
    for e in prof.key_averages():
        if any(name in e.key for name in ("_SampleWithKL", "_PackedPrecision")):
            parts[e.key] = e.cpu_time_total / 1e3
    print("\nparts (CPU total ms, including children):")
    for key, ms in sorted(parts.items()):
        print(f"  {key:40s} {ms:9.1f}  ({100 * ms * 1e3 / total_self:.1f} % of the step)")
    print("\ntop self memory allocations:")
    mem_rows = []
    for e in by_mem[:12]:
        mem_rows.append(
            {
                "op": e.key,
                "self_cpu_memory_mb": e.self_cpu_memory_usage / 2**20,
                "calls": e.count,
                "input_shapes": str(e.input_shapes)[:160],
            }
        )
        print(
            f"{e.key[:40]:40s} {e.self_cpu_memory_usage / 2**20:9.1f} MB {e.count:6d}  "
            f"{str(e.input_shapes)[:90]}"
        )
    if args.trace:
        prof.export_chrome_trace(str(args.out.with_suffix(".trace.json")))
    write_json(
        args.out,
        {
            "machine": machine(),
            "preset": args.preset,
            "nc": nc,
            "nt": nt,
            "chunk": args.chunk,
            "threads": torch.get_num_threads(),
            "wall_seconds": wall,
            "process_cpu_seconds": cpu,
            "peak_rss_mb": peak_rss_mb(),
            "parts_cpu_total_ms": parts,
            "top_by_time": rows,
            "top_by_memory": mem_rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
