"""One training step of this package's BNNP against the paper's reference code, alternating in one process.

    python benchmarks/reference_side_by_side.py --reference /path/to/meta-bdl --preset toy --threads 2

``--reference`` is a checkout of the authors' public repository (github.com/Sheev13/meta-bdl), which this
project does not ship: its ``models/amortised_networks.py`` (``BDNP``), ``models/amortised_layers.py``,
``models/inference.py``, ``models/priors.py``, ``models/tensors.py``, ``models/likelihoods.py`` and
``base_networks/`` are imported from there as they are.

The same model and step on both sides: BNN ``hidden`` (SiLU for the toy size), MLP inference networks of the
same widths, a learnable full unit-wise prior, S samples, B tasks, float64, the final layer's
pseudo-observations being the targets, a learnable Gaussian noise, and forward + backward + Adam. Ours is one
batched PP-AVI step over the B tasks (:func:`climate_bnnp.objectives.pp_avi`); the reference has no task
batch, so its step is B calls of ``BDNP.loss`` (context posterior, predictions at the context and target
points, log-sum-exp over samples at the targets), summed, then one backward and one Adam step. Steps
alternate (ours, reference) after one warm-up each, so both see the same machine load; reported: each
side's median step (wall), the median of the per-pair ratios, and a plain 2048² GEMM timed in the same
process (times scaled to a 75 GFLOP/s large-GEMM machine: ``s × rate / 75``). Peak memory is not separable
in one process (``benchmarks/train_step.py`` gives ours). Writes
``benchmarks/results/reference_side_by_side_<preset>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, large_gemm_gflops, machine, median, write_json  # noqa: E402
from train_step import PRESETS, TASKS  # noqa: E402

TARGET_GEMM_GFLOPS = 75.0


def _reference_model(reference: Path, size: dict):
    """The reference ``BDNP`` of the preset's size (imported from the checkout at ``reference``)."""
    import torch

    if not (reference / "models" / "amortised_networks.py").is_file():
        raise SystemExit(
            f"--reference {reference} holds no models/amortised_networks.py; pass a checkout of "
            "github.com/Sheev13/meta-bdl."
        )
    sys.path.insert(0, str(reference))
    from models.amortised_networks import BDNP  # the reference code
    from models.likelihoods import GaussianLikelihood

    nonlinearity = torch.nn.SiLU() if size["activation"] == "silu" else torch.nn.ReLU()
    model = BDNP(
        size["dim_x"],
        1,
        list(size["hidden"]),
        prior_type=1,
        likelihood=GaussianLikelihood(1, sigma_y=0.05, train=True),
        inf_dims=list(size["hidden"]),
        use_final_layer_targets=True,
        nonlinearity=nonlinearity,
    )
    model.trainable_prior(True)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference", type=Path, required=True, help="a checkout of Sheev13/meta-bdl")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="toy")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--weight-route", action="store_true", help="force our weight-space route")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from climate_bnnp.models import BNNP
    from climate_bnnp.objectives import pp_avi
    from climate_bnnp.tasks import Batch

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)  # the reference builds its tensors with the default dtype
    size = PRESETS[args.preset]
    torch.manual_seed(0)
    ours = BNNP(
        dim_x=size["dim_x"],
        dim_y=1,
        hidden_dims=size["hidden"],
        inf_hidden_dims=size["hidden"],
        activation=size["activation"],
        prior_type="full",
    ).to(torch.float64)
    if args.weight_route:
        for layer in ours.layers:
            layer.route = "weight"
    ref = _reference_model(args.reference, size)
    f = lambda x: torch.sin(x.sum(-1, keepdim=True))  # noqa: E731
    xc = torch.randn(TASKS, size["nc"], size["dim_x"])
    xt = torch.randn(TASKS, size["nt"], size["dim_x"])
    yc, yt = f(xc) + 0.1 * torch.randn(TASKS, size["nc"], 1), f(xt)
    batch = Batch(xc, yc, xt, yt)
    opt_ours = torch.optim.Adam(ours.parameters(), lr=1e-4)
    opt_ref = torch.optim.Adam([p for p in ref.parameters() if p.requires_grad], lr=1e-4)
    samples = size["samples"]

    def step_ours() -> None:
        loss = -pp_avi(ours, batch, num_samples=samples).mean()
        opt_ours.zero_grad(set_to_none=True)
        loss.backward()
        opt_ours.step()

    def step_ref() -> None:
        loss = 0.0
        for b in range(TASKS):  # no task batch in the reference: one call per task
            x_all, y_all = torch.cat([xc[b], xt[b]]), torch.cat([yc[b], yt[b]])
            loss = loss + ref.loss(xc[b], yc[b], x_all, y_all, num_samples=samples, logsumexp=True)[0]
        opt_ref.zero_grad(set_to_none=True)
        (loss / TASKS).backward()
        opt_ref.step()

    gemm_before = large_gemm_gflops()
    variants = {"ours": step_ours, "reference": step_ref}
    for fn in variants.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu_times: dict[str, list[float]] = {name: [] for name in variants}
    loads = []
    for _ in range(args.pairs):
        loads.append(os.getloadavg()[0])
        for name, fn in variants.items():
            tick, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - tick)
            cpu_times[name].append(time.process_time() - cpu)
    gemm_after = large_gemm_gflops()
    gemm = 0.5 * (gemm_before["wall"] + gemm_after["wall"])
    gemm_cpu = 0.5 * (gemm_before["cpu"] + gemm_after["cpu"])
    ratios = [r / o for o, r in zip(times["ours"], times["reference"], strict=True)]
    cpu_ratios = [r / o for o, r in zip(cpu_times["ours"], cpu_times["reference"], strict=True)]
    summary: dict = {
        "preset": args.preset,
        "our_route": "weight" if args.weight_route else "auto",
        "threads": torch.get_num_threads(),
        "large_gemm_gflops": gemm,
        "large_gemm_gflops_cpu": gemm_cpu,
        "load_average_per_pair": loads,
        "speed_up_median_of_pairs": median(ratios),
        "speed_up_range": [min(ratios), max(ratios)],
        "speed_up_cpu_median_of_pairs": median(cpu_ratios),
    }
    for name, secs in times.items():
        summary[name] = {
            "step_seconds": secs,
            "step_cpu_seconds": cpu_times[name],
            "median_step_seconds": median(secs),
            "median_step_cpu_seconds": median(cpu_times[name]),
            "step_gemm_gflop": median(secs) * gemm,
            "step_gemm_gflop_cpu": median(cpu_times[name]) * gemm_cpu,
            "seconds_at_75_gflops": median(secs) * gemm / TARGET_GEMM_GFLOPS,
            "cpu_seconds_at_75_gflops": median(cpu_times[name]) * gemm_cpu / TARGET_GEMM_GFLOPS,
        }
        s = summary[name]
        print(
            f"{args.preset} {summary['threads']} thr {name:9s}: step {s['median_step_seconds']:.3f} s wall "
            f"(GEMM {gemm:.0f} GFLOP/s) = {s['seconds_at_75_gflops']:.3f} s at 75 GFLOP/s; CPU "
            f"{s['median_step_cpu_seconds']:.3f} s (GEMM {gemm_cpu:.0f} GFLOP/s by CPU time) = "
            f"{s['cpu_seconds_at_75_gflops']:.3f} s at 75 GFLOP/s"
        )
    print(
        f"reference / ours: {summary['speed_up_median_of_pairs']:.2f}× wall (median of {args.pairs} pairs, "
        f"range {min(ratios):.2f}–{max(ratios):.2f}), {summary['speed_up_cpu_median_of_pairs']:.2f}× CPU; "
        f"load {min(loads):.1f}–{max(loads):.1f}"
    )
    out = args.out or RESULTS / f"reference_side_by_side_{args.preset}.json"
    write_json(out, {"machine": machine(), **summary})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
