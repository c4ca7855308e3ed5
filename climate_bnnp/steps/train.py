"""Meta-train a BNNP on the task store's TRAIN split; write its checkpoint.

--prior learned meta-learns the whole prior (rho = model.prior_learnable_fraction of the config, 1 for the
paper); --prior standard fixes it at the standard N(0, 1/(d_in + 1)) prior (rho = 0) and trains only the
inference networks and the noise, the paper's "standard prior" baseline.

Reproducible: torch is seeded from train.seed before the model is built. Crash-safe: every
train.checkpoint_every steps the training state goes to <out stem>.resume.pt beside the checkpoint; a rerun
continues from there to the same result as an uninterrupted run, and removes the file when done.

Data-parallel: with train.distributed.nproc: N > 1 the step relaunches itself as
`torchrun --standalone --nproc-per-node N -m climate_bnnp.cli train ...` unless already under torchrun;
every rank draws its own tasks, rank 0 writes the checkpoint, log and resume file.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import torch

from climate_bnnp.config import config_to_dict, load_config
from climate_bnnp.data import open_task_store
from climate_bnnp.steps import existing_path
from climate_bnnp.tasks import TaskSampler
from climate_bnnp.tasks.era5 import Era5TaskSet, train_source
from climate_bnnp.train import fit, init_distributed, launched_by_torchrun

PRIORS = ("learned", "standard")
EXAMPLE = (
    "climate-bnnp train --config configs/sample.yaml --store data/sample/tasks.zarr --prior learned "
    "--out results/sample/checkpoints/learned.pt --log results/sample/train_learned.jsonl"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=existing_path, help="experiment config (YAML)")
    parser.add_argument("--store", required=True, type=existing_path, help="the build-tasks step's store")
    parser.add_argument("--prior", required=True, choices=PRIORS)
    parser.add_argument("--out", required=True, type=Path, help="checkpoint file")
    parser.add_argument("--log", type=Path, default=None, help="JSON-lines training log")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (all processes)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # resume notes
    if args.threads:  # shared by the processes of this machine under torchrun
        torch.set_num_threads(max(1, args.threads // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))
    config = load_config(args.config)
    nproc = config.train.distributed.nproc
    if nproc > 1 and not launched_by_torchrun():  # N processes of this very step, under torchrun
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        launch += ["-m", "--"]  # a module and its arguments follow (--log would match --log-dir)
        return subprocess.run([*launch, "climate_bnnp.cli", "train", *args.argv], check=False).returncode
    world = init_distributed(config.train.distributed.backend, config.train.device)  # no-op: 1 process
    taskset = Era5TaskSet(open_task_store(args.store))  # features, normaliser, ...: the store's input schema
    taskset.schema.check_dim_x(config.model.dim_x, where=f"{args.config}: model.dim_x")
    if config.model.dim_y != 1:
        raise ValueError(
            f"{args.config}: model.dim_y = {config.model.dim_y}, but tp gives dim_y = 1; set dim_y: 1."
        )
    model_config = config.model
    if args.prior == "standard":
        model_config = dataclasses.replace(model_config, prior_learnable_fraction=0.0)
    config = dataclasses.replace(config, model=model_config)
    sampler = TaskSampler(
        train_source(taskset, subsample_fraction=config.data.subsample_fraction),
        context_fraction=config.tasks.context_fraction,
        max_targets=config.tasks.max_targets,
        seed=config.train.seed,
    )
    fit(
        model_config,  # built by fit from train.seed: two runs of a config are identical
        sampler,
        config.train,
        checkpoint_path=args.out,
        log_path=args.log,
        schema=taskset.schema.to_dict(),
        experiment=config_to_dict(config) | {"prior": args.prior},
        progress=sys.stderr,  # one progress line per log_every steps, into the rule's log
    )
    if world.distributed:
        torch.distributed.destroy_process_group()
    return 0
