"""ELBO study: MC marginal likelihood, MFVI KL, dataset, the many-dataset summary and its quick claim."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from climate_bnnp.studies import elbo as study
from climate_bnnp.studies import elbo_many as many

QUICK = many.STUDY.size("quick")


def test_dataset_is_seeded_and_in_range():
    x, y = study.make_dataset()
    x2, y2 = study.make_dataset()
    np.testing.assert_array_equal(y, y2)
    assert 21 <= len(x) < 42 and x.shape == (len(x), 1) and y.shape == x.shape
    assert np.all(np.abs(x) <= 4.0)


def test_mc_log_marginal_matches_direct_density_product():
    """Two routes: from residual sums of squares vs scipy's per-point normal densities."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=7)
    f = rng.normal(size=(50, 7))  # 50 "prior draws" of function values
    rss = ((y - f) ** 2).sum(-1)
    for sigma in (0.3, 1.0, 4.0):
        lml, ess = study.mc_log_marginal(rss, 7, sigma)
        direct = logsumexp(norm.logpdf(y, f, sigma).sum(-1)) - math.log(50)
        assert lml == pytest.approx(direct, rel=1e-12)
        assert 1.0 <= ess <= 50.0


def test_prior_residuals_match_an_independent_prior_simulation():
    """Monte-Carlo convergence: mean RSS at y = 0 (= E Σ_n f(x_n)²) agrees with tasks.toy's BNN draws."""
    from climate_bnnp.tasks.toy import draw_bnn_function

    x = np.array([[0.5], [-1.0], [3.0]])
    rss = study.prior_residuals(x, np.zeros((3, 1)), 40_000, batch=15_000, seed=1)
    assert rss.shape == (40_000,) and np.all(rss >= 0)
    rng = np.random.default_rng(2)
    other = np.array([(draw_bnn_function(rng, (20, 20))(x) ** 2).sum() for _ in range(4_000)])
    se = math.sqrt(rss.var() / len(rss) + other.var() / len(other))
    assert abs(rss.mean() - other.mean()) < 4 * se, (rss.mean(), other.mean(), se)


@pytest.mark.slow
def test_quick_many_study_bnnp_elbo_is_just_below_the_ais_lml_and_beats_mfvi(tmp_path):
    """Quick size (one fresh dataset, σ_y = 0.1), paired on that dataset: the gap AIS LML − BNNP ELBO is above
    −3 s.e. (an ELBO cannot exceed the LML beyond noise) and below 2 nats, and the BNNP ELBO beats MFVI's by
    more than 10 nats plus 3 s.e.; a rerun resumes from the written results without computing anything, and
    one with other settings refuses them."""
    result = many.run(QUICK, tmp_path, log=lambda *_: None)
    (row,) = result["rows"]
    assert row["noise_std"] == 0.1
    assert -3 * row["gap_se"] < row["gap"] < 2.0, row
    x, y = study.make_dataset(row["seed"])
    mfvi, mfvi_se = study.fit_mfvi(x, y, 0.1, replace(QUICK.training, mfvi_steps=1500))
    assert row["bnnp_elbo"] - mfvi > 10.0 + 3 * math.hypot(row["bnnp_se"], mfvi_se), (row, mfvi)
    assert (tmp_path / "elbo_many.md").exists()

    def no_new_rows(line):
        raise AssertionError(f"resumed run computed a row: {line}")

    assert many.run(QUICK, tmp_path, log=no_new_rows)["rows"] == result["rows"]
    with pytest.raises(ValueError, match="other settings"):
        many.run(replace(QUICK, ais_temps=10), tmp_path)


def test_bnn_outputs_match_the_toy_prior_function_for_the_same_draws():
    """``z`` laid out layer by layer as ``tasks.toy.draw_bnn_function`` draws its matrices: the same f."""
    from climate_bnnp.tasks.toy import draw_bnn_function

    x = np.linspace(-4, 4, 9)[:, None]
    f = draw_bnn_function(np.random.default_rng(5), study.HIDDEN, act="relu")
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.standard_normal(d_out * (d_in + 1)) for d_in, d_out in study.LAYERS])
    out = study.bnn_outputs(torch.as_tensor(x), torch.as_tensor(z)[None])
    np.testing.assert_allclose(out[0].numpy(), f(x)[:, 0], rtol=1e-12)
    with pytest.raises(ValueError, match="columns"):
        study.bnn_outputs(torch.as_tensor(x), torch.zeros(1, 3, dtype=torch.float64))


def test_bnn_ais_agrees_with_naive_monte_carlo_where_that_is_reliable():
    """σ_y = 1 on the shared dataset: naive MC has a large ESS there, so both estimators must agree."""
    x, y = study.make_dataset()
    mc, ess = study.mc_log_marginal(study.prior_residuals(x, y, 20_000, seed=3), len(x), 1.0)
    result = study.ais_lml(x, y, 1.0, num_chains=16, num_temps=60, leapfrog=3, seed=4)
    assert ess > 500, ess
    assert abs(result.log_z - mc) < 4 * result.se + 0.1, (result.log_z, result.se, mc)


def test_summary_median_interval_and_worst_gap():
    rows = [{"seed": s, "gap": g, "gap_se": 0.1 * s} for s, g in enumerate([0.5, 0.2, 2.0, 0.4, 0.3])]
    summary = many.summarise(rows)
    assert summary["median"] == 0.4 and summary["worst"] == 2.0 and summary["worst_se"] == pytest.approx(0.2)
    assert summary["worst_seed"] == 2 and summary["smallest"] == 0.2
    low, high = summary["median_ci95"]
    assert 0.2 <= low <= 0.4 <= high <= 2.0
