"""The context-space layer route against the weight-space route and dense float64 oracles.

Oracles: dense ``inv``/``slogdet`` of ``Λ = P + Hᵀ diag(λ) H`` (posterior mean, covariance, KL), the draw's
exact linear map in the noise (its Jacobian ``T`` must satisfy ``T Tᵀ = Λ⁻¹``), Matheron's rule written with
dense autograd algebra (gradients of the noisy draws), and the weight-space route of the same layer (mean
path and KL gradients). Problems on both sides of the crossover ``N = 0.9 D`` and at it.
"""

from __future__ import annotations

import math

import pytest
import torch

import climate_bnnp.layers.amortised as amortised
from climate_bnnp.layers import AmortisedLinear, accumulate_natural, context_route_cheaper, float32_suffices
from climate_bnnp.layers.context_space import CONTEXT_CROSSOVER, context_sample_with_kl
from climate_bnnp.models import BNNP

F64 = torch.float64
TOL = 1e-10


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def _layer(d_in: int, d_out: int, seed: int, kind: str = "full") -> AmortisedLinear:
    """A layer with a random learnable prior (non-trivial mean, scales and correlations)."""
    gen = torch.Generator().manual_seed(seed)
    layer = AmortisedLinear(d_in, d_out, inference_net=None, prior_kind=kind).to(F64)
    layer.context_float32 = False  # the oracle comparisons hold float64 to 1e-10
    layer.prior.set_weight_mask(torch.ones(d_out, d_in + 1, dtype=torch.bool))
    with torch.no_grad():
        layer.prior.mean.copy_(0.3 * torch.randn(d_out, d_in + 1, generator=gen, dtype=F64))
        layer.prior.log_scale.copy_(0.3 * torch.randn(d_out, d_in + 1, generator=gen, dtype=F64))
        if kind == "full":
            layer.prior.offdiag.copy_(0.3 * torch.randn(d_out, d_in + 1, d_in + 1, generator=gen, dtype=F64))
    return layer


def _context(s_post: int, b: int, n: int, dim: int, j: int, seed: int, masked: bool = True):
    """Features ``(S', B, N, D)`` (bias last), ``λ``, ``ŷ`` ``(1, B, N, J)``; task 0's last point padded."""
    gen = torch.Generator().manual_seed(seed + 100)
    h = torch.randn(s_post, b, n, dim, generator=gen, dtype=F64)
    h[..., -1] = 1.0
    yhat = torch.randn(1, b, n, j, generator=gen, dtype=F64)
    lam = 10.0 ** (2 * torch.rand(1, b, n, j, generator=gen, dtype=F64) - 1)  # 0.1 .. 10
    if masked and n > 1:
        lam[:, 0, -1] = 0.0
    return h, lam, yhat


def _dense(layer: AmortisedLinear, h, lam, yhat):
    """Posterior mean ``(S', B, J, D)``, covariance ``(S', B, J, D, D)`` and KL ``(S', B)``, dense."""
    p = layer.prior.precision().detach()  # (J, D, D)
    m = layer.prior.mean.detach()
    lam_u = lam.permute(0, 1, 3, 2).unsqueeze(-1)  # (1, B, J, N, 1)
    hh = h.unsqueeze(2)  # (S', B, 1, N, D)
    post = p + hh.mT @ (lam_u * hh)  # Λ
    eta = (p @ m.unsqueeze(-1)).squeeze(-1) + (hh.mT @ (lam_u * yhat.permute(0, 1, 3, 2)[..., None]))[..., 0]
    cov = torch.linalg.inv(post)
    mean = (cov @ eta.unsqueeze(-1)).squeeze(-1)
    d = mean - m
    kl = 0.5 * (
        (p * cov).sum((-2, -1))
        - h.shape[-1]
        + (d.unsqueeze(-2) @ p @ d.unsqueeze(-1))[..., 0, 0]
        + torch.linalg.slogdet(post)[1]
        - torch.linalg.slogdet(p)[1]
    )
    return mean, cov, kl.sum(-1)


def _route(layer, route, h, lam, yhat, num_samples, zero_noise=False):
    layer.route = route
    torch.manual_seed(7)
    if zero_noise:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(amortised.torch, "randn", lambda *a, **k: torch.zeros(*a, **k))
            return layer.sample_with_kl(accumulate_natural(h, lam, yhat), num_samples, h.shape[1])
    return layer.sample_with_kl(accumulate_natural(h, lam, yhat), num_samples, h.shape[1])


