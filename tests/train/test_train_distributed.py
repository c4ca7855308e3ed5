"""Data-parallel meta-training: 2 gloo processes under torchrun against single-process oracles (CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # --import-mode=importlib: make ddp_helpers importable

import ddp_helpers as H  # noqa: E402
from helpers.faults import crashing  # noqa: E402  (tests/ is on sys.path, see tests/conftest.py)

from climate_bnnp.config import (  # noqa: E402
    ConfigError,
    DistributedConfig,
    ExperimentConfig,
    ModelConfig,
    config_from_dict,
    config_to_dict,
)
from climate_bnnp.models import build_model  # noqa: E402
from climate_bnnp.objectives import OBJECTIVES  # noqa: E402
from climate_bnnp.tasks import collate  # noqa: E402
from climate_bnnp.train import fit  # noqa: E402
from climate_bnnp.train.distributed import rank_seed_sequence, rank_torch_seed  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")


def _torchrun(mode: str, out: Path) -> None:
    """Run ``ddp_helpers.py MODE OUT`` on 2 CPU processes (gloo), as ``pipelines/train.py`` would be run."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [*command, str(Path(H.__file__)), mode, str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def _rank_tasks(rank: int, n: int) -> list[tuple]:
    """The first ``n`` tasks of rank ``rank``'s stream, unpadded, as ``fit`` draws them."""
    sampler = H.make_sampler()
    sampler.reseed(rank_seed_sequence(H.SEED, rank))
    batch = sampler.sample(n)
    tasks = []
    for b in range(n):
        one, _ = H.task_digest(batch, b)
        tasks.append(tuple(t[0].numpy() for t in (one.xc, one.yc, one.xt, one.yt)))
    return tasks


class _FixedSampler:
    """Hands out fixed tasks (the union of the ranks' first batches); ``fit``'s reseeding changes nothing."""

    def __init__(self, tasks):
        self.tasks = tasks

    def reseed(self, seed):
        pass

    def sample(self, batch_size):
        assert batch_size == len(self.tasks)
        return collate(self.tasks)

    def state_dict(self):
        return {}


def test_rank_streams_are_distinct_reproducible_and_rank_0_is_the_single_process_stream():
    draws = [np.random.default_rng(rank_seed_sequence(3, r)).random(4) for r in range(4)]
    assert np.array_equal(draws[0], np.random.default_rng(3).random(4))  # one rank == one process
    assert len({d.tobytes() for d in draws}) == 4
    assert np.array_equal(draws[2], np.random.default_rng(rank_seed_sequence(3, 2)).random(4))
    seeds = [rank_torch_seed(3, r) for r in range(4)]
    assert seeds[0] == 3 and len(set(seeds)) == 4 and all(0 <= s < 2**63 for s in seeds)


def test_a_stream_started_mid_run_is_the_child_of_rank_and_step():
    """A rank that a resumed run did not have: numpy ``SeedSequence(seed, spawn_key=(rank, step))``, torch
    63 bits of it; rank 0 too (not the run's own stream)."""
    for rank in (0, 2):
        child = np.random.SeedSequence(3, spawn_key=(rank, 4))
        draws = np.random.default_rng(rank_seed_sequence(3, rank, step=4)).random(4)
        assert np.array_equal(draws, np.random.default_rng(child).random(4))
        assert not np.array_equal(draws, np.random.default_rng(rank_seed_sequence(3, rank)).random(4))
        assert rank_torch_seed(3, rank, step=4) == int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))


@pytest.mark.parametrize("kind", ["bnnp", "attn_bnnp", "bnam"])
def test_every_trainable_parameter_gets_a_gradient_from_every_objective(kind):
    """DDP runs without unused-parameter detection: a parameter without a gradient would hang a step."""
    config = ModelConfig(
        kind=kind, hidden_dims=(4,), inf_hidden_dims=(4,), attn_width=4, attn_heads=1, attn_layers=1,
        prior_learnable_fraction=0.5,
    )  # fmt: skip
    batch = H.make_sampler().sample(2)
    for name, objective in OBJECTIVES.items():
        model = build_model(config).double()
        (-objective(model, batch, num_samples=2, beta=1.0, chunk_size=None).mean()).backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, (name, missing)


