"""benchmarks/context_space_layer.py: the context-space (N × N) layer step matches the current one."""

from __future__ import annotations

import pytest
import torch
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def csl():
    return load_benchmark("context_space_layer.py")


def test_values_draw_law_and_gradients_match_the_current_route(csl):
    exact = csl.check_exactness()
    for case in ("N<D", "N>D", "shared_S'=1"):
        assert max(exact[case].values()) < 1e-12, (case, exact[case])
    toy = exact["toy_size_lambda_1e-4..1e4"]  # λ over eight decades: ill-conditioned posteriors
    assert toy["kl_rel_vs_current"] < 1e-9 and toy["mean_rel_vs_current"] < 1e-9, toy
    assert exact["draw_covariance_TTt_rel_vs_inverse_precision"] < 1e-12
    assert max(exact["grad_rel_vs_current"].values()) < 1e-12, exact["grad_rel_vs_current"]


def test_draws_have_the_posterior_moments_and_a_masked_point_is_ignored(csl):
    s, b, j, dim, n = 4000, 1, 2, 3, 2
    prior, h, yhat, lam = csl._problem(1, 1, b, j, dim, n, seed=3, masked=False)
    zeta, xi = torch.randn(s, b, j, dim, dtype=torch.float64), torch.randn(s, b, j, n, dtype=torch.float64)
    with torch.no_grad():
        w, kl = csl._context(prior, h, yhat, lam, zeta, xi)
        mean, cov, kl_dense = csl._dense_oracle(prior, h, yhat, lam)
        # a masked extra point (λ = 0) changes nothing, whatever its features and pseudo-observation
        pad = lambda t, v: torch.cat([t, torch.full_like(t[:, :, :1], v)], 2)  # noqa: E731
        xi_pad = torch.cat([xi, torch.randn(s, b, j, 1, dtype=torch.float64)], -1)
        w_pad, kl_pad = csl._context(prior, pad(h, 7.0), pad(yhat, 3.0), pad(lam, 0.0), zeta, xi_pad)
    assert torch.allclose(w_pad, w, atol=1e-12) and torch.allclose(kl_pad, kl, atol=1e-12)
    assert kl.shape == (1, b) and torch.allclose(kl, kl_dense, rtol=1e-12)
    centred = w - mean[0]
    emp = torch.einsum("sbjd,sbje->bjde", centred, centred) / s
    err = (emp - cov[0]).abs().max() / cov.abs().max()
    assert err < 0.1, err  # Monte-Carlo error ~ 1/√4000