DIM = 12
SIDES = {  # N around the crossover 0.9 D = 10.8 for D = 12
    "N<<crossover": 3,
    "N just below": math.ceil(CONTEXT_CROSSOVER * DIM) - 1,
    "N at crossover": math.ceil(CONTEXT_CROSSOVER * DIM),
    "N>D": 17,
}


def test_the_crossover_rule():
    assert context_route_cheaper(10, DIM) and not context_route_cheaper(11, DIM)
    assert context_route_cheaper(14, DIM, float32=True) and not context_route_cheaper(15, DIM, float32=True)
    assert not context_route_cheaper(0, DIM) and not context_route_cheaper(3, 2)


@pytest.mark.parametrize("n", SIDES.values(), ids=SIDES.keys())
@pytest.mark.parametrize(("s", "s_post"), [(3, 3), (3, 1)], ids=["S'=S", "shared S'=1"])
@pytest.mark.parametrize("kind", ["full", "diagonal"])
def test_both_routes_give_the_dense_posterior_mean_and_kl(n, s, s_post, kind):
    layer = _layer(DIM - 1, 4, seed=n, kind=kind)
    h, lam, yhat = _context(s_post, 2, n, DIM, 4, seed=n)
    mean, _, kl_dense = _dense(layer, h, lam, yhat)
    mean_s = mean.unsqueeze(1).expand(s_post, s // s_post, *mean.shape[1:]).reshape(s, *mean.shape[1:])
    with torch.no_grad():
        for route in ("weight", "context"):
            w, kl = _route(layer, route, h, lam, yhat, s, zero_noise=True)  # ε = ξ = 0: the mean
            assert _rel(w, mean_s) < TOL, (route, _rel(w, mean_s))
            assert kl.shape == (s_post, 2) and _rel(kl, kl_dense) < TOL, (route, _rel(kl, kl_dense))


@pytest.mark.parametrize("n", [4, 9], ids=["N<D", "N>D"])
def test_context_draws_are_an_exact_linear_map_with_covariance_inverse_precision(n):
    """``w − μ = T [ζ; ξ]`` per unit, with ``T Tᵀ = Λ⁻¹`` and no cross-unit entries."""
    s, s_post, b, j, dim = 2, 1, 2, 3, 6
    layer = _layer(dim - 1, j, seed=n)
    h, lam, yhat = _context(s_post, b, n, dim, j, seed=n)
    cov = _dense(layer, h, lam, yhat)[1].expand(s, b, j, dim, dim).reshape(-1, dim, dim)
    mean, minv = layer.prior.mean.detach(), layer.prior.scale_tril().detach()
    sizes = [s * b * j * dim, s * b * j * n]

    def draw(vec):
        zeta, xi = vec.split(sizes)
        return context_sample_with_kl(h, yhat, lam, mean, minv, zeta.view(s, b, j, dim), xi.view(s, b, j, n))[
            0
        ]

    jac = torch.autograd.functional.jacobian(draw, torch.zeros(sum(sizes), dtype=F64))
    jz, jx = jac.reshape(s * b * j, dim, -1).split(sizes, dim=-1)
    jz, jx = jz.reshape(s * b * j, dim, s * b * j, dim), jx.reshape(s * b * j, dim, s * b * j, n)
    units = torch.arange(s * b * j)
    t = torch.cat([jz[units, :, units], jx[units, :, units]], -1)  # (units, D, D + N)
    assert float(jz.abs().sum() + jx.abs().sum() - t.abs().sum()) == 0.0  # no cross-unit entries
    assert _rel(t @ t.mT, cov) < TOL


def _matheron_dense(h, yhat, lam, mean, minv, zeta, xi):
    """Matheron's rule and the KL with dense autograd algebra (no custom backward), S' = S."""
    s, b, n, dim = h.shape
    root = lam.clamp_min(0).sqrt().permute(0, 1, 3, 2).unsqueeze(-1)  # (1, B, J, N, 1)
    u = root * (h.unsqueeze(2) @ minv)  # S U  (S, B, J, N, D)
    a = torch.eye(n, dtype=F64) + u @ u.mT
    w0 = mean + (minv @ zeta.unsqueeze(-1)).squeeze(-1)  # (S, B, J, D)
    hw0 = (h.unsqueeze(2) @ w0.unsqueeze(-1)).squeeze(-1)  # (S, B, J, N)
    y = yhat.permute(0, 1, 3, 2)
    r = root.squeeze(-1) * (y - hw0) - xi
    w = w0 + (minv @ (u.mT @ torch.linalg.solve(a, r.unsqueeze(-1)))).squeeze(-1)
    rm = root.squeeze(-1) * (y - (h.unsqueeze(2) @ mean.unsqueeze(-1)).squeeze(-1))
    z = u.mT @ torch.linalg.solve(a, rm.unsqueeze(-1))
    kl = 0.5 * (
        torch.linalg.inv(a).diagonal(dim1=-2, dim2=-1).sum(-1) - n + z.square().sum((-2, -1)) + a.logdet()
    )
    return w, kl


@pytest.mark.parametrize("n", [5, 11, 16], ids=["N<D", "at crossover", "N>D"])
def test_noisy_draw_and_kl_gradients_match_dense_autograd(n):
    s, b, j, dim = 2, 2, 3, 12
    layer = _layer(dim - 1, j, seed=n)
    h, lam, yhat = _context(s, b, n, dim, j, seed=n, masked=False)
    gen = torch.Generator().manual_seed(n)
    zeta = torch.randn(s, b, j, dim, generator=gen, dtype=F64)
    xi = torch.randn(s, b, j, n, generator=gen, dtype=F64)
    c = torch.randn(s, b, j, dim, generator=gen, dtype=F64)
    for t in (h, lam, yhat):
        t.requires_grad_()
    prior = layer.prior
    inputs = [h, lam, yhat, prior.mean, prior.log_scale, prior.offdiag]
    grads = []
    for fn in (context_sample_with_kl, _matheron_dense):
        w, kl = fn(h, yhat, lam, prior.mean, prior.scale_tril(), zeta, xi)
        grads.append(torch.autograd.grad((c * w).sum() + kl.square().sum(), inputs))
    for name, ours, oracle in zip(["H", "λ", "ŷ", "mean", "log_scale", "offdiag"], *grads, strict=True):
        assert _rel(ours, oracle) < TOL, (name, _rel(ours, oracle))


@pytest.mark.parametrize("n", SIDES.values(), ids=SIDES.keys())
def test_mean_path_and_kl_gradients_match_the_weight_route(n):
    s, b, j = 2, 3, 4
    layer = _layer(DIM - 1, j, seed=n)
    h, lam, yhat = _context(s, b, n, DIM, j, seed=n)
    for t in (h, lam, yhat):
        t.requires_grad_()
    prior = layer.prior
    inputs = [h, lam, yhat, prior.mean, prior.log_scale, prior.offdiag]
    c = torch.randn(s, b, j, DIM, generator=torch.Generator().manual_seed(1), dtype=F64)
    grads = []
    for route in ("weight", "context"):
        w, kl = _route(layer, route, h, lam, yhat, s, zero_noise=True)
        grads.append(torch.autograd.grad((c * w).sum() + kl.square().sum(), inputs))
    live = lam.detach() > 0  # λ's gradient at a padded point is defined as 0 in the context route
    for name, ours, oracle in zip(["H", "λ", "ŷ", "mean", "log_scale", "offdiag"], *grads, strict=True):
        if name == "λ":
            ours, oracle = ours[live], oracle[live]
        assert _rel(ours, oracle) < TOL, (name, _rel(ours, oracle))


def test_padded_points_change_nothing_and_get_zero_gradients():
    s, b, j, n = 3, 2, 4, 5
    layer = _layer(DIM - 1, j, seed=0)
    h, lam, yhat = _context(s, b, n, DIM, j, seed=0, masked=False)
    gen = torch.Generator().manual_seed(3)
    zeta, xi = (
        torch.randn(s, b, j, DIM, generator=gen, dtype=F64),
        torch.randn(s, b, j, n, generator=gen, dtype=F64),
    )
    mean, minv = layer.prior.mean.detach(), layer.prior.scale_tril().detach()
    w, kl = context_sample_with_kl(h, yhat, lam, mean, minv, zeta, xi)
    # one padded point appended to every task, with arbitrary features and pseudo-observations
    h_pad = torch.cat([h, torch.full_like(h[:, :, :1], 7.0)], 2).requires_grad_()
    yhat_pad = torch.cat([yhat, torch.full_like(yhat[:, :, :1], 3.0)], 2).requires_grad_()
    lam_pad = torch.cat([lam, torch.zeros_like(lam[:, :, :1])], 2).requires_grad_()
    xi_pad = torch.cat([xi, torch.randn(s, b, j, 1, generator=gen, dtype=F64)], -1)
    w_pad, kl_pad = context_sample_with_kl(h_pad, yhat_pad, lam_pad, mean, minv, zeta, xi_pad)
    assert _rel(w_pad, w) < 1e-13 and _rel(kl_pad, kl) < 1e-13
    grads = torch.autograd.grad(w_pad.square().sum() + kl_pad.sum(), [h_pad, yhat_pad, lam_pad])
    for g in grads:
        assert torch.isfinite(g).all() and float(g[:, :, -1].abs().max()) == 0.0


def test_the_layer_picks_the_route_per_call(monkeypatch):
    calls = []
    real = amortised.context_sample_with_kl
    monkeypatch.setattr(amortised, "context_sample_with_kl", lambda *a: calls.append(1) or real(*a))
    layer = _layer(DIM - 1, 2, seed=0)
    for f32, n, expected in ((False, 10, 1), (False, 12, 0), (True, 12, 1), (True, 15, 0)):
        calls.clear()  # crossovers: 10.8 in float64, 14.4 in float32
        layer.context_float32 = f32
        h, lam, yhat = _context(2, 2, n, DIM, 2, seed=n)
        assert float32_suffices(h, lam, layer.prior.scale_tril())
        layer.sample_with_kl(accumulate_natural(h, lam, yhat), 2, 2)
        assert len(calls) == expected, (f32, n)
    layer.context_float32 = False
    calls.clear()
    with torch.no_grad():  # without autograd (prediction) "auto" keeps the weight route
        layer.sample_with_kl(accumulate_natural(*_context(2, 2, 5, DIM, 2, seed=0)), 2, 2)
    assert not calls
    nat = accumulate_natural(h[..., :6, :], lam[..., :6, :], yhat[..., :6, :])
    layer.sample_with_kl(nat + nat + nat, 2, 2)  # 18 points in all: above the crossover, weight space
    layer.sample_with_kl(nat + nat, 2, 2)  # 12 points: joined, but above the float64 crossover
    reference = layer.posterior(nat)
    layer.sample_with_kl(nat, 2, 2, reference)  # NPVI's reference KL: weight space
    layer.sample_with_kl(nat.detach(), 2, 2)  # a detached (or scaled) sum, as in the unbiased estimator
    assert not calls
    small = accumulate_natural(h[..., :4, :], lam[..., :4, :], yhat[..., :4, :])
    layer.sample_with_kl(small + small, 2, 2)  # chunks of 8 points in all: context space, as unchunked
    assert len(calls) == 1
    layer.route = "context"
    with pytest.raises(ValueError, match="route='context' needs the context terms"):
        layer.sample_with_kl(nat + nat + nat, 2, 2)
    with pytest.raises(ValueError, match="route must be one of"):
        layer.route = "fast"


def test_the_route_and_the_draws_do_not_depend_on_the_chunking():
    """Chunks that together stay below the crossover are joined: the same route, ξ and draws as one chunk;
    above it the weight route's chunk sums give the unchunked values too."""
    layer = _layer(DIM - 1, 3, seed=2)
    for n in (9, 16):  # below and above the crossovers
        h, lam, yhat = _context(2, 2, n, DIM, 3, seed=n)
        out = []
        for cut in (n, 4):
            parts = [slice(0, cut), slice(cut, n)] if cut < n else [slice(0, n)]
            nat = None
            for idx in parts:
                term = accumulate_natural(h[..., idx, :], lam[..., idx, :], yhat[..., idx, :])
                nat = term if nat is None else nat + term
            torch.manual_seed(3)
            with torch.no_grad():
                out.append(layer.sample_with_kl(nat, 2, 2))
        assert _rel(out[1][0], out[0][0]) < 1e-12 and _rel(out[1][1], out[0][1]) < 1e-12, n


def test_float32_context_route_is_within_its_stated_tolerance_and_falls_back_outside_its_bound():
    """Opt-in float32 algebra: KL, draws and gradients within 1e-4 relative of float64 (measured ~2e-6) where
    ``float32_suffices``; outside the bound the float64 numbers exactly."""
    s, b, j, n = 3, 2, 4, 8
    layer = _layer(DIM - 1, j, seed=4)
    h, lam, yhat = _context(s, b, n, DIM, j, seed=4)
    assert float32_suffices(h, lam, layer.prior.scale_tril()) and not float32_suffices(
        100.0 * h, lam, layer.prior.scale_tril()
    )
    for scale, tol in ((1.0, 1e-4), (100.0, 0.0)):
        hs = (scale * h).requires_grad_()
        inputs = [hs, lam.requires_grad_(), yhat.requires_grad_(), layer.prior.mean, layer.prior.offdiag]
        out = []
        for f32 in (False, True):
            layer.context_float32 = f32
            w, kl = _route(layer, "context", hs, lam, yhat, s)
            assert w.dtype == kl.dtype == F64
            out.append((w, kl, torch.autograd.grad((w * w).sum() + kl.sum(), inputs)))
        (w64, kl64, g64), (w32, kl32, g32) = out
        errors = [_rel(w32, w64), _rel(kl32, kl64), *(_rel(a, c) for a, c in zip(g32, g64, strict=True))]
        assert max(errors) <= tol, (scale, errors)
        if tol:
            assert max(errors) > 0  # it did run in float32


def test_positions_padded_in_every_task_change_neither_route_nor_draws():
    """Padding the batch to 20 points (above the crossover) leaves 8 live positions: the same context
    route, the same ξ and the same draws and KL as the unpadded call."""
    layer = _layer(DIM - 1, 3, seed=6)
    h, lam, yhat = _context(2, 2, 8, DIM, 3, seed=6, masked=False)
    pad = 12
    h_pad = torch.cat([h, torch.randn(2, 2, pad, DIM, dtype=F64)], 2)
    lam_pad = torch.cat([lam, torch.zeros(1, 2, pad, 3, dtype=F64)], 2)
    yhat_pad = torch.cat([yhat, torch.randn(1, 2, pad, 3, dtype=F64)], 2)
    out = []
    for args in ((h, lam, yhat), (h_pad, lam_pad, yhat_pad)):
        torch.manual_seed(5)
        out.append(layer.sample_with_kl(accumulate_natural(*args), 2, 2))
        out[-1] = (*out[-1], torch.rand(1))  # the RNG stream after the call
    for a, b in zip(*out, strict=True):
        assert torch.equal(a, b)


def test_non_finite_context_raises():
    layer = _layer(DIM - 1, 2, seed=0)
    h, lam, yhat = _context(1, 2, 4, DIM, 2, seed=0)
    h[0, 1, 2, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        layer.sample_with_kl(accumulate_natural(h, lam, yhat), 2, 2)


def test_bnnp_kl_is_the_same_on_both_routes():
    """One hidden layer of 24 units: the final layer (D = 25, Nc = 6) takes the context route under "auto";
    its KL depends only on the first layer's draws, which both routes take from the same ε."""
    torch.manual_seed(0)
    model = BNNP(dim_x=2, dim_y=1, hidden_dims=(24,), inf_hidden_dims=(8,)).to(F64)
    xc, yc = torch.randn(3, 6, 2, dtype=F64), torch.randn(3, 6, 1, dtype=F64)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, -2:] = False
    out = {}
    for route in ("weight", "auto"):
        for layer in model.layers:
            layer.route, layer.context_float32 = route, False
        torch.manual_seed(1)
        out[route] = model.sample_weights(xc, yc, mask, num_samples=4)
    assert torch.equal(out["weight"].weights[0], out["auto"].weights[0])
    assert _rel(out["auto"].kl, out["weight"].kl) < TOL


def test_bnnp_elbo_and_gradients_with_float32_context_algebra_are_within_tolerance():
    """The default float32 context algebra against float64 on a PP-AVI step (same seed, same ε and ξ):
    the ELBO within 1e-5 relative and every parameter's gradient within 1e-3 of its largest entry."""
    from climate_bnnp.objectives import pp_avi
    from climate_bnnp.tasks import Batch

    torch.manual_seed(0)
    model = BNNP(dim_x=1, dim_y=1, hidden_dims=(24, 24), inf_hidden_dims=(16,), activation="silu").to(F64)
    xc, xt = torch.randn(4, 10, 1, dtype=F64), torch.randn(4, 12, 1, dtype=F64)
    batch = Batch(xc, torch.sin(3 * xc), xt, torch.sin(3 * xt))
    params = [p for p in model.parameters() if p.requires_grad]
    out = {}
    for f32 in (False, True):
        for layer in model.layers:
            layer.context_float32 = f32
        torch.manual_seed(1)
        elbo = pp_avi(model, batch, num_samples=4).sum()
        out[f32] = (elbo.detach(), torch.autograd.grad(elbo, params))
    (e64, g64), (e32, g32) = out[False], out[True]
    assert 0 < _rel(e32, e64) < 1e-5, _rel(e32, e64)
    assert max(_rel(a, c) for a, c in zip(g32, g64, strict=True)) < 1e-3
