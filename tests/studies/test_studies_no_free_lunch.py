"""The no-free-lunch table (spec §5.3): prior adoption by value, the CI-size run."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from climate_bnnp.inference import WeightPrior
from climate_bnnp.studies import no_free_lunch as nfl
from climate_bnnp.studies.prior_transfer import build_model

QUICK = nfl.STUDY.size("quick")


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
    size, fast = replace(QUICK, families=("gp",)), ("MFVI", "SWAG", "HMC")
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
    size = replace(QUICK, num_test_tasks=3)
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
