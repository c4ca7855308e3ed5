"""Gaussian algebra against torch.distributions and degenerate cases."""

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from climate_bnnp.layers import (
    JitterLog,
    cholesky_with_inverse,
    gaussian_kl,
    lower_inverse,
    robust_cholesky,
    sample_from_precision,
)


def _random_spd(*shape, dim, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(*shape, dim, dim, generator=g, dtype=torch.float64)
    return a @ a.mT + 0.5 * torch.eye(dim, dtype=torch.float64)


def test_kl_matches_torch_distributions():
    prec_q, prec_p = _random_spd(3, 4, dim=5, seed=1), _random_spd(3, 4, dim=5, seed=2)
    mean_q, mean_p = torch.randn(3, 4, 5, dtype=torch.float64), torch.randn(3, 4, 5, dtype=torch.float64)
    chol_inv_q = torch.linalg.inv(torch.linalg.cholesky(prec_q))
    factor_p = torch.linalg.cholesky(prec_p).mT  # Λ_p = Mᵀ M
    ours = gaussian_kl(mean_q, chol_inv_q, mean_p, factor_p, torch.logdet(prec_p))
    oracle = kl_divergence(
        MultivariateNormal(mean_q, precision_matrix=prec_q),
        MultivariateNormal(mean_p, precision_matrix=prec_p),
    )
    torch.testing.assert_close(ours, oracle, rtol=1e-10, atol=1e-10)


def test_sample_has_the_precision_inverse_as_covariance():
    prec = _random_spd(dim=3, seed=3)
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    eps = torch.randn(200_000, 3, dtype=torch.float64)
    draws = sample_from_precision(mean, torch.linalg.inv(torch.linalg.cholesky(prec)), eps)
    cov = torch.linalg.inv(prec)
    # Monte-Carlo tolerance: 5 standard errors of the sample mean / covariance entries.
    se_mean = (cov.diagonal() / len(draws)).sqrt()
    assert ((draws.mean(0) - mean).abs() < 5 * se_mean).all()
    torch.testing.assert_close(
        torch.cov(draws.T), cov, atol=5 * cov.abs().max().item() * 2 / len(draws) ** 0.5, rtol=0
    )


def test_singular_precision_is_jittered_and_counted():
    h = torch.randn(4, 1, dtype=torch.float64)
    singular = (h @ h.T).expand(2, 4, 4).clone()  # rank one
    singular[1] += torch.eye(4, dtype=torch.float64)  # the second one is fine
    log = JitterLog()
    chol = robust_cholesky(singular, log)
    assert torch.isfinite(chol).all()
    assert log.matrices == 1 and log.calls == 1 and 0 < log.max_relative <= 1e-4


def test_nan_precision_raises_instead_of_returning_nan():
    bad = torch.eye(3, dtype=torch.float64)
    bad[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        robust_cholesky(bad)


def test_indefinite_precision_raises():
    with pytest.raises(FloatingPointError, match="not positive definite"):
        robust_cholesky(-torch.eye(3, dtype=torch.float64))


def test_cholesky_with_inverse_matches_torch_values_and_gradients():
    """Second route: torch.linalg.cholesky and its autograd backward (slow on CPU, exact)."""
    matrix = _random_spd(4, 3, dim=37, seed=5).requires_grad_()  # 37 > block size: recursion is used
    chol, inv = cholesky_with_inverse(matrix)
    ref_chol = torch.linalg.cholesky(matrix)
    ref_inv = torch.linalg.inv(ref_chol)
    torch.testing.assert_close(chol, ref_chol, rtol=0, atol=1e-12)
    torch.testing.assert_close(inv, ref_inv, rtol=0, atol=1e-10)
    w1, w2 = torch.randn_like(chol), torch.randn_like(chol)
    ours = torch.autograd.grad((w1 * chol).sum() + (w2 * inv).sum(), matrix)[0]
    ref = torch.autograd.grad((w1 * ref_chol).sum() + (w2 * ref_inv).sum(), matrix)[0]
    torch.testing.assert_close(0.5 * (ours + ours.mT), 0.5 * (ref + ref.mT), rtol=1e-8, atol=1e-9)


def test_gradcheck_of_the_custom_backward_passes():
    # Small matrices: gradcheck's numerical Jacobian costs one forward per input entry. The blocked
    # recursion (D > 16) is covered against torch's own backward in the test above.
    matrix = _random_spd(2, dim=6, seed=6).requires_grad_()
    sym = lambda a: cholesky_with_inverse(0.5 * (a + a.mT))  # noqa: E731  (symmetric input space)
    assert torch.autograd.gradcheck(sym, (matrix,))
    lower = torch.linalg.cholesky(_random_spd(2, dim=6, seed=7)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: lower_inverse(a.tril()), (lower,))
