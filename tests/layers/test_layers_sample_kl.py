"""The fused posterior draw + KL against the same maths through autograd (values and gradients)."""

import pytest
import torch

from climate_bnnp.layers import cholesky_with_inverse, gaussian_kl, sample_from_precision
from climate_bnnp.layers.gaussian import packed_size, unpack_symmetric
from climate_bnnp.layers.sample_kl import sample_with_kl

D, J, B = 5, 3, 2


def _inputs(s_post, per_sample_reference, seed=0):
    g = torch.Generator().manual_seed(seed)
    f64 = dict(dtype=torch.float64)
    h = torch.randn(s_post, B, 7, D, generator=g, **f64)
    lam = torch.rand(s_post, B, 7, J, generator=g, **f64)
    full = torch.einsum("sbnj,sbnd,sbne->sbjde", lam, h, h)
    rows, cols = torch.triu_indices(D, D)
    packed = full[..., rows, cols].requires_grad_()
    a = torch.randn(J, D, D, generator=g, **f64)
    prior_precision = (a @ a.mT + torch.eye(D, **f64)).requires_grad_()
    shift = torch.randn(s_post, B, J, D, generator=g, **f64).requires_grad_()
    lead = (s_post, B) if per_sample_reference else ()
    factor = torch.randn(*lead, J, D, D, generator=g, **f64).tril() + 2 * torch.eye(D, **f64)
    mean_p = torch.randn(*lead, J, D, generator=g, **f64)
    logdet_p = torch.randn(*lead, J, generator=g, **f64)
    return (
        packed,
        prior_precision,
        shift,
        factor.requires_grad_(),
        mean_p.requires_grad_(),
        logdet_p.requires_grad_(),
    )


def _autograd_route(packed, prior_precision, shift, eps, factor, mean_p, logdet_p):
    precision = unpack_symmetric(packed, D) + prior_precision
    _, inv = cholesky_with_inverse(precision)
    mean = (inv.mT @ (inv @ shift.unsqueeze(-1))).squeeze(-1)
    return sample_from_precision(mean, inv, eps), gaussian_kl(mean, inv, mean_p, factor, logdet_p)


