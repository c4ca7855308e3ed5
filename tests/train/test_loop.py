"""The meta-training loop: the ρ knob during training, exact resume, config validation."""

import json

import pytest
import torch

from climate_bnnp import BNNP, load_checkpoint
from climate_bnnp.config import ConfigError, ExperimentConfig, TrainConfig, load_config
from climate_bnnp.objectives import pp_avi
from climate_bnnp.tasks import TaskSampler, family_source
from climate_bnnp.train import fit


def _sampler(seed=0):
    return TaskSampler(
        family_source("gp", min_points=10, max_points=20), context_fraction=(0.2, 0.6), seed=seed
    )


def _prior_state(model):
    return {k: v.clone() for k, v in model.state_dict().items() if ".prior." in k and "mask" not in k}


@pytest.mark.parametrize("fraction,changes", [(0.0, False), (1.0, True)])
def test_a_training_step_changes_the_prior_only_when_learnable(fraction, changes):
    model = BNNP(hidden_dims=(8,), inf_hidden_dims=(8,), prior_learnable_fraction=fraction)
    before = _prior_state(model)
    fit(model, _sampler(), TrainConfig(steps=2, num_samples=2, device="cpu"), progress=False)
    after = _prior_state(model)
    moved = any(not torch.equal(before[k].double(), after[k].double()) for k in before)
    assert moved == changes


def test_resuming_from_a_checkpoint_reproduces_an_uninterrupted_run(tmp_path):
    cfg = TrainConfig(steps=8, num_samples=3, checkpoint_every=4, device="cpu", log_every=1)

    def make():
        torch.manual_seed(7)  # same initialisation for both runs
        return BNNP(hidden_dims=(8, 8), inf_hidden_dims=(8,), seed=1)

    straight = fit(make(), _sampler(), cfg, progress=False)

    calls = 0

    def crashing_objective(*args, **kwargs):  # the run is killed during step 6
        nonlocal calls
        calls += 1
        if calls == 6:
            raise KeyboardInterrupt
        return pp_avi(*args, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        fit(
            make(),
            _sampler(),
            cfg,
            checkpoint_path=tmp_path / "c.pt",
            log_path=tmp_path / "log.jsonl",
            objective=crashing_objective,
            progress=False,
        )
    assert torch.load(tmp_path / "c.pt", weights_only=True)["step"] == 4
    resumed = fit(
        make(),
        _sampler(seed=99),
        cfg,
        checkpoint_path=tmp_path / "c.pt",
        log_path=tmp_path / "log.jsonl",
        progress=False,
    )
    assert [r["step"] for r in resumed] == [5, 6, 7, 8]
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight[4:]]
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt.state["step"] == 8 and ckpt.config.hidden_dims == (8, 8)
    steps = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 5, 6, 7, 8]  # step 5 was logged before the crash and again after


def test_load_config_rejects_unknown_keys_helpfully(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("model:\n  hiden_dims: [8, 8]\ntrain:\n  steps: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['hiden_dims'\].*did you mean 'hidden_dims'"):
        load_config(path)
    path.write_text("model:\n  hidden_dims: [8, 8]\ntrain:\n  steps: 3\n")
    cfg = load_config(path)
    assert isinstance(cfg, ExperimentConfig) and cfg.model.hidden_dims == (8, 8) and cfg.train.steps == 3


def test_checkpoint_loading_refuses_foreign_files(tmp_path):
    torch.save({"something": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a climate_bnnp checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
