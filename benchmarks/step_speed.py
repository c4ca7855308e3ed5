"""Issue 14 speed check: the toy (§5.3) and ERA5-size training steps, normalised by a large GEMM.

    python benchmarks/step_speed.py --threads 1 --repeats 3 [--presets toy era5] [--label after]
    python benchmarks/step_speed.py --threads 1 --repeats 3 --baseline /tmp/base   # before/after

For every preset and thread count, ``--repeats`` fresh processes each run ``benchmarks/train_step.py
--preset P`` (1 warm-up step, then ``--steps`` timed steps, median). Every process also times a plain
2048² float64 GEMM before and after its steps, so each step is reported as well in **large-GEMM GFLOP**
(step seconds × GEMM rate measured in the same process): that number compares across machines and across
the load of a shared machine, where raw seconds do not. With one thread the same is done with process CPU
time (step CPU seconds × the GEMM's CPU-time rate), which is the robust measure on a loaded machine.

``--baseline DIR`` also runs every repeat with ``PYTHONPATH=DIR``, alternating baseline and current
processes (so both see the same load): DIR holds another version of the package, e.g. the base commit's
``git archive <commit> climate_bnnp | tar -x -C DIR``.

Reported per configuration and version: the median over processes of the per-process medians (seconds
and GEMM-GFLOP, wall and CPU), the peak RSS (max over processes), the GEMM rates and the load average at
every start. Targets (issue 14, this 2-core machine, float64, quiet: GEMM ≈ 115 GFLOP/s on 2 threads,
≈ 62 on 1): toy step ≤ 0.20 s (≈ 23 large-GEMM GFLOP), ERA5 step ≤ 1.5 s (≈ 170) with peak RSS ≤ 1.0 GB.
Writes ``benchmarks/results/step_speed_<label>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, median, run_child, write_json  # noqa: E402

QUIET_GEMM_GFLOPS = {1: 62.0, 2: 115.0}  # the quiet machine's plain GEMM rate (benchmarks/results/SUMMARY.md)
TARGET_SECONDS = {"toy": 0.20, "era5": 1.5}


def summarise(runs: list[dict], threads: int) -> dict:
    """Medians over processes (seconds, large-GEMM GFLOP by wall and CPU clock), peak RSS, GEMM rates."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"runs": runs, "error": runs[0].get("error")}
    gflop = median(r["step_gemm_gflop"] for r in ok)
    quiet = QUIET_GEMM_GFLOPS.get(threads)
    return {
        "median_step_seconds": median(r["median_step_seconds"] for r in ok),
        "median_step_cpu_seconds": median(r["median_step_cpu_seconds"] for r in ok),
        "median_step_gemm_gflop": gflop,
        "median_step_gemm_gflop_cpu": median(r["step_gemm_gflop_cpu"] for r in ok),
        "quiet_machine_equivalent_seconds": gflop / quiet if quiet else None,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "gemm_gflops_wall": [g["wall"] for r in ok for g in r["large_gemm_gflops"]],
        "gemm_gflops_cpu": [g["cpu"] for r in ok for g in r["large_gemm_gflops"]],
        "load_average_at_starts": [r["load_average_at_start"][0] for r in runs],
        "runs": runs,
    }


def describe(name: str, s: dict) -> str:
    if "error" in s:
        return f"{name}: FAILED {s['error']}"
    return (
        f"{name}: step {s['median_step_seconds']:.3f} s wall = {s['median_step_gemm_gflop']:6.1f} large-GEMM "
        f"GFLOP; {s['median_step_cpu_seconds']:.3f} s CPU = {s['median_step_gemm_gflop_cpu']:6.1f}; peak RSS "
        f"{s['peak_rss_mb']:.0f} MB; GEMM {min(s['gemm_gflops_wall']):.0f}–{max(s['gemm_gflops_wall']):.0f} "
        f"GFLOP/s; load {min(s['load_average_at_starts']):.1f}–{max(s['load_average_at_starts']):.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["toy", "era5"])
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per configuration")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per process (after 1 warm-up)")
    parser.add_argument("--baseline", type=Path, default=None, help="PYTHONPATH of a package to compare")
    parser.add_argument("--label", default="after")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out_path = args.out or RESULTS / f"step_speed_{args.label}.json"
    script = Path(__file__).resolve().parent / "train_step.py"
    versions = {"current": None}
    if args.baseline is not None:
        versions = {"baseline": {"PYTHONPATH": str(args.baseline.resolve())}, "current": None}
    results: dict = {}
    for preset in args.presets:
        for threads in args.threads:
            runs: dict[str, list] = {name: [] for name in versions}
            for _ in range(args.repeats):
                for name, env in versions.items():
                    load = os.getloadavg()
                    child_args = ["--preset", preset, "--threads", str(threads), "--warmup", "1"]
                    out = run_child(script, [*child_args, "--steps", str(args.steps)], env=env)
                    out["load_average_at_start"] = load
                    runs[name].append(out)
            entry = {name: summarise(r, threads) for name, r in runs.items()}
            entry["target_seconds_quiet_2_threads"] = TARGET_SECONDS.get(preset)
            if "baseline" in entry and "error" not in entry["baseline"] and "error" not in entry["current"]:
                base, cur = entry["baseline"], entry["current"]
                entry["speed_up_wall"] = base["median_step_gemm_gflop"] / cur["median_step_gemm_gflop"]
                entry["speed_up_cpu"] = base["median_step_gemm_gflop_cpu"] / cur["median_step_gemm_gflop_cpu"]
            for name in versions:
                print(describe(f"{preset:5s} {threads} thr {name:8s}", entry[name]), flush=True)
            if "speed_up_cpu" in entry:
                print(
                    f"{preset:5s} {threads} thr speed-up: {entry['speed_up_wall']:.2f}× (wall), "
                    f"{entry['speed_up_cpu']:.2f}× (CPU)",
                    flush=True,
                )
            results[f"{preset}_{threads}threads"] = entry
            write_json(out_path, {"machine": machine(), "label": args.label, "results": results})
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
