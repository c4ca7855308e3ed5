"""Helpers of the distributed-training tests, and the script that ``torchrun`` runs on every rank.

``python -m torch.distributed.run --standalone --nproc-per-node 2 ddp_helpers.py MODE OUT`` runs ``MODE``
(``step`` or ``resume``) on each rank through the same entry point as ``pipelines/train.py``
(:func:`climate_bnnp.train.init_distributed`, gloo on CPU) and writes rank-tagged results under ``OUT``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch

from climate_bnnp import BNNP
from climate_bnnp.config import TrainConfig
from climate_bnnp.objectives import pp_avi
from climate_bnnp.tasks import Batch, TaskSampler, family_source
from climate_bnnp.train import fit, init_distributed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, also when torchrun runs this file
from helpers.faults import crashing  # noqa: E402

BATCH = 2  # tasks per rank and step
SEED = 5


def make_model(seed: int = 7) -> BNNP:
    torch.manual_seed(seed)
    return BNNP(hidden_dims=(6,), inf_hidden_dims=(6,), prior_learnable_fraction=0.5, seed=1)


def make_sampler() -> TaskSampler:
    return TaskSampler(family_source("gp", min_points=8, max_points=14), context_fraction=(0.2, 0.6), seed=0)


def step_config(**kwargs) -> TrainConfig:
    settings = {
        "steps": 1,
        "batch_size": BATCH,
        "num_samples": 3,
        "device": "cpu",
        "seed": SEED,
        "log_every": 1,
    }
    return TrainConfig(**settings | kwargs)


def task_digest(batch: Batch, b: int) -> tuple[Batch, bytes]:
    """Task ``b`` of a batch without its padding, and a digest of its data."""
    nc = batch.xc.shape[1] if batch.mask_c is None else int(batch.mask_c[b].sum())
    nt = batch.xt.shape[1] if batch.mask_t is None else int(batch.mask_t[b].sum())
    one = Batch(
        batch.xc[b : b + 1, :nc], batch.yc[b : b + 1, :nc], batch.xt[b : b + 1, :nt], batch.yt[b : b + 1, :nt]
    )
    data = b"".join(t.detach().cpu().numpy().tobytes() for t in (one.xc, one.yc, one.xt, one.yt))
    return one, hashlib.sha256(data).digest()


class _NanGradient(torch.autograd.Function):
    """Identity forward; a NaN gradient backward (a numerically broken task)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


def per_task_objective(nan_tasks: frozenset[bytes] = frozenset(), nan_parameter: str = ""):
    """PP-AVI task by task, each with Monte-Carlo noise seeded by the task's own data: a task's value and
    gradient do not depend on which batch (which rank) it is in, so a distributed step can be compared with a
    single-process step over the union to rounding. Tasks in ``nan_tasks`` give ``nan_parameter`` a NaN
    gradient."""

    def objective(model, batch, *, num_samples, beta, chunk_size):
        values = []
        for b in range(batch.xc.shape[0]):
            one, digest = task_digest(batch, b)
            torch.manual_seed(int.from_bytes(digest[:7], "little"))
            value = pp_avi(model, one, num_samples=num_samples, beta=beta, chunk_size=chunk_size)
            if digest in nan_tasks:
                param = dict(model.named_parameters())[nan_parameter]
                value = value + 0.0 * _NanGradient.apply(param).sum()
            values.append(value)
        return torch.cat(values)

    return objective


def nan_parameter_name(model) -> str:
    """The parameter that the NaN test breaks: the last trainable one."""
    return [n for n, p in model.named_parameters() if p.requires_grad][-1]


def _state(model, records) -> dict:
    return {
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "grads": {k: v.grad.clone() for k, v in model.named_parameters() if v.grad is not None},
        "records": records,
    }


def _mode_step(out: Path, rank: int) -> None:
    nan_tasks = frozenset(bytes.fromhex(h) for h in json.loads((out / "nan_tasks.json").read_text()))
    model = make_model()
    objective = per_task_objective(nan_tasks, nan_parameter_name(model))
    records = fit(model, make_sampler(), step_config(), objective=objective, progress=False)
    torch.save(_state(model, records), out / f"step_rank{rank}.pt")


def resume_config() -> TrainConfig:
    return step_config(steps=4, checkpoint_every=2)


def _mode_resume(out: Path, rank: int) -> None:
    cfg = resume_config()
    fit(
        make_model(),
        make_sampler(),
        cfg,
        checkpoint_path=out / "straight.pt",
        log_path=out / "straight.jsonl",
        progress=False,
    )
    ckpt, log = out / "crashed.pt", out / "crashed.jsonl"
    try:
        fit(
            make_model(),
            make_sampler(),
            cfg,
            checkpoint_path=ckpt,
            log_path=log,
            objective=crashing(3),
            progress=False,
        )
    except KeyboardInterrupt:
        pass
    torch.distributed.barrier()
    if rank == 0:
        shutil.copy(out / "crashed.resume.pt", out / "elastic.resume.pt")  # for a 1-process continuation
        log.unlink()  # the workflow deletes a failed job's outputs
    torch.distributed.barrier()
    model = make_model(seed=123)  # other initial weights: everything is restored from the resume file
    records = fit(model, make_sampler(), cfg, checkpoint_path=ckpt, log_path=log, progress=False)
    torch.save({"steps": [r["step"] for r in records]}, out / f"resumed_rank{rank}.pt")


def main(argv: list[str]) -> int:
    mode, out = argv[0], Path(argv[1])
    world = init_distributed(backend="gloo", device="cpu")
    torch.set_num_threads(1)
    {"step": _mode_step, "resume": _mode_resume}[mode](out, world.rank)
    torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
