"""Priors: scaled initialisation and the prior-flexibility knob ρ."""

import math

import pytest
import torch

from climate_bnnp import BNNP
from climate_bnnp.layers import UnitwisePrior, learnable_weight_masks


@pytest.mark.parametrize("kind", ["full", "diagonal"])
def test_prior_is_scaled_standard_at_initialisation(kind):
    prior = UnitwisePrior(d_in=6, d_out=3, kind=kind)
    cov = torch.linalg.inv(prior.precision())
    torch.testing.assert_close(cov, torch.eye(7).expand(3, 7, 7) / 7)
    torch.testing.assert_close(prior.logdet_precision(), torch.full((3,), 7 * math.log(7.0)))


def test_full_prior_precision_and_logdet_agree_with_its_covariance():
    prior = UnitwisePrior(d_in=3, d_out=2, kind="full")
    with torch.no_grad():
        prior.log_scale.normal_(0, 0.3)
        prior.offdiag.normal_(0, 0.5)
    cov = prior.scale_tril() @ prior.scale_tril().mT
    torch.testing.assert_close(prior.precision() @ cov, torch.eye(4).expand(2, 4, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(prior.logdet_precision(), -torch.logdet(cov), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.37, 0.5, 0.93, 1.0])
def test_knob_selects_floor_rho_k_weights_from_the_input_layer(fraction):
    shapes = [(8, 2), (8, 9), (1, 9)]  # [1 -> 8 -> 8 -> 1]
    total = sum(r * c for r, c in shapes)
    masks = learnable_weight_masks(shapes, fraction, seed=3)
    assert sum(int(m.sum()) for m in masks) == math.floor(fraction * total)
    # Counted from the front: once a layer is not full, every later layer is empty.
    fill = [m.float().mean().item() for m in masks]
    for earlier, later in zip(fill[:-1], fill[1:], strict=True):
        assert later == 0.0 or earlier == 1.0


def test_knob_masks_gradients_and_travel_with_the_model(tmp_path):
    model = BNNP(hidden_dims=(8, 8), inf_hidden_dims=(8,), prior_learnable_fraction=0.5, seed=7).double()
    masks = model.prior_masks()
    assert masks[0].all() and not masks[2].any() and 0 < masks[1].sum() < masks[1].numel()
    xc, yc = torch.randn(2, 5, 1, dtype=torch.float64), torch.randn(2, 5, 1, dtype=torch.float64)
    out = model(xc, yc, xc, num_samples=3)
    (out.ft.sum() + out.kl.sum()).backward()
    boundary = model.layers[1].prior
    assert (boundary.mean.grad[~masks[1]] == 0).all() and (boundary.mean.grad[masks[1]] != 0).any()
    pair = masks[1][:, :, None] & masks[1][:, None, :]
    assert (boundary.offdiag.grad[~pair] == 0).all()
    assert model.layers[2].prior.mean.grad is None  # fully frozen layer: no gradient at all
    from climate_bnnp import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "m.pt", model)
    loaded = load_checkpoint(tmp_path / "m.pt").model
    for a, b in zip(masks, loaded.prior_masks(), strict=True):
        assert torch.equal(a, b)
