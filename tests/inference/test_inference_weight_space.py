"""Weight-space baselines (MFVI, SWAG, HMC) on task batches.

Bayesian linear regression (``hidden=()``, so ``f = W [x, 1]``) under a random non-diagonal prior is the
closed-form oracle (σ_y = 1 so that the prior's correlations matter); BNNP.decode is the second route for the
forward pass; batched fits must equal separate ones and ignore padding (NaN)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.oracles import blr_posterior, features  # tests/ is on sys.path

from climate_bnnp.inference import (
    MeanFieldBNN,
    MeanFieldPosterior,
    WeightPrior,
    bnn_forward,
    fit_mfvi,
    fit_swag,
    run_hmc,
    task_seeds,
)
from climate_bnnp.models import BNNP

F64 = torch.float64
SIZES = (3, 8, 5)  # context sizes of the batched tasks: padded to 8
NOISE = 1.0


def _random_prior(dims, activation="tanh", seed=0) -> WeightPrior:
    """A learned-like prior: random means and random lower-triangular scales with a positive diagonal."""
    g = torch.Generator().manual_seed(seed)
    means, trils = [], []
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        size = d_in + 1
        means.append(0.5 * torch.randn(d_out, size, generator=g, dtype=F64))
        off = 0.8 * torch.randn(d_out, size, size, generator=g, dtype=F64).tril(-1)
        diag = torch.exp(0.3 * torch.randn(d_out, size, generator=g, dtype=F64))
        trils.append((off + torch.diag_embed(diag)) / math.sqrt(size))
    return WeightPrior(tuple(means), tuple(trils), activation)


def _tasks(sizes=SIZES, seed=0, pad=math.nan):
    """Padded 1-D regression tasks ``xc (T, N, 1)``, ``yc (T, N)``, ``mask (T, N)``; padding holds ``pad``."""
    rng = np.random.default_rng(seed)
    n = max(sizes)
    xc = np.full((len(sizes), n, 1), pad)
    yc = np.full((len(sizes), n), pad)
    mask = np.zeros((len(sizes), n), dtype=bool)
    for t, size in enumerate(sizes):
        x = rng.uniform(-2, 2, size)
        xc[t, :size, 0], yc[t, :size], mask[t, :size] = x, 0.8 * x - 0.3 + NOISE * rng.normal(size=size), True
    return torch.as_tensor(xc), torch.as_tensor(yc), torch.as_tensor(mask)


def _exact(prior: WeightPrior, xc, yc, mask, noise_std=NOISE):
    """Bayesian linear regression posterior per task: means ``(T, 2)`` and precisions ``(T, 2, 2)``."""
    (m,), (tril,) = prior.means, prior.scale_trils
    prior_cov = (tril[0] @ tril[0].T).numpy()
    means, precs = [], []
    for t in range(len(xc)):
        h = features(xc[t][mask[t]].numpy())
        mean, cov = blr_posterior(h, yc[t][mask[t]].numpy(), noise_std, prior_cov, m[0].numpy())
        means.append(torch.as_tensor(mean))
        precs.append(torch.linalg.inv(torch.as_tensor(cov)))
    return torch.stack(means), torch.stack(precs)


XT = torch.tensor([-1.5, 0.0, 2.5], dtype=F64)[:, None].expand(len(SIZES), 3, 1)  # (T, M, 1)


def _exact_f(mean, prec):
    """Exact posterior mean and variance of ``f`` at ``XT``: ``(T, M)`` each."""
    phi = torch.cat([XT, torch.ones_like(XT)], dim=-1)  # (T, M, 2)
    cov = torch.linalg.inv(prec)
    return (phi @ mean[..., None])[..., 0], torch.einsum("tmi,tij,tmj->tm", phi, cov, phi)


def test_bnn_forward_equals_bnnp_decode():
    model = BNNP(dim_x=2, dim_y=1, hidden_dims=(5, 4), inf_hidden_dims=(8,), activation="silu")
    prior = WeightPrior.standard([2, 5, 4, 1], "silu")
    weights = prior.sample((3, 2), torch.Generator().manual_seed(1))  # (S, B, d_out, D) per layer
    x = torch.randn(2, 7, 2, dtype=F64)
    expected = model.decode(weights, x)[..., 0]  # (S, B, N)
    torch.testing.assert_close(bnn_forward(weights, x.unsqueeze(0), "silu"), expected, rtol=1e-12, atol=1e-12)


def test_standard_prior_equals_a_fresh_bnnp_prior_and_from_model_copies_by_value():
    fresh = BNNP(
        dim_x=1, hidden_dims=(6, 4), inf_hidden_dims=(8,), activation="tanh", prior_learnable_fraction=0.0
    )
    standard, adopted = WeightPrior.standard([1, 6, 4, 1], "tanh"), WeightPrior.from_model(fresh)
    assert adopted.activation == "tanh" and adopted.dims == [1, 6, 4, 1]
    for a, b in zip(standard.means + standard.scale_trils, adopted.means + adopted.scale_trils, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)  # the model's parameters are float32

    model = BNNP(dim_x=1, hidden_dims=(6, 4), inf_hidden_dims=(8,), activation="relu")
    with torch.no_grad():
        for layer in model.layers:
            layer.prior.mean.normal_()
            layer.prior.log_scale.normal_(std=0.3)
            layer.prior.offdiag.normal_(std=0.3)
    prior = WeightPrior.from_model(model)
    trils = [layer.prior.scale_tril().detach().double().clone() for layer in model.layers]
    assert prior.means[0].dtype == F64 and prior.activation == "relu"
    assert bool((prior.scale_trils[1].triu(1) == 0).all())
    with torch.no_grad():
        for layer in model.layers:
            layer.prior.mean.add_(1.0)
            layer.prior.offdiag.add_(1.0)
    for layer, mean, tril, expected in zip(model.layers, prior.means, prior.scale_trils, trils, strict=True):
        torch.testing.assert_close(mean, layer.prior.mean.detach().double() - 1.0)
        torch.testing.assert_close(tril, expected, rtol=0, atol=0)


def test_prior_log_prob_and_sample_match_torch_distributions():
    prior = _random_prior([2, 3, 1])
    weights = prior.sample((4,), torch.Generator().manual_seed(0))
    expected = sum(
        torch.distributions.MultivariateNormal(m, scale_tril=s).log_prob(w).sum(-1)
        for m, s, w in zip(prior.means, prior.scale_trils, weights, strict=True)
    )
    torch.testing.assert_close(prior.log_prob(weights), expected)
    draws = prior.sample((40_000,), torch.Generator().manual_seed(1))[0]  # (S, 3, 3)
    cov = prior.scale_trils[0] @ prior.scale_trils[0].mT
    torch.testing.assert_close(draws.mean(0), prior.means[0], atol=0.03, rtol=0)
    centred = draws - draws.mean(0)
    torch.testing.assert_close(
        torch.einsum("sji,sjk->jik", centred, centred) / len(draws), cov, atol=0.03, rtol=0
    )


def test_mfvi_kl_matches_torch_distributions_under_a_full_covariance_prior():
    prior = _random_prior([1, 3, 1])
    q = MeanFieldPosterior(prior, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for raw in q.raw_stds:
            raw.normal_()
    expected = torch.zeros(2, dtype=F64)
    for mean, raw, m, s in zip(q.means, q.raw_stds, prior.means, prior.scale_trils, strict=True):
        qd = torch.distributions.MultivariateNormal(
            mean, scale_tril=torch.diag_embed(torch.nn.functional.softplus(raw))
        )
        pd = torch.distributions.MultivariateNormal(m, scale_tril=s)
        expected += torch.distributions.kl_divergence(qd, pd).sum(-1).detach()
    torch.testing.assert_close(q.kl().detach(), expected, rtol=1e-10, atol=1e-10)


def test_mean_field_bnn_kl_is_the_kl_to_the_standard_prior():
    """The single-dataset face: per weight ``KL[N(μ, s²) ‖ N(0, 1 / D)]``."""
    model = MeanFieldBNN((3, 2), noise_std=0.1, seed=0)
    expected = 0.0
    for mean, raw, prior_std in zip(model.means, model.raw_stds, model.prior_stds, strict=True):
        q = torch.distributions.Normal(mean, torch.nn.functional.softplus(raw))
        p = torch.distributions.Normal(torch.zeros_like(mean), prior_std)
        expected += float(torch.distributions.kl_divergence(q, p).sum().detach())
    assert float(model.kl().detach()) == pytest.approx(expected, rel=1e-10)


def test_mfvi_reaches_the_mean_field_optimum_of_the_exact_posterior():
    """For a Gaussian posterior N(μ, Λ⁻¹) the best factorised Gaussian has means μ and variances 1 / Λ_ii."""
    prior = _random_prior([1, 1])
    xc, yc, mask = _tasks()
    mean, prec = _exact(prior, xc, yc, mask)
    q = fit_mfvi(prior, xc, yc, mask, NOISE, steps=1000, lr=2e-2, final_lr=1e-4, num_samples=16, seed=0)
    std = 1 / prec.diagonal(dim1=-2, dim2=-1).sqrt()  # (T, 2)
    got_mean, got_std = q.means[0].detach()[:, 0], torch.nn.functional.softplus(q.raw_stds[0].detach())[:, 0]
    # a mutant that drops the prior's off-diagonal entries is off by 0.3 posterior sd
    assert ((got_mean - mean).abs() / std).max() < 0.1, (got_mean, mean, std)
    assert ((got_std / std - 1).abs()).max() < 0.05, (got_std, std)
    f = q.sample_functions(XT, 5, torch.Generator().manual_seed(0), chunk_size=2)
    assert f.shape == (5, 3, 3) and not f.requires_grad  # (S, T, M)


def test_hmc_matches_the_exact_posterior_predictive():
    """Mean of f and of (f − exact mean)² at three test inputs within 4 batch-means standard errors."""
    prior = _random_prior([1, 1], seed=1)
    xc, yc, mask = _tasks(seed=1)
    f_mean, f_var = _exact_f(*_exact(prior, xc, yc, mask))
    out = run_hmc(
        prior, xc, yc, mask, NOISE, num_samples=1000, burn=150, thin=1, leapfrog=4, step_size=0.1, seed=0
    )
    assert bool(((out.acceptance > 0.45) & (out.acceptance < 0.9)).all()), out.acceptance
    f = out.sample_functions(XT)  # (S, T, M)
    for stat, exact in ((f, f_mean), ((f - f_mean) ** 2, f_var)):
        batches = stat.unflatten(0, (20, -1)).mean(1)  # (20, T, M) batch means
        se = batches.std(0) / math.sqrt(20)
        assert bool(((stat.mean(0) - exact).abs() < 4 * se).all()), (stat.mean(0), exact, se)
    assert out.sample_functions(XT, 7).shape == (7, 3, 3)
    torch.testing.assert_close(out.sample_functions(XT, 7, chunk_size=3), out.sample_functions(XT, 7))


def test_swag_swa_mean_is_the_map_and_its_samples_follow_the_swag_formula():
    prior = _random_prior([1, 1], seed=2)
    xc, yc, mask = _tasks(seed=2)
    mean, prec = _exact(prior, xc, yc, mask)
    full = fit_swag(
        prior, xc, yc, mask, NOISE, pretrain_steps=1000, pretrain_lr=2e-2, swa_steps=50, swa_lr=0.1,
        rank=10, batch_fraction=1.0, seed=0,
    )  # fmt: skip
    torch.testing.assert_close(full.mean, mean, atol=1e-6, rtol=0)  # gradient descent sits at the MAP
    torch.testing.assert_close(full.map_weights, mean, atol=1e-6, rtol=0)
    noisy = fit_swag(
        prior, xc, yc, mask, NOISE, pretrain_steps=1000, pretrain_lr=2e-2, swa_steps=400, swa_lr=0.05,
        collect_every=2, rank=8, batch_fraction=0.5, seed=0,
    )  # fmt: skip
    std = 1 / prec.diagonal(dim1=-2, dim2=-1).sqrt()
    assert ((noisy.mean - mean).abs() / std).max() < 0.25, (noisy.mean, mean, std)
    assert noisy.rank == 8 and bool((noisy.variance > 0).all())
    w = noisy.sample_weights(40_000, torch.Generator().manual_seed(0))[0].flatten(-2)  # (S, T, 2)
    dev = noisy.deviations
    cov = torch.diag_embed(noisy.variance) / 2 + dev.mT @ dev / (2 * (noisy.rank - 1))  # (T, 2, 2)
    scale = cov.diagonal(dim1=-2, dim2=-1).sqrt()
    assert (((w.mean(0) - noisy.mean).abs() / scale).max()) < 0.03
    emp = torch.einsum("sti,stj->tij", w - noisy.mean, w - noisy.mean) / w.shape[0]
    assert ((emp - cov).abs() / (scale[:, :, None] * scale[:, None, :])).max() < 0.03
    assert noisy.sample_functions(XT, 4).shape == (4, 3, 3)


def test_batched_fits_equal_separate_fits_and_ignore_padding():
    """A [1, 3, 1] tanh BNN under a random full-covariance prior; padding holds NaN."""
    prior = _random_prior([1, 3, 1], seed=3)
    sizes, seeds = (2, 5, 4), [11, 12, 13]
    xc, yc, mask = _tasks(sizes, seed=3)
    runs = {
        "mfvi": lambda *a, seed: fit_mfvi(*a, steps=15, lr=1e-2, final_lr=1e-3, num_samples=3, seed=seed),
        "swag": lambda *a, seed: fit_swag(
            *a, pretrain_steps=10, swa_steps=8, collect_every=2, rank=3, batch_fraction=0.5, seed=seed
        ),
        "hmc": lambda *a, seed: run_hmc(
            *a, num_samples=3, burn=4, thin=2, leapfrog=3, step_size=0.05, init_map_steps=3, seed=seed
        ),
    }
    state = {
        "mfvi": lambda q: [p.detach() for p in (*q.means, *q.raw_stds)],
        "swag": lambda q: [q.map_weights, q.mean, q.variance, q.deviations],
        "hmc": lambda q: [*(w.movedim(1, 0) for w in q.weights), q.step_sizes, q.acceptance],  # task-major
    }
    for name, run in runs.items():
        batched = state[name](run(prior, xc, yc, mask, NOISE, seed=seeds))
        for t, (n, seed) in enumerate(zip(sizes, seeds, strict=True)):
            alone = state[name](
                run(prior, xc[t : t + 1, :n], yc[t : t + 1, :n], mask[t : t + 1, :n], NOISE, seed=[seed])
            )
            for a, b in zip(batched, alone, strict=True):
                torch.testing.assert_close(a[t : t + 1], b, rtol=0, atol=1e-10, msg=f"{name}, task {t}")


def test_task_seeds():
    assert task_seeds(5, 3) == task_seeds(5, 4)[:3] and len(set(task_seeds(5, 4))) == 4
    assert task_seeds([1, 2], 2) == [1, 2]
    with pytest.raises(ValueError, match="one seed per task"):
        task_seeds([1, 2], 3)


def test_bad_input_says_what_was_expected():
    prior = WeightPrior.standard([1, 2, 1], "relu")
    xc, yc, mask = _tasks()
    run = dict(steps=1, lr=1e-2, final_lr=1e-2, num_samples=1)
    with pytest.raises(ValueError, match=r"xc of shape \(T, N, dim_x=1\)"):
        fit_mfvi(prior, xc[..., 0], yc, mask, NOISE, **run)
    with pytest.raises(ValueError, match=r"yc of shape \(T, N\) = \(3, 8\), got \(3, 7\)"):
        fit_mfvi(prior, xc, yc[:, 1:], mask, NOISE, **run)
    with pytest.raises(ValueError, match="bool mask of shape"):
        fit_swag(prior, xc, yc, mask.double(), NOISE)
    with pytest.raises(ValueError, match="noise_std > 0"):
        run_hmc(prior, xc, yc, mask, 0.0)
    with pytest.raises(ValueError, match=r"tasks without: \[1\]"):
        fit_mfvi(prior, xc, yc, mask & torch.tensor([True, False, True])[:, None], NOISE, **run)
    q = fit_mfvi(prior, xc, yc, mask, NOISE, **run)
    with pytest.raises(ValueError, match=r"xt of shape \(T=3, M, dim_x=1\), got \(2, 3, 1\)"):
        q.sample_functions(XT[:2], 2)
    with pytest.raises(ValueError, match="lower-triangular"):
        WeightPrior(prior.means, tuple(s.mT for s in _random_prior([1, 2, 1]).scale_trils), "relu")
    with pytest.raises(ValueError, match="one output unit"):
        WeightPrior.standard([1, 2], "relu")
    with pytest.raises(ValueError, match="rank ≥ 0"):
        fit_swag(prior, xc, yc, mask, NOISE, swa_steps=2, collect_every=3)
