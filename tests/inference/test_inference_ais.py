"""AIS log marginal likelihood against the closed-form Bayesian linear regression evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.oracles import blr_log_evidence  # tests/ is on sys.path, see tests/conftest.py
from scipy.special import logsumexp

from climate_bnnp.inference import ais_log_marginal, geometric_schedule


def _linear_regression(num_points=30, dim=5, prior_std=1.0, noise_std=0.1, seed=0):
    """``y = X w + σ ε``, ``w = s z``, ``z ~ N(0, I)``: log-likelihood of ``z``, exact log evidence."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_points, dim))
    y = x @ (prior_std * rng.normal(size=dim)) + noise_std * rng.normal(size=num_points)
    exact = blr_log_evidence(x, y, noise_std, prior_std**2 * np.eye(dim))
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)

    def log_lik(z):
        rss = ((yt - prior_std * z @ xt.T) ** 2).sum(-1)
        return -0.5 * num_points * math.log(2 * math.pi * noise_std**2) - rss / (2 * noise_std**2)

    return log_lik, exact


def test_ais_matches_the_closed_form_evidence_where_naive_monte_carlo_fails():
    """Bayesian linear regression with a tight posterior (σ_y = 0.1, N = 30, D = 5): AIS lands within a few
    s.e. of the exact log evidence; naive MC with as many likelihood evaluations is > 10 nats off."""
    log_lik, exact = _linear_regression()
    result = ais_log_marginal(log_lik, 5, num_chains=32, num_temps=500, leapfrog=5, seed=1)
    assert abs(result.log_z - exact) < 4 * result.se + 0.05, (result.log_z, result.se, exact)
    assert result.ess > 4 and 0.4 < result.acceptance < 0.9, result
    z = torch.randn(result.evaluations, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    naive = float(logsumexp(log_lik(z).numpy()) - math.log(len(z)))
    assert exact - naive > 10 * abs(result.log_z - exact) + 5.0, (naive, result.log_z, exact)


def test_ais_with_a_constant_likelihood_returns_it_exactly():
    result = ais_log_marginal(lambda z: 0.0 * z.sum(-1) - 3.5, 4, num_temps=20, leapfrog=2)
    assert result.log_z == pytest.approx(-3.5, abs=1e-12) and result.se == pytest.approx(0.0, abs=1e-12)
    assert result.ess == pytest.approx(32.0)


def test_geometric_schedule_and_bad_input():
    betas = geometric_schedule(10, 1e-4)
    assert betas[0] == 0.0 and betas[1] == pytest.approx(1e-4) and betas[-1] == pytest.approx(1.0)
    assert len(betas) == 11 and np.all(np.diff(betas) > 0)
    np.testing.assert_allclose(betas[2:] / betas[1:-1], betas[2] / betas[1])  # constant Δβ / β
    with pytest.raises(ValueError, match="first"):
        geometric_schedule(10, 0.0)
    with pytest.raises(ValueError, match="num_chains"):
        ais_log_marginal(lambda z: z.sum(-1), 3, num_chains=1)
