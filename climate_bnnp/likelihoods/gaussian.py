"""Homoscedastic Gaussian likelihood ``p(y | f) = N(y; f, diag(σ_y²))`` with a learnable σ_y."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["GaussianLikelihood"]


class GaussianLikelihood(nn.Module):
    """Gaussian observation noise per output dimension.

    Parameterisation: ``σ_y = min_noise + exp(r)`` (unbounded) or ``σ_y = min_noise + bound · sigmoid(r)``
    (bounded), initialised so that ``σ_y = init``.

    Args:
        dim_y: output dimension Dy.
        init: initial σ_y.
        bound: optional upper bound of the learned part.
        learn: whether ``r`` is trainable.
        min_noise: a fixed lower bound on σ_y.
    """

    def __init__(
        self,
        dim_y: int,
        init: float,
        *,
        bound: float | None = None,
        learn: bool = True,
        min_noise: float = 0.0,
    ) -> None:
        super().__init__()
        free = init - min_noise
        if free <= 0:
            raise ValueError(f"noise init ({init}) must exceed min_noise ({min_noise}).")
        self.bound, self.min_noise = bound, min_noise
        raw = math.log(free) if bound is None else math.log(free / (bound - free))
        self.raw = nn.Parameter(torch.full((dim_y,), raw), requires_grad=learn)

    def std(self) -> Tensor:
        """σ_y per output dimension, ``(Dy,)``."""
        free = self.raw.exp() if self.bound is None else self.bound * torch.sigmoid(self.raw)
        return self.min_noise + free

    def log_prob(self, y: Tensor, f: Tensor) -> Tensor:
        """``log N(y; f, σ_y²)`` summed over Dy.

        ``y (..., N, Dy)`` and ``f (S, ..., N, Dy)`` give ``(S, ..., N)``.
        """
        std = self.std().to(f.dtype)
        z = (y - f) / std
        return (-0.5 * z**2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