@pytest.mark.parametrize(("s_post", "draws"), [(4, 4), (1, 6), (1, 1)])
@pytest.mark.parametrize("per_sample_reference", [False, True])
def test_values_and_gradients_match_autograd(s_post, draws, per_sample_reference):
    inputs = _inputs(s_post, per_sample_reference)
    eps = torch.randn(draws, B, J, D, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    weights_w = torch.randn(draws, B, J, D, dtype=torch.float64)
    weights_k = torch.randn(s_post, B, J, dtype=torch.float64)

    def loss(route):
        w, kl = route(*inputs[:3], eps, *inputs[3:])
        return (w * weights_w).sum() + (kl * weights_k).sum(), w, kl

    ours, w, kl = loss(sample_with_kl)
    grads = torch.autograd.grad(ours, inputs)
    oracle, w_ref, kl_ref = loss(_autograd_route)
    grads_ref = torch.autograd.grad(oracle, inputs)
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(kl, kl_ref, rtol=1e-12, atol=1e-12)
    for name, a, b in zip(
        ("packed", "prior", "shift", "factor", "mean_p", "logdet"), grads, grads_ref, strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=f"gradient w.r.t. {name}")


def test_blocks_over_samples_give_the_same_result(monkeypatch):
    import climate_bnnp.layers.sample_kl as module

    inputs = _inputs(5, False, seed=3)
    eps = torch.randn(5, B, J, D, dtype=torch.float64)
    w_one, kl_one = sample_with_kl(*inputs[:3], eps, *inputs[3:])
    g_one = torch.autograd.grad((w_one.square().sum() + kl_one.sum()), inputs)
    monkeypatch.setattr(module, "BLOCK_ELEMENTS", B * J * D * D * 2)  # blocks of two samples
    w_two, kl_two = sample_with_kl(*inputs[:3], eps, *inputs[3:])
    g_two = torch.autograd.grad((w_two.square().sum() + kl_two.sum()), inputs)
    torch.testing.assert_close(w_one, w_two, rtol=0, atol=1e-13)
    torch.testing.assert_close(kl_one, kl_two, rtol=0, atol=1e-12)
    for a, b in zip(g_one, g_two, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)
    assert packed_size(D) == inputs[0].shape[-1]


def test_gradcheck_of_the_written_out_backward():
    inputs = _inputs(2, True, seed=5)
    eps = torch.randn(2, B, J, D, dtype=torch.float64)

    def fn(p, pp, s, f, m, l):  # noqa: E741  (the prior precision enters symmetrised, as in the model)
        return sample_with_kl(p, 0.5 * (pp + pp.mT), s, eps, f, m, l)

    assert torch.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("dim", [17, 40])
def test_larger_units_match_autograd(dim):
    """Units larger than LAPACK's small-matrix regime and the block recursion of the inverse (D > 16)."""
    g = torch.Generator().manual_seed(dim)
    f64 = dict(dtype=torch.float64)
    h = torch.randn(3, 2, 30, dim, generator=g, **f64)
    lam = 10 * torch.rand(3, 2, 30, 4, generator=g, **f64)
    rows, cols = torch.triu_indices(dim, dim)
    packed = torch.einsum("sbnj,sbnd,sbne->sbjde", lam, h, h)[..., rows, cols].requires_grad_()
    a = torch.randn(4, dim, dim, generator=g, **f64)
    prior_precision = (a @ a.mT / dim + torch.eye(dim, **f64)).requires_grad_()
    shift = torch.randn(3, 2, 4, dim, generator=g, **f64).requires_grad_()
    factor = (
        0.1 * torch.randn(4, dim, dim, generator=g, **f64).tril() + torch.eye(dim, **f64)
    ).requires_grad_()
    mean_p = torch.randn(4, dim, generator=g, **f64).requires_grad_()
    logdet_p = torch.randn(4, generator=g, **f64).requires_grad_()
    inputs = (packed, prior_precision, shift, factor, mean_p, logdet_p)
    eps = torch.randn(3, 2, 4, dim, generator=g, **f64)

    def route(fn):
        precision = unpack_symmetric(packed, dim) + prior_precision
        if fn is None:
            _, inv = cholesky_with_inverse(precision)
            mean = (inv.mT @ (inv @ shift.unsqueeze(-1))).squeeze(-1)
            w, kl = sample_from_precision(mean, inv, eps), gaussian_kl(mean, inv, mean_p, factor, logdet_p)
        else:
            w, kl = fn(packed, prior_precision, shift, eps, factor, mean_p, logdet_p)
        return w, kl, torch.autograd.grad(w.sin().sum() + kl.square().sum(), inputs)

    w, kl, grads = route(sample_with_kl)
    w_ref, kl_ref, grads_ref = route(None)
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(kl, kl_ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_failed_factorisation_is_jittered_and_counted_and_nan_raises():
    from climate_bnnp.layers.gaussian import JitterLog

    f64 = dict(dtype=torch.float64)
    h = torch.randn(1, 1, 3, D, **f64)  # rank 3 < D: singular without a prior
    rows, cols = torch.triu_indices(D, D)
    packed = torch.einsum("sbnd,sbne->sbde", h, h)[..., rows, cols].unsqueeze(2).expand(1, 1, J, -1).clone()
    args = (torch.randn(1, 1, J, D, **f64), torch.randn(1, 1, J, D, **f64))
    reference = (torch.eye(D, **f64).expand(J, D, D), torch.zeros(J, D, **f64), torch.zeros(J, **f64))
    log = JitterLog()
    w, kl = sample_with_kl(packed, torch.zeros(J, D, D, **f64), args[0], args[1], *reference, log)
    assert torch.isfinite(w).all() and torch.isfinite(kl).all()
    assert log.matrices == J and log.calls == 1
    packed[0, 0, 1, 3] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        sample_with_kl(packed, torch.eye(D, **f64).expand(J, D, D), args[0], args[1], *reference, log)
