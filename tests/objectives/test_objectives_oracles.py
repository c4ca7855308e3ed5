"""PP-AVI, NPML and NPVI against oracles that share no code with the package.

The model has no hidden layer and an exact final layer (pseudo-noise = σ_y) under the standard prior
``N(0, I / D)``: the weight posterior is Bayesian linear regression, and every quantity has a closed form.

* brute force: each objective recomputed in numpy/scipy from the same sampled weights (to rounding);
* closed form: NPML → ``log p(y_t | y_c)``, NPVI → ``log p(y_t | y_c)`` (ELBO at the exact posterior),
  PP-AVI → ``log p(y_c) + log p(y_t | y_c) = log p(y_c, y_t)`` as S grows, within 5 Monte-Carlo standard
  errors (estimated from the same draws);
* β exactly: ``pp_avi(β) − pp_avi(1) = (β − 1)(PPL − KL)`` and ``npvi(β) − npvi(1) = −(β − 1) KL``;
* the model's KL against ``torch.distributions`` for randomised full and diagonal priors, two layers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.models import randomise_prior  # tests/ is on sys.path, see tests/conftest.py
from helpers.oracles import blr_log_evidence, blr_posterior, features, gaussian_kl
from scipy.special import logsumexp
from scipy.stats import norm
from torch.distributions import MultivariateNormal, kl_divergence

from climate_bnnp import BNNP
from climate_bnnp.objectives import npml, npvi, pp_avi
from climate_bnnp.tasks import Batch

SIGMA = 0.4
NC, NT, DIM_X = 12, 4, 2
D = DIM_X + 1  # weights per unit, bias included
S = 20_000


def _task(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(NC + NT, DIM_X))
    y = x @ np.array([0.7, -1.2]) + 0.3 + SIGMA * rng.normal(size=NC + NT)
    return x, y


def _model():
    return BNNP(
        dim_x=DIM_X, hidden_dims=(), exact_final_layer=True, noise_init=SIGMA, learn_noise=False
    ).double()


def _batch(x, y):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))[None]  # noqa: E731
    return Batch(t(x[:NC]), t(y[:NC, None]), t(x[NC:]), t(y[NC:, None]))


PRIOR_COV = np.eye(D) / D  # the standard prior N(0, I / D)


def _log_evidence(x, y, sigma):
    """``log p(y | x)`` under ``w ~ N(0, I / D)``, ``y = w·[x, 1] + N(0, σ²)``."""
    return blr_log_evidence(features(x), y, sigma, PRIOR_COV)


def _blr(x, y, sigma):
    """Exact posterior mean and covariance of the weights."""
    return blr_posterior(features(x), y, sigma, PRIOR_COV)


def _draws(model, batch, seed, xc=None, yc=None, **kwargs):
    """The weights ``(S, D)`` that an objective called after ``torch.manual_seed(seed)`` uses."""
    torch.manual_seed(seed)
    xc = batch.xc if xc is None else xc
    yc = batch.yc if yc is None else yc
    return model.sample_weights(xc, yc, num_samples=S, **kwargs).weights[0][:, 0, 0].numpy()


def _loglik(x, y, w, sigma):
    """``Σ_n log N(y_n; w_s·[x_n, 1], σ²)`` per draw ``(S,)``."""
    return norm.logpdf(y[None], w @ features(x).T, sigma).sum(-1)


def _log_mean_exp(values):
    """``log 1/S Σ exp(v_s)`` and its delta-method standard error."""
    w = np.exp(values - values.max())
    return logsumexp(values) - math.log(len(values)), w.std() / (w.mean() * math.sqrt(len(values)))


@torch.no_grad()
def test_npml_against_brute_force_and_the_exact_log_predictive():
    model, (x, y) = _model(), _task(0)
    sig = float(model.likelihood.std())  # σ_y as the model holds it (float32-rounded 0.4)
    batch = _batch(x, y)
    torch.manual_seed(1)
    value = npml(model, batch, num_samples=S).item()
    w = _draws(model, batch, 1)
    brute, se = _log_mean_exp(_loglik(x[NC:], y[NC:], w, sig))
    assert value == pytest.approx(brute, abs=1e-10)
    exact = _log_evidence(x, y, sig) - _log_evidence(x[:NC], y[:NC], sig)
    assert abs(brute - exact) < 5 * se, (brute, exact, se)


@torch.no_grad()
def test_npvi_against_brute_force_the_exact_log_predictive_and_beta():
    """At the exact posteriors, ``E_{p(w | c, t)}[log p(y_t | w)] − KL[p(w | c, t) ‖ p(w | c)]`` is
    ``log p(y_t | y_c)``."""
    model, (x, y) = _model(), _task(1)
    sig = float(model.likelihood.std())  # σ_y as the model holds it (float32-rounded 0.4)
    batch = _batch(x, y)
    torch.manual_seed(2)
    value = npvi(model, batch, num_samples=S).item()
    torch.manual_seed(2)
    tempered = npvi(model, batch, num_samples=S, beta=0.3).item()
    kl_mask = torch.arange(NC + NT)[None] < NC
    t = lambda a: torch.from_numpy(a)[None]  # noqa: E731
    w = _draws(model, batch, 2, t(x), t(y[:, None]), kl_mask=kl_mask)  # draws from q(w | c ∪ t)
    ll = _loglik(x[NC:], y[NC:], w, sig)
    kl = gaussian_kl(*_blr(x, y, sig), *_blr(x[:NC], y[:NC], sig))
    assert value == pytest.approx(ll.mean() - kl, abs=1e-9)
    assert tempered - value == pytest.approx(-(0.3 - 1.0) * kl, abs=1e-9)
    exact = _log_evidence(x, y, sig) - _log_evidence(x[:NC], y[:NC], sig)
    assert abs(ll.mean() - kl - exact) < 5 * ll.std() / math.sqrt(S), (ll.mean() - kl, exact)
    # the draws really come from p(w | c, t): their mean is the exact posterior mean
    mean, cov = _blr(x, y, sig)
    assert np.all(np.abs(w.mean(0) - mean) < 5 * np.sqrt(np.diag(cov) / S))


@torch.no_grad()
def test_pp_avi_against_brute_force_the_joint_evidence_and_beta():
    """``pp_avi = ELL_c + β PPL_t − β KL``; at β = 1 and the exact posterior it estimates
    ``log p(y_c, y_t)``."""
    model, (x, y) = _model(), _task(2)
    sig = float(model.likelihood.std())  # σ_y as the model holds it (float32-rounded 0.4)
    batch = _batch(x, y)
    values = {}
    for beta in (1.0, 0.25, 2.0):
        torch.manual_seed(3)
        values[beta] = pp_avi(model, batch, num_samples=S, beta=beta).item()
    w = _draws(model, batch, 3)  # draws from q(w | c) = p(w | c)
    ell = _loglik(x[:NC], y[:NC], w, sig)
    ppl, ppl_se = _log_mean_exp(_loglik(x[NC:], y[NC:], w, sig))
    mean, cov = _blr(x[:NC], y[:NC], sig)
    kl = gaussian_kl(mean, cov, np.zeros(D), PRIOR_COV)
    assert values[1.0] == pytest.approx(ell.mean() + ppl - kl, abs=1e-9)
    for beta in (0.25, 2.0):  # the same draws: the difference is exact
        assert values[beta] - values[1.0] == pytest.approx((beta - 1.0) * (ppl - kl), abs=1e-9)
    se = ell.std() / math.sqrt(S) + ppl_se
    assert abs(values[1.0] - _log_evidence(x, y, sig)) < 5 * se, (values[1.0], _log_evidence(x, y, sig), se)


def _prior_from_raw(prior):
    """``(mean (J, D), covariance (J, D, D))`` rebuilt from the raw parameters."""
    scale = torch.exp(prior.log_scale.detach())  # (J, D)
    chol = torch.diag_embed(scale)
    if prior.kind == "full":
        chol = chol + torch.tril(prior.offdiag.detach(), -1)
    return prior.mean.detach(), chol @ chol.mT / prior.fan_in


@pytest.mark.parametrize("prior_type", ["full", "diagonal"])
@torch.no_grad()
def test_model_kl_against_torch_distributions(prior_type):
    """Two layers, learned pseudo-noise, randomised prior: per draw, the KL is the sum over layers and units
    of ``KL(q(w_lj | W_<l) ‖ p(w_lj))`` with the posterior from prior × Gaussian pseudo-likelihood."""
    model = BNNP(dim_x=2, dim_y=2, hidden_dims=(3,), inf_hidden_dims=(8,), prior_type=prior_type).double()
    randomise_prior(model, seed=4)
    g = torch.Generator().manual_seed(0)
    xc = torch.randn(2, 9, 2, generator=g, dtype=torch.float64)
    yc = torch.randn(2, 9, 2, generator=g, dtype=torch.float64)
    torch.manual_seed(5)
    sample = model.sample_weights(xc, yc, num_samples=3)
    expected = torch.zeros(3, 2, dtype=torch.float64)
    for s in range(3):
        for b in range(2):
            a = xc[b]  # (N, Dx): the first layer's input; later layers use the sampled weights
            for index, layer in enumerate(model.layers):
                h = torch.cat([a if index == 0 else torch.relu(a), torch.ones(9, 1, dtype=torch.float64)], 1)
                yhat, lam = (t[0] for t in layer.pseudo_observations(xc[b : b + 1], yc[b : b + 1], None))
                mu0, cov0 = _prior_from_raw(layer.prior)
                for j in range(layer.d_out):
                    precision = torch.linalg.inv(cov0[j]) + h.T @ (lam[:, j, None] * h)
                    cov = torch.linalg.inv(precision)
                    mean = cov @ (torch.linalg.solve(cov0[j], mu0[j]) + h.T @ (lam[:, j] * yhat[:, j]))
                    expected[s, b] += kl_divergence(
                        MultivariateNormal(mean, covariance_matrix=(cov + cov.T) / 2),
                        MultivariateNormal(mu0[j], covariance_matrix=cov0[j]),
                    )
                a = h @ sample.weights[index][s, b].T  # (N, d_out)
    torch.testing.assert_close(sample.kl, expected, rtol=1e-8, atol=1e-8)
