"""ELBO study: MC marginal likelihood, MFVI KL, dataset, and the quick run's qualitative claim."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from climate_bnnp.studies import elbo as study
from climate_bnnp.studies.mfvi import MeanFieldBNN


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def test_mfvi_kl_matches_torch_distributions():
    model = MeanFieldBNN((3, 2), noise_std=0.1, seed=0)
    expected = 0.0
    for mean, raw, prior_std in zip(model.means, model.raw_stds, model.prior_stds, strict=True):
        q = torch.distributions.Normal(mean, torch.nn.functional.softplus(raw))
        p = torch.distributions.Normal(torch.zeros_like(mean), prior_std)
        expected += float(torch.distributions.kl_divergence(q, p).sum().detach())
    assert float(model.kl().detach()) == pytest.approx(expected, rel=1e-10)


@pytest.mark.slow
def test_quick_study_bnnp_elbo_is_close_to_the_mc_lml(tmp_path, one_thread):
    """Quick size (σ_y = 0.1): the single-task BNNP ELBO is within 2 nats below the MC LML, beats MFVI."""
    result = study.run(study.QUICK, tmp_path, log=lambda *_: None)
    row = result["rows"][0]
    assert row["noise_std"] == 0.1
    gap = row["mc_lml"] - row["bnnp_elbo"]
    assert -0.5 < gap < 2.0, row  # an ELBO cannot exceed the LML beyond MC error
    assert row["bnnp_elbo"] > row["mfvi_elbo"] + 10.0, row
    assert (tmp_path / "elbo.md").exists() and (tmp_path / "elbo.json").exists()
