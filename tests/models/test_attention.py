"""AttnBNNP and BNAM: shapes, context-permutation and padding invariance, prior without context, chunking."""

from __future__ import annotations

import itertools

import pytest
import torch

from climate_bnnp import BNAM, AttnBNNP, load_checkpoint, save_checkpoint
from climate_bnnp.models import MODELS
from climate_bnnp.objectives import OBJECTIVES
from climate_bnnp.tasks import Batch

SMALL = dict(dim_x=2, dim_y=1, attn_width=8, attn_heads=2, attn_layers=1, inf_hidden_dims=(8,))


def make(kind: str, **overrides):
    cls = {"attn_bnnp": AttnBNNP, "bnam": BNAM}[kind]
    kwargs = SMALL | ({"hidden_dims": (8, 8)} if kind == "attn_bnnp" else {}) | overrides
    return cls(**kwargs).double()


def data(b=2, nc=12, nt=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    xc = torch.rand(b, nc, 2, generator=g, dtype=torch.float64) * 2 - 1
    yc = torch.rand(b, nc, 1, generator=g, dtype=torch.float64)
    xt = torch.rand(b, nt, 2, generator=g, dtype=torch.float64) * 2 - 1
    return xc, yc, xt


def run(model, *args, seed=7, **kwargs):
    torch.manual_seed(seed)
    return model(*args, **kwargs)


@pytest.mark.parametrize("kind", ["attn_bnnp", "bnam"])
def test_shapes_and_registry(kind):
    model = make(kind)
    xc, yc, xt = data()
    out = model(xc, yc, xt, num_samples=3)
    assert out.ft.shape == (3, 2, 5, 1) and out.kl.shape == (3, 2) and out.fc.shape == (3, 2, 12, 1)
    assert torch.isfinite(out.ft).all() and (out.kl > 0).all()
    prior = model(None, None, xt, num_samples=3)
    assert prior.ft.shape == (3, 2, 5, 1) and prior.fc is None and (prior.kl == 0).all()
    assert MODELS[kind] is type(model)


@pytest.mark.parametrize("kind", ["attn_bnnp", "bnam"])
def test_invariant_to_permuting_the_context(kind):
    model = make(kind).eval()
    xc, yc, xt = data()
    perm = torch.randperm(xc.shape[1])
    with torch.no_grad():
        a = run(model, xc, yc, xt, num_samples=4)
        b = run(model, xc[:, perm], yc[:, perm], xt, num_samples=4)
    torch.testing.assert_close(a.ft, b.ft, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(a.kl, b.kl, rtol=1e-9, atol=1e-9)
    # the attention really mixes points: changing one context point moves the others' pseudo-observations
    net = model.layers[0].inference_net
    y2 = yc.clone()
    y2[:, 0] += 1.0
    if kind == "attn_bnnp":
        assert not torch.allclose(net(xc, yc)[:, 1:], net(xc, y2)[:, 1:])


@pytest.mark.parametrize("kind", ["attn_bnnp", "bnam"])
def test_padded_context_points_are_ignored(kind):
    model = make(kind).eval()
    xc, yc, xt = data(b=1, nc=9)
    pad_x = torch.cat([xc, torch.full((1, 4, 2), 0.3, dtype=torch.float64)], 1)
    pad_y = torch.cat([yc, torch.full((1, 4, 1), 5.0, dtype=torch.float64)], 1)
    mask = torch.arange(13)[None] < 9
    with torch.no_grad():
        a = run(model, xc, yc, xt, num_samples=4)
        b = run(model, pad_x, pad_y, xt, mask_c=mask, num_samples=4)
    torch.testing.assert_close(a.ft, b.ft, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(a.kl, b.kl, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["attn_bnnp", "bnam"])
def test_fully_masked_context_is_the_prior(kind):
    """Zero pseudo-precision everywhere: the posterior equals the prior exactly, KL = 0."""
    model = make(kind).eval()
    xc, yc, xt = data()
    with torch.no_grad():
        torch.manual_seed(3)
        masked = model.sample_weights(xc, yc, torch.zeros(2, 12, dtype=torch.bool), num_samples=4)
        torch.manual_seed(3)
        prior = model.sample_weights(None, None, num_samples=4, num_tasks=2)
    for w_masked, w_prior in zip(masked.weights, prior.weights, strict=True):
        torch.testing.assert_close(w_masked, w_prior, rtol=1e-8, atol=1e-10)
    assert masked.kl.abs().max() < 1e-8


@pytest.mark.parametrize("kind", ["attn_bnnp", "bnam"])
def test_no_context_draws_match_the_prior_moments(kind):
    """Monte Carlo (S = 20,000) moments of the first layer's weights vs a non-trivial learned prior."""
    model = make(kind)
    prior = model.layers[0].prior
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        prior.mean.copy_(torch.randn(prior.mean.shape, generator=g, dtype=torch.float64))
        prior.log_scale.copy_(0.3 * torch.randn(prior.log_scale.shape, generator=g, dtype=torch.float64))
        prior.offdiag.copy_(0.5 * torch.randn(prior.offdiag.shape, generator=g, dtype=torch.float64))
        w = model.sample_weights(None, None, num_samples=20_000, num_tasks=1).weights[0][:, 0]  # (S, J, D)
        cov = prior.scale_tril() @ prior.scale_tril().mT  # (J, D, D)
    sd = cov.diagonal(dim1=-2, dim2=-1).sqrt()
    # mean within 5 standard errors; covariance within 0.05 of the largest variance (≈ 7 s.e. at S = 20k)
    assert ((w.mean(0) - prior.mean).abs() < 5 * sd / 20_000**0.5).all()
    centred = w - w.mean(0)
    mc_cov = torch.einsum("sjd,sje->jde", centred, centred) / (20_000 - 1)  # (J, D, D)
    assert (mc_cov - cov).abs().max() < 0.05 * cov.diagonal(dim1=-2, dim2=-1).max()


def test_attn_bnnp_chunked_equals_full_batch_in_value():
    model = make("attn_bnnp")
    xc, yc, _ = data(nc=13)
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            torch.manual_seed(5)
            full = model.sample_weights(xc, yc, num_samples=3)
            torch.manual_seed(5)
            chunked = model.sample_weights(xc, yc, num_samples=3, chunk_size=4)
        for a, b in zip(full.weights, chunked.weights, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(full.kl, chunked.kl, rtol=1e-9, atol=1e-9)


class _ForcedRandint:
    """Stands in for ``torch.randint``: consumes the RNG like the real draw, then returns the forced chunk."""

    def __init__(self, picks, real):
        self.picks, self.real = iter(picks), real

    def __call__(self, *args, **kwargs):
        self.real(*args, **kwargs)
        return torch.tensor(next(self.picks))


def test_attn_bnnp_chunked_gradient_is_unbiased(monkeypatch):
    """Average of the chunked gradient over every choice of carried chunk per layer = full gradient."""
    model = make("attn_bnnp", hidden_dims=(6,))  # two layers
    xc, yc, _ = data(b=1, nc=8)
    probe = [torch.randn(1, 1, 6, 3, dtype=torch.float64), torch.randn(1, 1, 1, 7, dtype=torch.float64)]

    def grads(chunk_size=None):
        torch.manual_seed(11)
        sample = model.sample_weights(xc, yc, num_samples=2, chunk_size=chunk_size)
        loss = sum((w * p).sum() for w, p in zip(sample.weights, probe, strict=True)) + sample.kl.sum()
        params = [p for p in model.parameters() if p.requires_grad]
        grad = torch.autograd.grad(loss, params, allow_unused=True)
        return torch.cat(
            [(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grad, strict=True)]
        )

    full = grads()
    estimates = []
    for picks in itertools.product(range(2), repeat=2):  # 2 chunks of 4 points, 2 layers
        forced = _ForcedRandint(picks, torch.randint)
        monkeypatch.setattr(torch, "randint", forced)
        estimates.append(grads(chunk_size=4))
        monkeypatch.undo()
    mean = torch.stack(estimates).mean(0)
    torch.testing.assert_close(mean, full, rtol=1e-7, atol=1e-9)
    assert not torch.allclose(estimates[0], full)  # each single estimate differs: the test can fail


def test_bnam_refuses_chunking():
    model = make("bnam")
    xc, yc, xt = data()
    with pytest.raises(NotImplementedError, match="BNAM cannot stream the context in chunks"):
        model(xc, yc, xt, num_samples=2, chunk_size=4)


def test_query_dependence_bnam_but_not_attn_bnnp():
    """AttnBNNP's prediction at a point ignores other query points; BNAM's does not (documented)."""
    xc, yc, xt = data(nt=6)
    for kind, depends in (("attn_bnnp", False), ("bnam", True)):
        model = make(kind).eval()
        with torch.no_grad():
            torch.manual_seed(2)
            sample = model.sample_weights(xc, yc, num_samples=2)
            all_points = model.decode(sample.weights, xt)[:, :, :3]
            first_three = model.decode(sample.weights, xt[:, :3])
        assert torch.allclose(all_points, first_three, atol=1e-10) != depends


@pytest.mark.parametrize("kind", ["attn_bnnp", "bnam"])
def test_objectives_and_checkpoint_round_trip(kind, tmp_path):
    model = make(kind)
    xc, yc, xt = data()
    batch = Batch(xc, yc, xt, torch.rand(2, 5, 1, dtype=torch.float64))
    for name, objective in OBJECTIVES.items():
        value = objective(model, batch, num_samples=2)
        value.mean().backward()
        assert value.shape == (2,) and torch.isfinite(value).all(), name
    path = save_checkpoint(tmp_path / "m.pt", model)
    loaded = load_checkpoint(path).model
    assert type(loaded) is type(model)
    with torch.no_grad():
        a, b = run(model.eval(), xc, yc, xt, num_samples=2), run(loaded, xc, yc, xt, num_samples=2)
    torch.testing.assert_close(a.ft, b.ft)


def test_bnam_prior_knob_counts_all_amortised_layers():
    model = make("bnam", prior_learnable_fraction=0.5)
    total = sum(m.numel() for m in model.prior_masks())
    assert sum(int(m.sum()) for m in model.prior_masks()) == total // 2
    assert len(model.prior_masks()) == 1 + 6 * SMALL["attn_layers"] + 1
