"""Model helpers: a BNNP with a randomised (learned-like) prior."""

from __future__ import annotations

import torch

__all__ = ["randomise_prior"]


def randomise_prior(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every layer prior of a BNNP random means, log-scales and (full priors) off-diagonals, in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.layers:
            prior = layer.prior
            prior.mean.copy_(0.5 * torch.randn(prior.mean.shape, generator=g))
            prior.log_scale.copy_(0.3 * torch.randn(prior.log_scale.shape, generator=g))
            if prior.kind == "full":
                prior.offdiag.copy_(0.3 * torch.randn(prior.offdiag.shape, generator=g))
