"""Mixed precision (``train.dtype: float32``, alias ``mixed``) against float64 on a small fixed problem.

The float32 parts (inference networks, decoder forward, likelihood) round each value to a relative
``eps32 = 2^-23 ≈ 1.2e-7``; the posterior algebra and the KL run in float64 from the same float64 noise draws
(the draws are made in the accumulation dtype), so the two paths differ by rounding only. A few roundings
add up along the [16, 16] networks and the well-conditioned posterior (measured: ~1 eps32 on the objective
and the weights, ~4 eps32 on the gradients), so 100 eps32 (objective, weights) and 1000 eps32 (gradients)
leave room for other BLAS builds while still catching any float16/bfloat16-sized error (eps ≥ 1e-3).
"""

from __future__ import annotations

import copy

import pytest
import torch

from climate_bnnp.config import ConfigError, TrainConfig
from climate_bnnp.models import BNNP
from climate_bnnp.objectives import elbo, pp_avi
from climate_bnnp.tasks import Batch

EPS32 = torch.finfo(torch.float32).eps


def _problem():
    torch.manual_seed(0)
    model = BNNP(dim_x=2, dim_y=1, hidden_dims=(16, 16), inf_hidden_dims=(16, 16), prior_type="full").double()
    g = torch.Generator().manual_seed(1)
    xc = torch.randn(3, 40, 2, generator=g, dtype=torch.float64)
    xt = torch.randn(3, 30, 2, generator=g, dtype=torch.float64)
    f = lambda x: torch.sin(x.sum(-1, keepdim=True))  # noqa: E731
    return model, Batch(xc, f(xc), xt, f(xt))


@pytest.mark.parametrize("objective", [pp_avi, elbo], ids=["pp_avi", "elbo"])
def test_mixed_objective_and_gradients_match_float64(objective):
    m64, batch = _problem()
    m32 = copy.deepcopy(m64).float()
    torch.manual_seed(5)
    v64 = objective(m64, batch, num_samples=8)
    torch.manual_seed(5)
    v32 = objective(m32, batch.to(dtype=torch.float32), num_samples=8)
    assert v32.dtype == torch.float64  # the KL (float64) lifts the objective
    rel = ((v32 - v64).abs() / v64.abs()).max().item()
    assert 1e3 * torch.finfo(torch.float64).eps < rel < 100 * EPS32  # float32 did run, and only rounds
    v64.sum().backward()
    v32.sum().backward()
    grads64 = dict(m64.named_parameters())
    for name, p in m32.named_parameters():
        if p.grad is None or grads64[name].grad.norm() == 0:
            continue
        err = (p.grad.double() - grads64[name].grad).norm() / grads64[name].grad.norm()
        assert err < 1000 * EPS32, name


def test_mixed_posterior_algebra_stays_float64():
    m64, batch = _problem()
    m32 = copy.deepcopy(m64).float()
    torch.manual_seed(5)
    s64 = m64.sample_weights(batch.xc, batch.yc, None, num_samples=8)
    torch.manual_seed(5)
    s32 = m32.sample_weights(batch.xc.float(), batch.yc.float(), None, num_samples=8)
    assert all(w.dtype == torch.float64 for w in s32.weights) and s32.kl.dtype == torch.float64
    for w64, w32 in zip(s64.weights, s32.weights, strict=True):
        assert (w32 - w64).abs().max() < 100 * EPS32 * w64.abs().max()
    assert m32.decode(s32.weights, batch.xt.float()).dtype == torch.float32  # the forward pass is float32


def test_mixed_is_the_float32_path():
    assert TrainConfig(dtype="mixed").dtype == "float32"
    with pytest.raises(ConfigError, match="train.dtype.*'float16'.*'mixed'"):
        TrainConfig(dtype="float16")
