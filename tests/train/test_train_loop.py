"""The meta-training loop: the ρ knob during training, exact resume, config validation."""

import json

import pytest
import torch
from helpers.faults import crashing  # tests/ is on sys.path, see tests/conftest.py

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


def _make(seed=7):
    torch.manual_seed(seed)  # the initial weights; a resumed run must not depend on them
    return BNNP(hidden_dims=(8, 8), inf_hidden_dims=(8,), seed=1)


def _log(path):
    """The JSON-lines log without the wall-clock field."""
    return [
        {k: v for k, v in json.loads(line).items() if k != "seconds"}
        for line in path.read_text().splitlines()
    ]


def _same_parameters(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _close_parameters(a, b):
    """Equal to rounding: CUDA kernels need not be bitwise deterministic run to run."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.allclose(sa[k], sb[k], rtol=1e-9, atol=1e-12) for k in sa)


def test_one_step_of_fit_is_one_adam_step_written_out():
    """fit(steps=1) == the step by hand (seeded draws, loss, backward, Adam), with one parameter's gradient
    made NaN in fit: the guard zeroes it (that parameter stays put, Adam's other updates are unaffected)."""
    cfg = TrainConfig(steps=1, batch_size=3, num_samples=3, device="cpu", seed=4)
    fitted, by_hand, initial = _make(), _make(), _make()
    name = [n for n, p in fitted.named_parameters() if p.requires_grad][-1]
    dict(fitted.named_parameters())[name].register_hook(lambda grad: grad * float("nan"))
    (record,) = fit(fitted, _sampler(seed=99), cfg, progress=False)

    torch.manual_seed(cfg.seed)
    batch = _sampler(seed=cfg.seed).sample(cfg.batch_size)
    by_hand.double().train()
    optimiser = torch.optim.Adam(by_hand.parameters(), lr=cfg.lr)
    loss = -pp_avi(by_hand, batch, num_samples=cfg.num_samples, beta=cfg.beta, chunk_size=None).mean()
    loss.backward()
    optimiser.step()

    assert record["loss"] == float(loss.detach()) and record["nonfinite_grads"] == 1
    assert record["lr"] == pytest.approx(cfg.final_lr)  # the linear decay's end after its one step
    after, expected, start = fitted.state_dict(), by_hand.state_dict(), initial.double().state_dict()
    assert torch.equal(after[name], start[name]) and not torch.equal(expected[name], start[name])
    assert all(torch.equal(after[k], expected[k]) for k in after if k != name)


def test_two_runs_are_identical(tmp_path):
    cfg = TrainConfig(steps=4, num_samples=3, device="cpu", log_every=1)
    a, b = _make(), _make()
    fit(a, _sampler(), cfg, log_path=tmp_path / "a.jsonl", progress=False)
    fit(b, _sampler(), cfg, log_path=tmp_path / "b.jsonl", progress=False)
    assert _same_parameters(a, b) and _log(tmp_path / "a.jsonl") == _log(tmp_path / "b.jsonl")


def test_resuming_after_a_crash_reproduces_an_uninterrupted_run(tmp_path, device):
    """Crash in step 6 of 8 (resume state saved at step 4); the workflow then deletes the declared outputs
    (checkpoint and log), as Snakemake does; the rerun continues from the resume file (with its CUDA RNG state
    on a GPU)."""
    cfg = TrainConfig(steps=8, num_samples=3, checkpoint_every=4, device=device.type, log_every=1)
    straight = _make()
    records = fit(
        straight,
        _sampler(),
        cfg,
        checkpoint_path=tmp_path / "s.pt",
        log_path=tmp_path / "s.jsonl",
        progress=False,
    )
    assert not (tmp_path / "s.resume.pt").exists()  # removed once the run completed

    ckpt, log = tmp_path / "c.pt", tmp_path / "c.jsonl"
    with pytest.raises(KeyboardInterrupt):
        fit(
            _make(),
            _sampler(),
            cfg,
            checkpoint_path=ckpt,
            log_path=log,
            objective=crashing(6),
            progress=False,
        )
    assert not ckpt.exists() and torch.load(tmp_path / "c.resume.pt", weights_only=True)["step"] == 4
    log.unlink()  # a failed job's outputs are removed

    resumed_model = _make(seed=123)  # other initial weights and another sampler seed: all state is restored
    resumed = fit(resumed_model, _sampler(seed=99), cfg, checkpoint_path=ckpt, log_path=log, progress=False)
    assert [r["step"] for r in resumed] == [5, 6, 7, 8]
    if device.type == "cpu":  # bit-identical
        assert [r["loss"] for r in resumed] == [r["loss"] for r in records[4:]]
        assert _same_parameters(resumed_model, straight)
        assert _log(log) == _log(tmp_path / "s.jsonl")
    else:  # the same task and weight draws (numpy and CUDA RNG states restored), to rounding
        assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in records[4:]], rel=1e-9)
        assert _close_parameters(resumed_model, straight)
    assert [r["step"] for r in _log(log)] == list(range(1, 9))
    assert not (tmp_path / "c.resume.pt").exists()
    loaded = load_checkpoint(ckpt)
    assert loaded.state["step"] == 8 and loaded.config.hidden_dims == (8, 8)
    assert _same_parameters(loaded.model, straight.cpu().eval())


def test_a_resume_file_of_other_settings_is_ignored(tmp_path):
    cfg = TrainConfig(steps=4, num_samples=3, checkpoint_every=2, device="cpu")
    with pytest.raises(KeyboardInterrupt):
        fit(
            _make(),
            _sampler(),
            cfg,
            checkpoint_path=tmp_path / "c.pt",
            objective=crashing(4),
            progress=False,
        )
    assert (tmp_path / "c.resume.pt").exists()
    other = TrainConfig(steps=4, num_samples=3, checkpoint_every=2, device="cpu", lr=2e-3)
    fresh, reference = _make(), _make()
    with pytest.warns(UserWarning, match="written by a run with other settings"):
        records = fit(fresh, _sampler(), other, checkpoint_path=tmp_path / "c.pt", progress=False)
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    fit(reference, _sampler(), other, progress=False)
    assert _same_parameters(fresh, reference)


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


def test_fit_builds_the_model_from_the_seed_whatever_the_caller_did_to_torch(tmp_path):
    """fit(model config): the caller need not seed torch. Oracle: the old route, the caller seeding torch
    with train.seed and building the model itself; two calls after different draws end identical."""
    from climate_bnnp.config import ModelConfig
    from climate_bnnp.models import build_model

    model_config = ModelConfig(hidden_dims=(6,), inf_hidden_dims=(6,), seed=1)
    cfg = TrainConfig(steps=2, batch_size=2, num_samples=2, device="cpu", seed=5)
    torch.manual_seed(123)
    torch.rand(7)
    fit(model_config, _sampler(), cfg, checkpoint_path=tmp_path / "a.pt", progress=False)
    torch.manual_seed(999)
    fit(lambda: build_model(model_config), _sampler(), cfg, checkpoint_path=tmp_path / "b.pt", progress=False)
    torch.manual_seed(cfg.seed)
    by_hand = build_model(model_config)
    fit(by_hand, _sampler(), cfg, progress=False)
    a, b = load_checkpoint(tmp_path / "a.pt").model, load_checkpoint(tmp_path / "b.pt").model
    assert _same_parameters(a, b) and _same_parameters(a, by_hand)
    torch.manual_seed(cfg.seed + 1)
    other = build_model(model_config)
    fit(other, _sampler(), cfg, progress=False)
    assert not _same_parameters(a, other)  # the initial weights matter: the test can fail
