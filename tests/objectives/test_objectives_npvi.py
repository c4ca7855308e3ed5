"""NPVI: an unbiased chunked gradient, a reference posterior that is q(W | D_c), padded targets ignored."""

from __future__ import annotations

import itertools

import pytest
import torch

from climate_bnnp import BNAM, BNNP, AttnBNNP
from climate_bnnp.objectives import npvi
from climate_bnnp.tasks import Batch

SMALL_ATTN = dict(dim_x=2, dim_y=1, attn_width=8, attn_heads=2, attn_layers=1, inf_hidden_dims=(8,))


def _batch(seed=0, b=2, nc=9, nt=7, dim_x=1):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    mask_c = torch.ones(b, nc, dtype=torch.bool)
    mask_c[0, -3:] = False
    return Batch(r(b, nc, dim_x), r(b, nc, 1), r(b, nt, dim_x), r(b, nt, 1), mask_c, None)


def test_chunked_npvi_gradient_equals_full_batch_gradient_in_expectation(monkeypatch):
    """Average over every combination of chunk picks (one per layer) = the full-batch gradient.

    Before the fix the reference posterior's natural parameters kept the chosen chunk's gradient with
    weight 1 instead of K (entries off by up to ~10 % of the gradient's scale).
    """
    model = BNNP(hidden_dims=(4, 3), inf_hidden_dims=(6,)).double()
    batch = _batch()  # c ∪ t has 16 points: two chunks of 8
    chunk, num_chunks = 8, 2

    def gradient(picks, chunk_size):
        model.zero_grad()
        it = iter(picks)
        monkeypatch.setattr(torch, "randint", lambda high, size: torch.tensor(next(it)))
        torch.manual_seed(11)
        npvi(model, batch, num_samples=3, chunk_size=chunk_size).sum().backward()
        monkeypatch.undo()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    full = gradient([0] * 3, None)
    combos = list(itertools.product(range(num_chunks), repeat=3))  # 3 layers
    mean = torch.stack([gradient(c, chunk) for c in combos]).mean(0)
    torch.testing.assert_close(mean, full, rtol=1e-10, atol=1e-10 * full.abs().max().item())
    single = gradient(combos[1], chunk)
    assert (single - full).abs().max() > 1e-3 * full.abs().max()  # one pick alone is noisy


def _make(kind):
    if kind == "bnnp":
        return BNNP(dim_x=2, hidden_dims=(6, 5), inf_hidden_dims=(8,)).double()
    if kind == "attn_bnnp":
        return AttnBNNP(hidden_dims=(6,), **SMALL_ATTN).double()
    return BNAM(**SMALL_ATTN).double()


def _record(monkeypatch, model, replay=None):
    """Wrap every layer's ``sample_with_kl``: record (weights, reference posterior, data posterior); with
    ``replay`` return the recorded weights of another run instead of sampling."""
    log = []
    for index, layer in enumerate(model.layers):
        original = layer.sample_with_kl

        def wrapped(data, num_samples, num_tasks, reference=None, *, _layer=layer, _orig=original, _i=index):
            w, kl = _orig(data, num_samples, num_tasks, reference)
            if replay is not None:
                w = replay[_i][0]
            log.append((w, reference, _layer.posterior(data)))
            return w, kl

        monkeypatch.setattr(layer, "sample_with_kl", wrapped)
    return log


@pytest.mark.parametrize("kind", ["bnnp", "attn_bnnp", "bnam"])
def test_npvi_reference_posterior_is_the_context_only_posterior(kind, monkeypatch):
    """The reference of layer l, computed inside NPVI from c ∪ t with ``kl_mask``, equals the posterior
    that the model computes from the context alone given the same upstream weight draws (replayed).

    Before the fix AttnBNNP's transformers and BNAM's attention blocks let context points attend to the
    targets, so the "context-only" pseudo-observations and activations moved when targets were appended.
    """
    model = _make(kind).eval()
    g = torch.Generator().manual_seed(3)
    xc, yc = torch.randn(2, 10, 2, generator=g, dtype=torch.float64), torch.rand(2, 10, 1, generator=g)
    xt, yt = torch.randn(2, 6, 2, generator=g, dtype=torch.float64), torch.rand(2, 6, 1, generator=g)
    yc, yt = yc.double(), yt.double()
    x, y = torch.cat([xc, xt], 1), torch.cat([yc, yt], 1)
    kl_mask = torch.cat([torch.ones(2, 10), torch.zeros(2, 6)], 1).bool()
    with torch.no_grad():
        joint = _record(monkeypatch, model)
        model.sample_weights(x, y, num_samples=3, kl_mask=kl_mask)
        monkeypatch.undo()
        alone = _record(monkeypatch, model, replay=joint)
        model.sample_weights(xc, yc, num_samples=3)
        monkeypatch.undo()
    assert len(joint) == len(alone) == len(model.layers)
    for (_, reference, _), (_, _, context_only) in zip(joint, alone, strict=True):
        torch.testing.assert_close(reference.mean, context_only.mean, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(reference.chol, context_only.chol, rtol=1e-9, atol=1e-9)
    # the targets do move the posterior q(W | c ∪ t): the comparison is not vacuous
    assert not torch.allclose(joint[-1][2].mean, joint[-1][1].mean, atol=1e-3)


@pytest.mark.parametrize("kind", ["bnnp", "attn_bnnp", "bnam"])
def test_npvi_ignores_padded_targets(kind):
    """Padding the targets (mask_t False, wild values) leaves NPVI unchanged: BNAM's decode masks them."""
    model = _make(kind).eval()
    g = torch.Generator().manual_seed(5)
    xc, yc = (
        torch.randn(1, 8, 2, generator=g, dtype=torch.float64),
        torch.randn(1, 8, 1, generator=g).double(),
    )
    xt, yt = (
        torch.randn(1, 5, 2, generator=g, dtype=torch.float64),
        torch.randn(1, 5, 1, generator=g).double(),
    )
    pad_x = torch.cat([xt, torch.full((1, 3, 2), 4.0, dtype=torch.float64)], 1)
    pad_y = torch.cat([yt, torch.full((1, 3, 1), 50.0, dtype=torch.float64)], 1)
    mask_t = torch.arange(8)[None] < 5
    with torch.no_grad():
        torch.manual_seed(1)
        alone = npvi(model, Batch(xc, yc, xt, yt), num_samples=4)
        torch.manual_seed(1)
        padded = npvi(model, Batch(xc, yc, pad_x, pad_y, None, mask_t), num_samples=4)
    torch.testing.assert_close(alone, padded, rtol=1e-10, atol=1e-10)
