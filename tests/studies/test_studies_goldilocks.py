"""Goldilocks study: structural checks at CI size; no claim about which ρ wins.

The study: docs/results/goldilocks.md.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from climate_bnnp.studies import goldilocks as gl

QUICK = gl.STUDY.size("quick")


@pytest.fixture(scope="module")
def regions():
    return gl.load_regions()


def _prior_tensors(model):
    return [p.detach().clone() for layer in model.layers for p in layer.prior.parameters()]


def test_rho_zero_keeps_the_standard_prior_and_rho_one_moves_it(regions):
    moved = {}
    for rho in (0.0, 1.0):
        model = gl.train_model(regions, rho, QUICK, seed=0)
        fresh = gl.build_model(rho, QUICK, seed=0)
        # the standard prior N(0, I / D): zero mean, zero log-scales and off-diagonals
        assert all(torch.count_nonzero(p) == 0 for p in _prior_tensors(fresh))
        moved[rho] = max(float(p.abs().max()) for p in _prior_tensors(model))
    assert moved[0.0] == 0.0
    assert moved[1.0] > 1e-4


def test_cube_split_targets_the_cube_and_three_quarters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    context, target = gl.cube_split(x, np.random.default_rng(1))
    assert len(np.intersect1d(context, target)) == 0 and len(context) + len(target) == 400
    assert len(target) == 300
    distance = np.abs(x - x.mean(0)).max(-1)
    in_cube = np.flatnonzero(distance <= np.quantile(distance, 0.2))
    assert len(in_cube) == 80 and np.isin(in_cube, target).all()  # every in-cube point is a target
    assert distance[context].min() > distance[in_cube].max()  # the context never sees the cube
    with pytest.raises(ValueError, match="cube_fraction"):
        gl.cube_split(x, rng, cube_fraction=0.8)


def test_regions_are_disjoint_and_standardised_on_the_training_regions(regions):
    assert set(regions) == set(gl.REGIONS) and gl.TEST_REGION not in gl.TRAIN_REGIONS
    train_x = np.concatenate([regions[r].x[list(gl.TRAIN_TIMES)].reshape(-1, 4) for r in gl.TRAIN_REGIONS])
    np.testing.assert_allclose(train_x.mean(0), 0.0, atol=1e-9)
    np.testing.assert_allclose(train_x.std(0), 1.0, rtol=1e-9)
    tasks = gl.test_tasks(regions, 2)
    assert [len(t[0]) + len(t[2]) for t in tasks] == [900, 900] and len(tasks[0][2]) == 675


def test_aggregate_pairs_seeds_against_rho_zero_and_one():
    per_seed = {
        "rho=0": {0: {"ppd": [1.0, 3.0], "mae": [1.0, 1.0]}, 1: {"ppd": [0.0, 0.0], "mae": [2.0, 2.0]}},
        "rho=0.5": {0: {"ppd": [3.0, 3.0], "mae": [1.0, 1.0]}, 1: {"ppd": [4.0, 0.0], "mae": [1.0, 1.0]}},
        "rho=1": {0: {"ppd": [0.0, 0.0], "mae": [0.0, 0.0]}, 1: {"ppd": [1.0, 1.0], "mae": [0.0, 0.0]}},
        "GIVI": {0: {"ppd": [0.0, 0.0], "mae": [0.0, 0.0]}, 1: {"ppd": [2.0, 2.0], "mae": [0.0, 0.0]}},
    }
    summary = gl.aggregate(per_seed)
    assert summary["table"]["rho=0.5"]["ppd"]["mean"] == pytest.approx(2.5)
    d = summary["paired"]["rho=0.5"]["rho=0"]["ppd"]  # per seed: 3 − 2 = 1, 2 − 0 = 2
    assert d["mean"] == pytest.approx(1.5) and d["se"] == pytest.approx(0.5)
    assert summary["paired"]["rho=0.5"]["rho=1"]["mae"]["mean"] == pytest.approx(1.0)
    assert "GIVI" not in summary["paired"] and "rho=1" not in summary["paired"]["rho=1"]


def test_quick_sweep_writes_every_row_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "goldilocks"
    result = gl.run(QUICK, out, log=lambda *_: None)
    labels = {f"rho={r:g}" for r in QUICK.rhos} | {"GIVI", "MFVI"}
    assert set(result["table"]) == labels
    for row in result["per_seed"].values():
        assert all(len(row["0"][k]) == QUICK.num_test_tasks for k in ("ppd", "mae"))
        assert np.isfinite(row["0"]["ppd"]).all()
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["table"]) == labels and (out / "goldilocks.png").stat().st_size > 0
    assert (out / "results.md").read_text().count("| BNNP ρ = ") == len(QUICK.rhos)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished (ρ, seed) was trained again")

    monkeypatch.setattr(gl, "train_model", no_training)
    monkeypatch.setattr(gl, "evaluate_baselines", no_training)
    again = gl.run(QUICK, out, log=lambda *_: None)
    assert again["per_seed"] == result["per_seed"]
    with pytest.raises(ValueError, match="another study size"):
        gl.run(replace(QUICK, steps=5), out, log=lambda *_: None)
