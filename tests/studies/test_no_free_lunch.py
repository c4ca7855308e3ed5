"""The no-free-lunch table: batched independent fits, prior adoption by value, the CI-size run.

The study: docs/results/no_free_lunch.md.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from climate_bnnp.layers import MLP
from climate_bnnp.objectives import elbo
from climate_bnnp.studies import no_free_lunch as nfl
from climate_bnnp.studies._single_task import TaskwiseMLP, taskwise_inference_nets
from climate_bnnp.studies.givi import build_givi
from climate_bnnp.studies.prior_transfer import build_model
from climate_bnnp.studies.weight_space import WeightPrior
from climate_bnnp.tasks import Batch, collate


def test_taskwise_mlp_is_separately_seeded_plain_mlps():
    template = MLP(2, (5, 4), 3, "tanh").double()
    net = TaskwiseMLP(template, 3, seed=7)
    x, y = torch.randn(3, 6, 1, dtype=torch.float64), torch.randn(3, 6, 1, dtype=torch.float64)
    out = net(x, y)
    for task in range(3):
        torch.manual_seed(7 + task)
        plain = MLP(2, (5, 4), 3, "tanh").double()  # the same Linear draws in the same order
        assert torch.allclose(out[task], plain(x[task : task + 1], y[task : task + 1])[0], atol=1e-14)
    with pytest.raises(ValueError, match="belong to 3 tasks, got a batch of 2"):
        net(x[:2], y[:2])


def _two_task_batch(seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    tasks = []
    for n in (5, 9):
        x = rng.uniform(-2, 2, (n, 1))
        tasks.append((x, np.sin(3 * x), x, np.sin(3 * x)))
    return collate(tasks)


@pytest.mark.parametrize("kind", ["single-task BNNP", "GIVI"])
def test_batched_fits_share_no_parameter(kind):
    """Task 0's ELBO has no gradient in task 1's parameters (and vice versa): one batch = separate fits."""
    batch = _two_task_batch()
    if kind == "GIVI":
        model = build_givi(batch.xc.shape[1], 1, (6,), learn_noise=False, noise_init=0.1, num_tasks=2)
    else:
        model = taskwise_inference_nets(nfl._fixed_noise_bnnp("sawtooth", 0.1, seed=0), 2)
    params = [p for p in model.parameters() if p.requires_grad]
    assert params and all(p.shape[0] == 2 for p in params)  # every free parameter is per task
    torch.manual_seed(0)
    grads = torch.autograd.grad(elbo(model, batch, num_samples=3)[0], params, allow_unused=True)
    for grad in grads:
        assert grad is None or (grad[1] == 0).all()
    assert any(grad is not None and (grad[0] != 0).any() for grad in grads)


def test_givi_table_rejects_other_tasks():
    model = build_givi(9, 1, (6,), num_tasks=2)
    with pytest.raises(ValueError, match="belong to 2 task"):
        model(torch.zeros(3, 9, 1), torch.zeros(3, 9, 1), torch.zeros(3, 4, 1))


def test_assign_prior_round_trips_a_learned_prior_by_value():
    learned = build_model("gp", 1.0, seed=0)
    with torch.no_grad():  # a non-trivial learned prior: random means, scales and correlations
        for p in (q for layer in learned.layers for q in layer.prior.parameters()):
            p.normal_(0, 0.3)
    prior = WeightPrior.from_model(learned)
    fresh = nfl.assign_prior(nfl._fixed_noise_bnnp("gp", 0.1, seed=1), prior)
    for mine, theirs in zip(fresh.layers, learned.layers, strict=True):
        assert torch.allclose(mine.prior.scale_tril(), theirs.prior.scale_tril(), atol=1e-12)
        assert torch.allclose(mine.prior.mean, theirs.prior.mean)
        assert not any(p.requires_grad for p in mine.prior.parameters())  # fixed (ρ = 0)
    with torch.no_grad():
        learned.layers[0].prior.mean.add_(1.0)  # by value: later changes to the source do not leak
    assert not torch.allclose(fresh.layers[0].prior.mean, learned.layers[0].prior.mean)


def test_quick_table_runs_resumes_and_refuses_another_size(tmp_path):
    size, fast = replace(nfl.QUICK, families=("gp",)), ("MFVI", "SWAG", "HMC")
    data = nfl.run(size, tmp_path, priors=("standard",), methods=fast, log=lambda *_: None)
    assert set(data["summary"]["gp"]) == {*fast, "exact GP (ceiling)"}
    for method in fast:
        cell = data["cells"]["gp"][method]["standard"]
        assert len(cell["ppd"]) == size.num_test_tasks and np.isfinite(cell["ppd"]).all(), method
        assert cell["noise_std"] == nfl.STANDARD_NOISE
    # the exact GP posterior is the ceiling on its own family, paired over tasks, beyond 2 s.e.
    ceiling = np.asarray(data["cells"]["gp"]["exact GP (ceiling)"]["standard"]["ppd"])
    for method in fast:
        diff = ceiling - np.asarray(data["cells"]["gp"][method]["standard"]["ppd"])
        assert diff.mean() > 2 * diff.std(ddof=1) / np.sqrt(len(diff)), method
    assert "| gp | HMC |" in (tmp_path / "no_free_lunch.md").read_text()
    # a rerun reads every cell back instead of refitting
    cells = sorted((tmp_path / "no_free_lunch_cells").glob("gp_*.json"))
    stamps = [c.stat().st_mtime_ns for c in cells]
    again = nfl.run(size, tmp_path, priors=("standard",), methods=fast, log=lambda *_: None)
    assert [c.stat().st_mtime_ns for c in cells] == stamps
    assert json.dumps(again["cells"]) == json.dumps(data["cells"])
    with pytest.raises(ValueError, match="another study size"):
        nfl.run(replace(size, mfvi_steps=151), tmp_path, priors=("standard",), methods=fast)


def test_learned_prior_cells_adopt_the_meta_trained_prior_and_noise(tmp_path):
    size = replace(nfl.QUICK, num_test_tasks=3)
    bnnp_type = ("BNNP (amortised)", "BNNP (single-task ELBO)", "GIVI")
    data = nfl.run(size, tmp_path, checkpoint_dir=tmp_path, priors=("learned",), methods=bnnp_type)
    model, steps = nfl.meta_trained("sawtooth", size, tmp_path, train=False)
    assert steps == size.meta_steps and data["meta_steps"] == {"sawtooth": size.meta_steps}
    cells = data["cells"]["sawtooth"]
    for method in bnnp_type:
        assert cells[method]["learned"]["noise_std"] == pytest.approx(float(model.noise_std()[0]), rel=1e-12)
        assert np.isfinite(cells[method]["learned"]["ppd"]).all()
    table = (tmp_path / "no_free_lunch.md").read_text()
    assert f"sawtooth {size.meta_steps:,} steps" in table and "| sawtooth | GIVI | — |" in table
