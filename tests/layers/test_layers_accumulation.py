"""Natural-parameter accumulation against a brute-force einsum (values and gradients)."""

import pytest
import torch

import climate_bnnp.layers.amortised as amortised
from climate_bnnp.layers import accumulate_natural
from climate_bnnp.layers.gaussian import unpack_symmetric


def _brute_force(h, lam, yhat):
    precision = torch.einsum("sbnj,sbnd,sbne->sbjde", lam.expand(h.shape[0], -1, -1, -1), h, h)
    return precision, torch.einsum("sbnj,sbnd->sbjd", (lam * yhat).expand(h.shape[0], -1, -1, -1), h)


@pytest.mark.parametrize(("samples", "lam_samples"), [(3, 1), (3, 3), (1, 1)])
@pytest.mark.parametrize("chunk_elements", [2**21, 7 * 21])  # one block; blocks of a few points
def test_accumulation_matches_brute_force(monkeypatch, samples, lam_samples, chunk_elements):
    monkeypatch.setattr(amortised, "CHUNK_ELEMENTS", chunk_elements)
    g = torch.Generator().manual_seed(samples + lam_samples)
    h = torch.randn(samples, 2, 11, 6, generator=g, dtype=torch.float64, requires_grad=True)
    lam = torch.rand(lam_samples, 2, 11, 4, generator=g, dtype=torch.float64, requires_grad=True)
    yhat = torch.randn(lam_samples, 2, 11, 4, generator=g, dtype=torch.float64)
    nat = accumulate_natural(h, lam, yhat)
    precision, shift = _brute_force(h, lam, yhat)
    torch.testing.assert_close(unpack_symmetric(nat.precision, 6), precision, rtol=0, atol=1e-12)
    torch.testing.assert_close(nat.shift, shift, rtol=0, atol=1e-12)
    weight = torch.randn(precision.shape, generator=g, dtype=torch.float64)
    weight = weight + weight.mT  # the model only ever uses the precision symmetrically
    ours = torch.autograd.grad((unpack_symmetric(nat.precision, 6) * weight).sum(), (h, lam))
    oracle = torch.autograd.grad((precision * weight).sum(), (h, lam))
    for a, b in zip(ours, oracle, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_gradcheck_of_the_packed_precision():
    h = torch.randn(2, 1, 5, 3, dtype=torch.float64, requires_grad=True)
    lam = torch.rand(1, 1, 5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: amortised._PackedPrecision.apply(a, b, 2), (h, lam))
