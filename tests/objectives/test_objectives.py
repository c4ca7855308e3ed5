"""Objectives: ELBO vs exact evidence on a linear-Gaussian model, gradients, minibatched gradients."""

import itertools

import numpy as np
import pytest
import torch
from helpers.oracles import blr_log_evidence, features, gaussian_kl  # tests/ is on sys.path

from climate_bnnp import BNNP
from climate_bnnp.objectives import OBJECTIVES, elbo
from climate_bnnp.tasks import Batch

SIGMA = 0.4


def _linear_task(seed=0, n=15):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = x @ np.array([0.7, -1.2]) + 0.3 + SIGMA * rng.normal(size=n)
    return x, y


def _analytic_elbo(model, x, y):
    """``E_q[log p(y | w)] − KL(q ‖ p)`` with the expectation in closed form (no Monte Carlo)."""
    xc, yc = torch.from_numpy(x)[None], torch.from_numpy(y)[None, :, None]
    layer = model.layers[0]
    with torch.no_grad():
        yhat, lam = layer.pseudo_observations(xc, yc, None, model.likelihood.std())
        from climate_bnnp.layers import accumulate_natural

        post = layer.posterior(accumulate_natural(layer.features(xc[None]), lam[None], yhat[None]))
        m, cov = post.mean[0, 0, 0].numpy(), torch.cholesky_inverse(post.chol)[0, 0, 0].numpy()
    h = features(x)
    fan_in = h.shape[1]  # KL to the standard prior N(0, I / fan_in), in closed form
    kl = gaussian_kl(m, cov, np.zeros(fan_in), np.eye(fan_in) / fan_in)
    resid = y - h @ m
    ell = np.sum(
        -0.5 * np.log(2 * np.pi * SIGMA**2)
        - (resid**2 + np.einsum("nd,de,ne->n", h, cov, h)) / (2 * SIGMA**2)
    )
    return ell - kl


def _log_evidence(x, y, fan_in=3):
    return blr_log_evidence(features(x), y, SIGMA, np.eye(fan_in) / fan_in)  # prior N(0, I / fan_in)


def test_elbo_equals_log_evidence_at_the_exact_posterior():
    """Estimator: analytic expected log-likelihood and analytic KL; the exact final layer is BLR."""
    model = BNNP(
        dim_x=2, hidden_dims=(), exact_final_layer=True, noise_init=SIGMA, learn_noise=False
    ).double()
    x, y = _linear_task()
    assert abs(_analytic_elbo(model, x, y) - _log_evidence(x, y)) < 1e-8


def test_elbo_is_below_log_evidence_for_an_approximate_posterior():
    """Learned per-point pseudo-noise (random inference net) gives q ≠ posterior, so ELBO < log evidence."""
    model = BNNP(dim_x=2, hidden_dims=(), inf_hidden_dims=(8,), noise_init=SIGMA, learn_noise=False).double()
    x, y = _linear_task(seed=1)
    gap = _log_evidence(x, y) - _analytic_elbo(model, x, y)
    assert gap > 1e-3


def test_monte_carlo_elbo_is_unbiased_for_the_analytic_elbo():
    """Estimator: ``objectives.elbo`` (MC expected log-likelihood over S draws, analytic KL)."""
    model = BNNP(
        dim_x=2, hidden_dims=(), exact_final_layer=True, noise_init=SIGMA, learn_noise=False
    ).double()
    x, y = _linear_task(seed=2)
    t = lambda a: torch.from_numpy(a)[None]  # noqa: E731
    batch = Batch(t(x), t(y)[..., None], t(x), t(y)[..., None])
    num = 20_000
    with torch.no_grad():
        out = model(batch.xc, batch.yc, batch.xt, num_samples=num)
        ell = model.likelihood.log_prob(batch.yc, out.fc).sum(-1)[:, 0]
        estimate = elbo(model, batch, num_samples=num).item()
    se = ell.std().item() / num**0.5
    assert abs(estimate - _analytic_elbo(model, x, y)) < 5 * se + 1e-9


def _batch(seed=0, b=3, nc=11, nt=7, dim_x=1):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    mask_c = torch.ones(b, nc, dtype=torch.bool)
    mask_c[0, -3:] = False
    return Batch(r(b, nc, dim_x), r(b, nc, 1), r(b, nt, dim_x), r(b, nt, 1), mask_c, None)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_trainable_parameter_gets_a_finite_nonzero_gradient(name):
    model = BNNP(hidden_dims=(8, 8), inf_hidden_dims=(8,)).double()
    value = OBJECTIVES[name](model, _batch(), num_samples=4)
    assert value.shape == (3,) and torch.isfinite(value).all()
    value.mean().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, pname


def test_minibatched_gradient_equals_full_batch_gradient_in_expectation(monkeypatch, device):
    """Exact expectation: average the chunked gradient over every combination of chunk picks.

    The picks are the only randomness that differs (the weight draws share one seed), and the estimator
    is linear in each layer's pick, so the average equals the full-batch gradient to rounding error.
    """
    model = BNNP(hidden_dims=(4, 3), inf_hidden_dims=(6,)).double().to(device)
    batch = _batch(nc=9).to(device)
    chunk, num_chunks = 5, 2  # chunks of 5 and 4 points: unequal sizes are fine too

    def gradient(picks, chunk_size):
        model.zero_grad()
        it = iter(picks)
        monkeypatch.setattr(torch, "randint", lambda high, size: torch.tensor(next(it)))
        torch.manual_seed(11)
        OBJECTIVES["pp_avi"](model, batch, num_samples=3, chunk_size=chunk_size).sum().backward()
        monkeypatch.undo()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    full = gradient([0] * 4, None)  # one chunk: every pick is 0
    combos = list(itertools.product(range(num_chunks), repeat=4))  # 3 layers + the context-likelihood chunk
    mean = torch.stack([gradient(c, chunk) for c in combos]).mean(0)
    torch.testing.assert_close(mean, full, rtol=1e-9, atol=1e-9)
    single = gradient(combos[3], chunk)
    assert (single - full).abs().max() > 1e-3  # one draw alone is noisy: the test can fail