def test_a_distributed_step_equals_a_single_process_step_over_the_union(tmp_path):
    """2 ranks x B tasks under DDP == 1 process x 2B tasks (the union): gradients, parameters, loss, the ρ
    masks, and the NaN guard (one task of rank 1 gives one parameter a NaN gradient)."""
    rank_tasks = [_rank_tasks(r, H.BATCH) for r in range(2)]
    broken = H.task_digest(collate(rank_tasks[1]), 0)[1]  # rank 1's first task
    (tmp_path / "nan_tasks.json").write_text(json.dumps([broken.hex()]))
    _torchrun("step", tmp_path)
    ranks = [torch.load(tmp_path / f"step_rank{r}.pt", weights_only=True) for r in range(2)]

    def single(tasks):
        model = H.make_model()
        objective = H.per_task_objective(frozenset({broken}), H.nan_parameter_name(model))
        config = H.step_config(batch_size=len(tasks))
        records = fit(model, _FixedSampler(tasks), config, objective=objective, progress=False)
        return H._state(model, records), model

    union, model = single(rank_tasks[0] + rank_tasks[1])
    initial = dict(H.make_model().named_parameters())
    nan_name = H.nan_parameter_name(model)

    for state in ranks:  # every rank ends with the same parameters: those of the single process
        assert (
            state["grads"].keys()
            == union["grads"].keys()
            == {n for n, p in initial.items() if p.requires_grad}
        )
        for name, grad in union["grads"].items():
            torch.testing.assert_close(
                state["grads"][name], grad, rtol=1e-10, atol=1e-10 * (1 + grad.abs().max())
            )
            torch.testing.assert_close(state["params"][name], union["params"][name], rtol=0, atol=1e-10)
            assert torch.equal(state["params"][name], ranks[0]["params"][name])
        (record,), (reference,) = state["records"], union["records"]
        assert record["loss"] == pytest.approx(reference["loss"], rel=1e-12)
        assert record["nonfinite_grads"] == reference["nonfinite_grads"] == 1  # rank 1's NaN, zeroed on both
        assert torch.equal(state["grads"][nan_name], torch.zeros_like(initial[nan_name]))
        assert torch.equal(state["params"][nan_name], initial[nan_name].detach())
    masked = 0
    for prior in (m for m in model.modules() if hasattr(m, "weight_mask")):
        frozen = ~prior.weight_mask
        for name in ("mean", "log_scale"):
            key = next(k for k, v in model.named_parameters() if v is getattr(prior, name))
            grad = ranks[0]["grads"].get(key)  # None where the whole layer's prior is frozen
            assert grad is None or torch.equal(grad[frozen], torch.zeros_like(grad[frozen]))
            assert torch.equal(ranks[0]["params"][key][frozen], initial[key].detach()[frozen])
            masked += int(frozen.sum()) if grad is not None else 0
    assert masked > 0  # ρ = 0.5: the boundary layer has frozen and learnable prior parameters

    alone, _ = single(rank_tasks[0])  # the test discriminates: rank 0's own gradient is not the union's
    changed = [
        (alone["grads"][n] - g).abs().max() / g.abs().max()
        for n, g in union["grads"].items()
        if g.abs().max() > 0
    ]
    assert max(changed) > 1e-2


def test_a_resumed_distributed_run_reproduces_an_uninterrupted_one(tmp_path):
    """4 steps on 2 ranks, killed in step 3 (resume state of step 2), rerun: the same parameters and log; the
    resume file of 2 ranks also continues on 1 process (another world size), with a warning."""
    _torchrun("resume", tmp_path)
    straight = torch.load(tmp_path / "straight.pt", weights_only=True)
    resumed = torch.load(tmp_path / "crashed.pt", weights_only=True)
    assert straight["model_state"].keys() == resumed["model_state"].keys()
    assert all(torch.equal(v, resumed["model_state"][k]) for k, v in straight["model_state"].items())
    assert straight["world_size"] == 2 and len(straight["ranks"]) == 2

    def log(name):
        return [
            {k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (tmp_path / name).read_text().splitlines()
        ]

    assert log("crashed.jsonl") == log("straight.jsonl") and [r["step"] for r in log("straight.jsonl")] == [
        1,
        2,
        3,
        4,
    ]
    for rank in range(2):
        assert torch.load(tmp_path / f"resumed_rank{rank}.pt", weights_only=True)["steps"] == [3, 4]
    assert not (tmp_path / "crashed.resume.pt").exists() and not (tmp_path / "straight.resume.pt").exists()

    saved = torch.load(tmp_path / "elastic.resume.pt", weights_only=True)
    assert saved["step"] == 2 and saved["ranks"][0]["sampler"] != saved["ranks"][1]["sampler"]
    with pytest.warns(UserWarning, match=r"written by 2 training process\(es\), this run has 1"):
        records = fit(
            H.make_model(),
            H.make_sampler(),
            H.resume_config(),
            checkpoint_path=tmp_path / "elastic.pt",
            resume_path=tmp_path / "elastic.resume.pt",
            progress=False,
        )
    assert [r["step"] for r in records] == [3, 4]


def test_distributed_config_is_validated():
    config = config_from_dict(ExperimentConfig, {"train": {"distributed": {"nproc": 4, "backend": "nccl"}}})
    assert config.train.distributed.nproc == 4 and config.train.distributed.backend == "nccl"
    for section, message in [
        ({"distributed": {"nproc": 0}}, r"train.distributed.nproc: got 0; expected a positive integer"),
        ({"distributed": {"nprocs": 2}}, r"unknown key\(s\) \['nprocs'\].*did you mean 'nproc'"),
        ({"distributed": {"nproc": 2}, "device": "cuda:1"}, r"train.device: got 'cuda:1' with .*nproc = 2"),
        ({"distributed": {"backend": "nccl"}, "device": "cpu"}, r"got 'nccl' with train.device 'cpu'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            config_from_dict(ExperimentConfig, {"train": section})


def test_launch_settings_do_not_change_the_run_fingerprint(tmp_path):
    """A run started on 1 process resumes when relaunched with other launch settings (nproc, dask address)."""
    cfg = H.resume_config()
    experiment = config_to_dict(ExperimentConfig(train=cfg))
    crash = crashing(3)
    with pytest.raises(KeyboardInterrupt):
        fit(H.make_model(), H.make_sampler(), cfg, checkpoint_path=tmp_path / "c.pt", experiment=experiment,
            objective=crash, progress=False)  # fmt: skip
    relaunched = replace(cfg, distributed=DistributedConfig(nproc=2))
    experiment = config_to_dict(ExperimentConfig(train=relaunched)) | {
        "data": experiment["data"] | {"dask_scheduler": "tcp://x:1"}
    }
    records = fit(H.make_model(), H.make_sampler(), relaunched, checkpoint_path=tmp_path / "c.pt",
                  experiment=experiment, progress=False)  # fmt: skip
    assert [r["step"] for r in records] == [3, 4]
