"""Goldilocks study: structural checks at CI size; no claim about which ρ wins.

The study: docs/results/goldilocks.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from climate_bnnp.layers import accumulate_natural
from climate_bnnp.studies import goldilocks as gl
from climate_bnnp.studies.givi import build_givi, fit_givi


@pytest.fixture(scope="module")
def regions():
    return gl.load_regions()


def _prior_tensors(model):
    return [p.detach().clone() for layer in model.layers for p in layer.prior.parameters()]


def test_rho_zero_keeps_the_standard_prior_and_rho_one_moves_it(regions):
    moved = {}
    for rho in (0.0, 1.0):
        model = gl.train_model(regions, rho, gl.QUICK, seed=0)
        fresh = gl.build_model(rho, gl.QUICK, seed=0)
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


def _linear_oracle(x, y, sigma):
    """Exact posterior of y = W [x, 1] + ε under W ~ N(0, I / D), ε ~ N(0, σ²)."""
    h = np.c_[x, np.ones(len(x))]
    precision = h.shape[1] * np.eye(h.shape[1]) + h.T @ h / sigma**2
    cov = np.linalg.inv(precision)
    return cov @ h.T @ y[:, 0] / sigma**2, cov


def _givi_posterior(model, x, y):
    layer = model.layers[0]
    xs, ys = torch.as_tensor(x)[None], torch.as_tensor(y)[None]
    yhat, lam = layer.pseudo_observations(xs, ys, None, None)
    post = layer.posterior(accumulate_natural(layer.features(xs[None]), lam[None], yhat[None]))
    cov = post.chol_inv.mT @ post.chol_inv
    return post.mean.detach().reshape(-1).numpy(), cov.detach().reshape(3, 3).numpy()


def test_givi_on_a_linear_model_is_the_closed_form_posterior():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    sigma = 0.3
    y = (x @ np.array([0.5, -1.0]) + 0.2 + sigma * rng.normal(size=30))[:, None]
    mean, cov = _linear_oracle(x, y, sigma)
    # pseudo-noise = σ at every point: GIVI's posterior is the exact one
    model = build_givi(30, 2, (), learn_noise=False, noise_init=sigma)
    with torch.no_grad():
        model.layers[0].inference_net.table.fill_(math.log(sigma) + 2.0)  # log σ = raw − 2
    got_mean, got_cov = _givi_posterior(model, x, y)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-4, atol=1e-5)  # PRECISION_FLOOR 1e-6 on σ²
    np.testing.assert_allclose(got_cov, cov, rtol=1e-4, atol=1e-7)
    # fitted by the ELBO from a different start, it approaches the exact posterior
    fitted = fit_givi(x, y, (), steps=150, num_samples=8, lr=0.05, final_lr=0.01, learn_noise=False,
                      noise_init=sigma)  # fmt: skip
    start = build_givi(30, 2, (), learn_noise=False, noise_init=sigma)  # pseudo-noise 0.37, not σ = 0.3

    def cov_error(m):
        return np.abs(_givi_posterior(m, x, y)[1] - cov).max() / np.abs(cov).max()

    assert cov_error(fitted) < 0.1 < 0.3 < cov_error(start)
    assert np.abs(_givi_posterior(fitted, x, y)[0] - mean).max() < 0.03
    with pytest.raises(ValueError, match="inducing inputs"):
        fitted(torch.as_tensor(x[:5])[None], torch.as_tensor(y[:5])[None], torch.as_tensor(x)[None])


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
    result = gl.run(gl.QUICK, out, log=lambda *_: None)
    labels = {f"rho={r:g}" for r in gl.QUICK.rhos} | {"GIVI", "MFVI"}
    assert set(result["table"]) == labels
    for row in result["per_seed"].values():
        assert all(len(row["0"][k]) == gl.QUICK.num_test_tasks for k in ("ppd", "mae"))
        assert np.isfinite(row["0"]["ppd"]).all()
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["table"]) == labels and (out / "goldilocks.png").stat().st_size > 0
    assert (out / "results.md").read_text().count("| BNNP ρ = ") == len(gl.QUICK.rhos)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished (ρ, seed) was trained again")

    monkeypatch.setattr(gl, "train_model", no_training)
    monkeypatch.setattr(gl, "evaluate_baselines", no_training)
    again = gl.run(gl.QUICK, out, log=lambda *_: None)
    assert again["per_seed"] == result["per_seed"]
    with pytest.raises(ValueError, match="another study size"):
        gl.run(replace(gl.QUICK, steps=5), out, log=lambda *_: None)
