"""The GPU path (issue 12): training steps in float64 and mixed precision, a minibatched 10⁶-point step, and
``predict`` on a 1M-cell grid, all on the configured device.

Prints (and with ``--out`` writes as JSON):

1. the paper-size training step (BNN and inference nets [64, 64, 64], S = 16, B = 5, N = 905 points per task
   split 271 / 634, Dx = 3, PP-AVI forward + backward + Adam) in float64 and in mixed precision
   (``train.dtype: mixed``: float32 networks, float64 accumulation, posterior algebra and KL);
2. a within-task-minibatched step (one task, context streamed ``--chunk`` points at a time) at two context
   sizes up to 10⁶ points, with the peak memory of each: flat in N when the minibatching works;
3. ``climate_bnnp.predict`` on a 1000 × 1000 grid (30 % of the cells observed = the context).

Without CUDA it prints "no CUDA device; nothing measured" and exits 0, unless ``--allow-cpu`` is given: then
it runs (smaller, ``--scale``) sizes on the CPU so the script itself is exercised::

    python benchmarks/gpu.py --out benchmarks/results/gpu.json       # on a GPU machine (< 8 min)
    python benchmarks/gpu.py --allow-cpu --scale 0.001 --hidden 8 8  # CPU smoke run (seconds)

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` per measurement; on the CPU the process's peak RSS
so far (monotonic: flat = the larger size adds nothing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median, peak_rss_mb, write_json  # noqa: E402

HIDDEN = (64, 64, 64)
SAMPLES = 16
TASKS = 5
DIM_X = 3
PAPER_SPLIT = (271, 634)  # context / target points of one paper-size task (N = 905)
DTYPES = ("float64", "mixed")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device) -> float:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else peak_rss_mb()


def training_step(
    device,
    dtype: str,
    *,
    nc: int = PAPER_SPLIT[0],
    nt: int = PAPER_SPLIT[1],
    tasks: int = TASKS,
    hidden: tuple[int, ...] = HIDDEN,
    samples: int = SAMPLES,
    dim_x: int = DIM_X,
    chunk: int | None = None,
    steps: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> dict:
    """Median wall time of PP-AVI training steps (forward, backward, Adam) of a BNNP on a fixed synthetic
    batch, on ``device`` in ``dtype`` (``float64`` or ``mixed`` = float32 networks), and the peak memory."""
    import torch

    from climate_bnnp.config import TrainConfig
    from climate_bnnp.models import BNNP
    from climate_bnnp.objectives import pp_avi
    from climate_bnnp.tasks import Batch

    torch_dtype = getattr(torch, TrainConfig(dtype=dtype).dtype)  # 'mixed' is float32
    torch.manual_seed(seed)
    model = BNNP(dim_x=dim_x, dim_y=1, hidden_dims=hidden, inf_hidden_dims=hidden, prior_type="full")
    model.to(device=device, dtype=torch_dtype)
    xc, xt = torch.randn(tasks, nc, dim_x), torch.randn(tasks, nt, dim_x)
    f = lambda x: torch.sin(x.sum(-1, keepdim=True))  # noqa: E731
    batch = Batch(xc, f(xc) + 0.1 * torch.randn(tasks, nc, 1), xt, f(xt)).to(device, torch_dtype)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for step in range(warmup + steps):
        _sync(device)
        tick = time.perf_counter()
        loss = -pp_avi(model, batch, num_samples=samples, chunk_size=chunk).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        _sync(device)
        if step >= warmup:
            times.append(time.perf_counter() - tick)
    return {
        "dtype": dtype,
        "nc": nc,
        "nt": nt,
        "tasks": tasks,
        "chunk": chunk,
        "median_step_seconds": median(times),
        "step_seconds": times,
        "peak_memory_mb": _peak_mb(device),
        "loss": float(loss.detach()),
    }


def predict_grid(
    device, *, size: int, num_samples: int, hidden: tuple[int, ...] = HIDDEN, seed: int = 0
) -> dict:
    """Wall time of ``climate_bnnp.predict`` on a ``size × size`` grid (one time step, 30 % observed)."""
    import torch
    import xarray as xr

    import climate_bnnp
    from climate_bnnp import BNNP
    from climate_bnnp.data import InputSchema, Normaliser

    rng = np.random.default_rng(seed)
    lat, lon = np.linspace(-60.0, 70.0, size), np.linspace(-180.0, 179.0, size)
    t2m = 15.0 + 5.0 * rng.standard_normal((size, size))
    tp = rng.gamma(0.8, 1.0, (size, size))
    tp[rng.random((size, size)) > 0.3] = np.nan
    ds = xr.Dataset(
        {"tp": (("latitude", "longitude"), tp, {"units": "mm"}),
         "t2m": (("latitude", "longitude"), t2m, {"units": "degC"})},
        coords={"latitude": lat, "longitude": lon},
    )  # fmt: skip
    schema = InputSchema(
        features=("xyz", "t2m"),
        normaliser=Normaliser(mean={"tp": 0.8, "t2m": 15.0}, std={"tp": 1.1, "t2m": 5.0}),
        units={"t2m": "degC", "tp": "mm"},
    )  # fmt: skip
    torch.manual_seed(seed)
    model = BNNP(dim_x=4, dim_y=1, hidden_dims=hidden, inf_hidden_dims=hidden).double()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tick = time.perf_counter()
    out = climate_bnnp.predict(
        model, ds, schema=schema, num_samples=num_samples, device=device, progress=False
    )
    seconds = time.perf_counter() - tick
    return {
        "cells": size * size,
        "context_cells": int(np.isfinite(tp).sum()),
        "num_samples": num_samples,
        "seconds": seconds,
        "peak_memory_mb": _peak_mb(device),
        "mean_finite": bool(np.isfinite(out["mean"].values[np.isnan(tp)]).all()),
    }


def run(device, scale: float, hidden: tuple[int, ...] = HIDDEN) -> dict:
    """All measurements at ``scale`` times the GPU sizes (points per task; grid cells), widths ``hidden``."""
    results: dict = {"device": str(device), "scale": scale, "hidden": hidden}
    results |= {"paper_step": {}, "minibatched": [], "predict": None}
    nc, nt = (max(8, int(n * min(scale, 1.0))) for n in PAPER_SPLIT)
    for dtype in DTYPES:
        r = training_step(device, dtype, nc=nc, nt=nt, hidden=hidden)
        results["paper_step"][dtype] = r
        print(f"paper-size step ({dtype:7s}, N = {nc} + {nt}): {r['median_step_seconds']:.4f} s, "
              f"peak {r['peak_memory_mb']:.0f} MB",
              flush=True)  # fmt: skip
    big = max(2_000, int(1_000_000 * scale))
    for nc in (big // 4, big):
        r = training_step(
            device, "float64", nc=nc, nt=256, tasks=1, chunk=4096, steps=1, warmup=1, hidden=hidden
        )
        results["minibatched"].append(r)
        print(f"minibatched step (Nc = {nc:>9,d}, chunk 4096): {r['median_step_seconds']:.3f} s, "
              f"peak {r['peak_memory_mb']:.0f} MB", flush=True)  # fmt: skip
    size = max(20, int(round(1000 * scale**0.5)))
    r = predict_grid(device, size=size, num_samples=16, hidden=hidden)
    results["predict"] = r
    print(f"predict on a {size} x {size} grid ({r['cells']:,d} cells, {r['context_cells']:,d} context, "
          f"S = {r['num_samples']}): {r['seconds']:.2f} s, peak {r['peak_memory_mb']:.0f} MB",
          flush=True)  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow-cpu", action="store_true", help="without CUDA, run on the CPU instead")
    parser.add_argument(
        "--scale", type=float, default=None, help="size factor (default 1 on CUDA, 0.01 on CPU)"
    )
    parser.add_argument(
        "--hidden", type=int, nargs="+", default=list(HIDDEN), help="BNN and inference widths"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if torch.cuda.is_available():
        device = torch.device("cuda")
    elif args.allow_cpu:
        device = torch.device("cpu")
    else:
        print("no CUDA device; nothing measured (--allow-cpu runs smaller sizes on the CPU)")
        return 0
    scale = args.scale if args.scale is not None else (1.0 if device.type == "cuda" else 0.01)
    tick = time.perf_counter()
    results = run(device, scale, tuple(args.hidden))
    results |= {"machine": machine(), "total_seconds": time.perf_counter() - tick}
    print(f"total {results['total_seconds']:.0f} s on {device}")
    if args.out is not None:
        write_json(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
