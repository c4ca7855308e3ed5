"""`pipelines/train.py` with train.distributed.nproc = 2 relaunches itself under torchrun (2 gloo processes on
CPU); rank 0 writes the checkpoint and log, which record both ranks' task streams."""

from __future__ import annotations

import json

import torch
from helpers.stores import task_store  # tests/ is on sys.path, see tests/conftest.py
from pipeline_steps import pipeline_step


def test_train_step_with_two_processes_runs_under_torchrun(tmp_path):
    path, _, store = task_store(
        tmp_path,
        train={"steps": 3, "log_every": 1, "checkpoint_every": 2, "distributed": {"nproc": 2}},
        model={"hidden_dims": [8], "inf_hidden_dims": [8]},
    )

    ckpt, log = tmp_path / "learned.pt", tmp_path / "learned.jsonl"
    args = ["--config", str(path), "--store", str(store), "--prior", "learned", "--out", str(ckpt)]
    assert pipeline_step("train")([*args, "--log", str(log), "--threads", "2"]) == 0

    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 3 and state["world_size"] == 2 and len(state["ranks"]) == 2
    assert state["ranks"][0]["sampler"] != state["ranks"][1]["sampler"]  # each rank its own task stream
    assert state["experiment"]["train"]["distributed"]["nproc"] == 2 and state["input_schema"] is not None
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2, 3]
    assert not (tmp_path / "learned.resume.pt").exists()
