"""Fitting a BNNP-family model to one dataset by its ELBO (the single-task fits of the studies)."""

from __future__ import annotations

import torch
from torch import nn

from ..objectives import elbo
from ..tasks import Batch

__all__ = ["maximise_elbo"]


def maximise_elbo(
    model: nn.Module, batch: Batch, *, steps: int, lr: float, final_lr: float, num_samples: int
) -> list[float]:
    """Adam on ``−ELBO`` of ``batch`` for ``steps`` steps, the learning rate decayed linearly from ``lr`` to
    ``final_lr``; only parameters that require gradients move. Returns the loss per step."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=lr)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimiser, 1.0, final_lr / lr, max(steps, 1))
    trace = []
    for _ in range(steps):
        loss = -elbo(model, batch, num_samples=num_samples).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        scheduler.step()
        trace.append(float(loss.detach()))
    return trace
