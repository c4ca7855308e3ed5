"""The zero-inflated Bernoulli–Gamma likelihood against closed forms (scipy), numerical integration and
Monte-Carlo moments."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from climate_bnnp.config import ModelConfig
from climate_bnnp.likelihoods import BernoulliGammaLikelihood, GaussianLikelihood, build_likelihood
from climate_bnnp.likelihoods.bernoulli_gamma import SCALE_FLOOR, SHAPE_FLOOR


def _softplus(x):
    return np.log1p(np.exp(x))


def _params(f: np.ndarray, dim_y: int):
    """(π, k, θ) from f's three blocks, written out with numpy."""
    logit, raw_k, raw_theta = f[..., :dim_y], f[..., dim_y : 2 * dim_y], f[..., 2 * dim_y :]
    return 1 / (1 + np.exp(-logit)), _softplus(raw_k) + SHAPE_FLOOR, _softplus(raw_theta) + SCALE_FLOOR


def _f(pi: float, k: float, theta: float) -> torch.Tensor:
    """Raw outputs ``(1, 3)`` that give exactly (π, k, θ)."""
    inv_softplus = lambda v: math.log(math.expm1(v))  # noqa: E731
    return torch.tensor(
        [[math.log(pi / (1 - pi)), inv_softplus(k - SHAPE_FLOOR), inv_softplus(theta - SCALE_FLOOR)]],
        dtype=torch.float64,
    )


def test_log_prob_matches_scipy_gamma_and_point_mass():
    g = torch.Generator().manual_seed(0)
    dim_y = 2
    f = torch.randn(4, 3, 5, 3 * dim_y, generator=g, dtype=torch.float64)  # (S, B, N, 3 Dy)
    y = torch.rand(3, 5, dim_y, generator=g, dtype=torch.float64) * 3  # (B, N, Dy)
    y[torch.rand(y.shape, generator=g) < 0.4] = 0.0
    got = BernoulliGammaLikelihood(dim_y).log_prob(y, f).numpy()  # (S, B, N)
    pi, k, theta = _params(f.numpy(), dim_y)
    yy = np.broadcast_to(y.numpy(), pi.shape)
    expected = np.where(
        yy > 0,
        np.log(pi) + stats.gamma.logpdf(np.where(yy > 0, yy, 1.0), a=k, scale=theta),
        np.log1p(-pi),
    ).sum(-1)
    assert (y == 0).any() and (y > 0).any()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("pi", "k", "theta"), [(0.3, 0.6, 2.0), (0.8, 2.5, 0.4), (0.05, 1.0, 1.0)])
def test_density_normalises(pi, k, theta):
    lik = BernoulliGammaLikelihood(1)
    f = _f(pi, k, theta)

    def density(y: float) -> float:
        return float(lik.log_prob(torch.tensor([[y]], dtype=torch.float64), f).exp())

    point_mass = density(0.0)
    assert point_mass == pytest.approx(1 - pi, rel=1e-12)
    # the Gamma part: split at the mean so quad resolves the (integrable) singularity at 0 when k < 1
    split = k * theta
    head = integrate.quad(density, 0, split, limit=200)[0]
    tail = integrate.quad(density, split, np.inf, limit=200)[0]
    assert point_mass + head + tail == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize(("pi", "k", "theta"), [(0.3, 0.6, 2.0), (0.8, 2.5, 0.4)])
