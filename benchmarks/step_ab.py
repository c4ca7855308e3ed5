"""In-process A/B of the layer implementation: training steps alternating the current layer step with a
baseline's, so that both see the same machine load (the robust comparison on a busy shared machine).

    git archive <commit> climate_bnnp | tar -x -C /tmp/base
    python benchmarks/step_ab.py --baseline /tmp/base --preset toy --threads 2 --steps 9
    python benchmarks/step_ab.py --weight-route --preset toy --threads 2 --steps 9

With ``--weight-route`` the baseline is the current code with every layer forced onto the weight-space
route (``AmortisedLinear.route = "weight"``), against the automatic route choice: the context-space
route's gain on the whole step (``--context-float32``: with the route's opt-in float32 algebra).

The baseline's ``climate_bnnp/layers/sample_kl.py`` and ``amortised.py`` are loaded from ``--baseline`` as
separate modules, and for the baseline's steps the model's layers call them (``sample_with_kl`` and the
packed-precision accumulation are swapped in ``climate_bnnp.layers.amortised``); everything else (model,
objective, optimiser) is the current code. Steps alternate A, B, A, B, … after one warm-up step of
each; reported: per-variant median step time (wall, and process CPU), the median of the per-pair
ratios, and a plain 2048² GEMM timed in the same process. Writes
``benchmarks/results/step_ab_<preset>_<threads>threads.json``.
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
from train_step import PRESETS, TASKS  # noqa: E402


def load_layer_modules(root: Path):
    """The baseline's ``sample_kl`` and ``amortised`` modules (relative imports resolve to the current
    package's ``climate_bnnp.layers``)."""
    modules = []
    for name in ("sample_kl", "amortised"):
        path = root / "climate_bnnp" / "layers" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"climate_bnnp.layers._baseline_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--baseline", type=Path, help="a tree holding the baseline's climate_bnnp/layers")
    source.add_argument("--weight-route", action="store_true", help="baseline: the weight-space route")
    parser.add_argument(
        "--context-float32", action="store_true", help="current: the context route's opt-in float32 algebra"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="toy")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=9, help="timed steps per variant")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    import climate_bnnp.layers.amortised as amortised
    from climate_bnnp.models import BNNP
    from climate_bnnp.objectives import pp_avi
    from climate_bnnp.tasks import Batch

    torch.set_num_threads(args.threads)
    current = (amortised.sample_with_kl, amortised._PackedPrecision, "auto")
    if args.weight_route:
        variants = {"baseline": (*current[:2], "weight"), "current": current}
    else:
        base_skl, base_amortised = load_layer_modules(args.baseline)
        variants = {
            "baseline": (base_skl.sample_with_kl, base_amortised._PackedPrecision, "auto"),
            "current": current,
        }
    size = PRESETS[args.preset]
    torch.manual_seed(0)
    model = BNNP(
        dim_x=size["dim_x"],
        dim_y=1,
        hidden_dims=size["hidden"],
        inf_hidden_dims=size["hidden"],
        activation=size["activation"],
    ).to(torch.float64)
    xc = torch.randn(TASKS, size["nc"], size["dim_x"], dtype=torch.float64)
    xt = torch.randn(TASKS, size["nt"], size["dim_x"], dtype=torch.float64)
    batch = Batch(xc, torch.sin(xc.sum(-1, keepdim=True)), xt, torch.sin(xt.sum(-1, keepdim=True)))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)

    def use(variant: str) -> None:
        amortised.sample_with_kl, amortised._PackedPrecision, route = variants[variant]
        for layer in model.layers:
            layer.route = route
            layer.context_float32 = args.context_float32 and variant == "current"

    def step(variant: str) -> tuple[float, float]:
        use(variant)
        tick, cpu = time.perf_counter(), time.process_time()
        loss = -pp_avi(model, batch, num_samples=size["samples"]).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return time.perf_counter() - tick, time.process_time() - cpu

    gemm_before = large_gemm_gflops()
    for name in variants:
        step(name)  # warm-up
    times: dict[str, list] = {name: [] for name in variants}
    loads = []
    for _ in range(args.steps):
        loads.append(os.getloadavg()[0])
        for name in variants:
            times[name].append(step(name))
    use("current")
    gemm_after = large_gemm_gflops()
    gemm = {clock: 0.5 * (gemm_before[clock] + gemm_after[clock]) for clock in ("wall", "cpu")}
    summary: dict = {
        "preset": args.preset,
        "baseline": "weight-space route" if args.weight_route else str(args.baseline),
        "current_context_float32": args.context_float32,
        "threads": torch.get_num_threads(),
        "large_gemm_gflops": gemm,
        "load_average_per_pair": loads,
    }
    for name, pairs in times.items():
        wall = median(t for t, _ in pairs)
        cpu = median(c for _, c in pairs)
        summary[name] = {
            "step_seconds": [t for t, _ in pairs],
            "step_cpu_seconds": [c for _, c in pairs],
            "median_step_seconds": wall,
            "median_step_cpu_seconds": cpu,
            "step_gemm_gflop": wall * gemm["wall"],
            "step_gemm_gflop_cpu": cpu * gemm["cpu"],
        }
    ratios = [b[0] / c[0] for b, c in zip(times["baseline"], times["current"], strict=True)]
    summary["speed_up_wall_median_of_pairs"] = median(ratios)
    summary["speed_up_wall_range"] = [min(ratios), max(ratios)]
    for name in variants:
        s = summary[name]
        print(
            f"{args.preset} {summary['threads']} thr {name:8s}: step {s['median_step_seconds']:.3f} s wall = "
            f"{s['step_gemm_gflop']:.1f} large-GEMM GFLOP, {s['median_step_cpu_seconds']:.3f} s CPU"
        )
    print(
        f"speed-up (median of {args.steps} pairs) {summary['speed_up_wall_median_of_pairs']:.2f}× "
        f"(range {min(ratios):.2f}–{max(ratios):.2f}); GEMM {gemm['wall']:.0f} GFLOP/s; load "
        f"{min(loads):.1f}–{max(loads):.1f}"
    )
    kind = (
        ("step_ab_route_f32" if args.context_float32 else "step_ab_route") if args.weight_route else "step_ab"
    )
    out = args.out or RESULTS / f"{kind}_{args.preset}_{summary['threads']}threads.json"
    write_json(out, {"machine": machine(), **summary})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
