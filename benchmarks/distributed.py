"""Step time of data-parallel meta-training on CPU: 1 process over B·W tasks vs W gloo processes over B each.

The §5.3 toy size (BNN [48, 48], SiLU, inference nets [48, 48], S = 32, GP tasks of 70 points split
35 / 35, float64), ``fit`` with PP-AVI. The runs use the same cores: the single process 1 or ``W`` torch
threads, each of the ``W`` ranks one thread. The per-step ``seconds`` of ``fit``'s records (task sampling,
forward, backward with the gradient all-reduce, Adam) are reported after ``--warmup`` steps::

    python benchmarks/distributed.py --world 2 --tasks 5 --steps 12   # writes results/distributed.json

On a GPU machine the same comparison over W GPUs is ``torchrun --nproc-per-node W`` of the training step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, median, write_json  # noqa: E402


def _run(tasks: int, steps: int, threads: int, out: Path) -> None:
    """One training run (a single process, or one rank under torchrun); rank 0 writes the step times."""
    import torch

    from climate_bnnp import BNNP
    from climate_bnnp.config import TrainConfig
    from climate_bnnp.tasks import TaskSampler, family_source
    from climate_bnnp.train import fit, init_distributed

    world = init_distributed(backend="gloo", device="cpu")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = BNNP(hidden_dims=(48, 48), inf_hidden_dims=(48, 48), activation="silu")
    sampler = TaskSampler(family_source("gp", min_points=70, max_points=70), context_fraction=(0.5, 0.5))
    config = TrainConfig(steps=steps, batch_size=tasks, num_samples=32, device="cpu", log_every=steps)
    records = fit(model, sampler, config, progress=False)
    if world.rank == 0:
        out.write_text(json.dumps([r["seconds"] for r in records]))
    if world.distributed:
        torch.distributed.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=int, default=2, help="processes W")
    parser.add_argument("--tasks", type=int, default=5, help="tasks per process and step (B)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("TASKS", "THREADS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run(int(args.child[0]), args.steps, int(args.child[1]), Path(args.child[2]))
        return 0
    results = {"machine": machine(), "world": args.world, "tasks_per_process": args.tasks, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        single = [sys.executable, __file__, "--steps", str(args.steps)]
        launch = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={args.world}",
        ]
        runs = {
            f"1 process x 1 thread, B = {args.world * args.tasks}": single
            + ["--child", str(args.world * args.tasks), "1", f"{tmp}/single1.json"],
            f"1 process x {args.world} threads, B = {args.world * args.tasks}": single
            + ["--child", str(args.world * args.tasks), str(args.world), f"{tmp}/single.json"],
            f"{args.world} gloo processes x 1 thread, B = {args.tasks} each": [*launch, "--", *single[1:]]
            + ["--child", str(args.tasks), "1", f"{tmp}/ddp.json"],
        }
        for name, command in runs.items():
            subprocess.run(command, check=True, env=env, capture_output=True)
            seconds = json.loads(Path(command[-1]).read_text())[args.warmup :]
            results["runs"][name] = {"median_step_s": median(seconds), "step_s": seconds}
            print(f"{name}: median step {median(seconds):.3f} s over {len(seconds)} steps")
    write_json(RESULTS / "distributed.json", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