def test_samples_moments_and_exact_zeros(pi, k, theta):
    lik = BernoulliGammaLikelihood(1)
    n = 200_000
    f = _f(pi, k, theta).expand(n, 1, 3)  # (S, N=1, 3)
    y = lik.sample(f, generator=torch.Generator().manual_seed(1)).numpy().ravel()  # (S,)
    mean = pi * k * theta
    var = pi * k * theta**2 * (k + 1) - mean**2
    assert y.min() >= 0.0
    zeros = np.mean(y == 0.0)
    assert abs(zeros - (1 - pi)) < 5 * math.sqrt(pi * (1 - pi) / n)
    assert abs(y.mean() - mean) < 5 * math.sqrt(var / n)
    # the sample variance's standard error from the fourth central moment, estimated
    se_var = math.sqrt(np.mean((y - y.mean()) ** 4) - var**2) / math.sqrt(n)
    assert abs(y.var() - var) < 5 * se_var
    assert float(lik.mean(f[:1])) == pytest.approx(mean, rel=1e-12)
    assert float(lik.variance(f[:1])) == pytest.approx(var, rel=1e-12)
    assert float(lik.prob_positive(f[:1])) == pytest.approx(pi, rel=1e-12)


def test_sample_shape_and_generator_reproducibility():
    lik = BernoulliGammaLikelihood(2)
    f = torch.randn(3, 4, 7, 6, dtype=torch.float64)
    a = lik.sample(f, generator=torch.Generator().manual_seed(5))
    b = lik.sample(f, generator=torch.Generator().manual_seed(5))
    assert a.shape == (3, 4, 7, 2) and lik.mean(f).shape == (3, 4, 7, 2)
    assert torch.equal(a, b)
    assert (a == 0).any() and (a > 0).any() and (a >= 0).all()


def test_gradients_are_finite_at_dry_points():
    lik = BernoulliGammaLikelihood(1)
    f = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[0.0], [0.0], [1.2], [0.3], [0.0]], dtype=torch.float64)
    lik.log_prob(y, f).sum().backward()
    assert torch.isfinite(f.grad).all()
    assert torch.all(f.grad[:, [0, 1, 4], 1:] == 0)  # dry points inform π only


def test_errors_name_expected_and_got():
    lik = BernoulliGammaLikelihood(2)
    with pytest.raises(ValueError, match=r"3 · Dy = 6 outputs.*got shape \(1, 4, 2\).*bernoulli_gamma"):
        lik.log_prob(torch.zeros(4, 2), torch.zeros(1, 4, 2))
    with pytest.raises(NotImplementedError, match="no single noise std.*variance"):
        lik.std()


def test_gaussian_shares_the_interface():
    lik = GaussianLikelihood(2, 0.3, learn=False).double()
    assert lik.num_params == 1 and BernoulliGammaLikelihood.num_params == 3
    f = torch.randn(2, 4, 2, dtype=torch.float64)
    y = torch.randn(4, 2, dtype=torch.float64)
    sigma = lik.std().detach().numpy()  # 0.3 up to the float32 rounding of the raw parameter
    expected = stats.norm.logpdf(y.numpy(), loc=f.numpy(), scale=sigma).sum(-1)
    np.testing.assert_allclose(lik.log_prob(y, f).detach().numpy(), expected, rtol=1e-12)
    assert torch.equal(lik.mean(f), f)
    np.testing.assert_allclose(lik.variance(f).detach().numpy(), np.full((2, 4, 2), 0.09), rtol=1e-6)
    many = lik.sample(f[:1].expand(100_000, 4, 2), generator=torch.Generator().manual_seed(0)).detach()
    np.testing.assert_allclose(many.mean(0).numpy(), f[0].numpy(), atol=5 * 0.3 / math.sqrt(100_000))
    np.testing.assert_allclose(many.std(0).numpy(), 0.3, rtol=0.01)
    with pytest.raises(NotImplementedError, match="no point mass at zero"):
        lik.prob_positive(f)


def test_build_likelihood_from_config():
    gaussian = build_likelihood(ModelConfig(dim_y=2, noise_init=0.2, learn_noise=False))
    assert isinstance(gaussian, GaussianLikelihood)
    np.testing.assert_allclose(gaussian.std().detach().numpy(), [0.2, 0.2], rtol=1e-6)
    assert not gaussian.raw.requires_grad
    bg = build_likelihood(ModelConfig(dim_y=2, likelihood="bernoulli_gamma"))
    assert isinstance(bg, BernoulliGammaLikelihood) and bg.dim_y == 2
