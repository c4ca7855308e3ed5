"""Deterministic networks used inside the BNN layers: activations and per-point MLPs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "activation", "MLP"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


def activation(name: str) -> nn.Module:
    """The activation module called ``name`` (one of :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}.") from None


class MLP(nn.Module):
    """Plain MLP applied independently to every point: ``(..., d_in) -> (..., d_out)``."""

    pointwise = True

    def __init__(self, d_in: int, hidden: Sequence[int], d_out: int, act: str = "relu") -> None:
        super().__init__()
        widths = [d_in, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), activation(act)]
        layers.append(nn.Linear(widths[-1], d_out))
        self.net = nn.Sequential(*layers)

    def forward(self, xc: Tensor, yc: Tensor, mask_c: Tensor | None = None) -> Tensor:
        """Per-point outputs ``(B, Nc, d_out)`` from ``[xc, yc]``; the mask is not needed pointwise."""
        return self.net(torch.cat([xc, yc], dim=-1))
