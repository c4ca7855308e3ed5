"""Fitting a BNNP-family model to one dataset by its ELBO (single-task fits; in a batch each task alone).

:class:`TaskwiseMLP` makes a batch of ``T`` tasks ``T`` independent single-task fits in one call: each
inference network becomes ``T`` separately initialised copies, task ``t``'s copy applied to task ``t``'s
points. With the prior and σ_y fixed the tasks then share no parameter, and Adam is elementwise, so one
batched fit equals ``T`` separate ones.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers import MLP
from ..objectives import elbo
from ..tasks.batch import Batch

__all__ = ["TaskwiseMLP", "taskwise_inference_nets", "maximise_elbo"]


class TaskwiseMLP(nn.Module):
    """``T`` independent copies of an :class:`~climate_bnnp.layers.MLP`: ``(T, N, d_in) -> (T, N, d_out)``.

    Args:
        template: the MLP whose architecture is copied (its own parameters are not used).
        num_tasks: ``T``.
        seed: copy ``t`` is initialised as a fresh ``nn.Linear`` stack under ``torch.manual_seed(seed + t)``.
    """

    pointwise = True

    def __init__(self, template: MLP, num_tasks: int, *, seed: int = 0) -> None:
        super().__init__()
        linears = [m for m in template.net if isinstance(m, nn.Linear)]
        self.acts = nn.ModuleList(m for m in template.net if not isinstance(m, nn.Linear))
        copies = []
        for task in range(num_tasks):
            torch.manual_seed(seed + task)
            copies.append([nn.Linear(m.in_features, m.out_features) for m in linears])  # as MLP draws them
        self.weights = nn.ParameterList(
            torch.stack([c[i].weight.detach() for c in copies]).to(linears[i].weight.dtype)
            for i in range(len(linears))
        )  # (T, d_out, d_in) per linear layer
        self.biases = nn.ParameterList(
            torch.stack([c[i].bias.detach() for c in copies]).to(linears[i].bias.dtype)
            for i in range(len(linears))
        )

    def forward(self, xc: Tensor, yc: Tensor, mask_c: Tensor | None = None) -> Tensor:
        """Per-point outputs ``(T, Nc, d_out)`` from ``[xc, yc]`` with task ``t``'s copy."""
        if xc.shape[0] != self.weights[0].shape[0]:
            raise ValueError(
                f"these inference networks belong to {self.weights[0].shape[0]} tasks, got a batch of "
                f"{xc.shape[0]}; fit one batch of exactly those tasks."
            )
        h = torch.cat([xc, yc], dim=-1)
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.mT)
            if index < len(self.acts):
                h = self.acts[index](h)
        return h


def taskwise_inference_nets(model: nn.Module, num_tasks: int, *, seed: int = 0) -> nn.Module:
    """Replace every MLP inference network of ``model`` (in place) by ``num_tasks`` independent copies."""
    for index, layer in enumerate(model.layers):
        if isinstance(layer.inference_net, MLP):
            net = TaskwiseMLP(layer.inference_net, num_tasks, seed=seed + 1000 * index)
            layer.inference_net = net.to(next(layer.prior.parameters()).dtype)
    return model


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
