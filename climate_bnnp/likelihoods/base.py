"""What every observation model p(y | f) offers (a :class:`typing.Protocol`, for type checking)."""

from __future__ import annotations

from typing import ClassVar, Protocol

import torch
from torch import Tensor

__all__ = ["Likelihood"]


class Likelihood(Protocol):
    """An observation model on network outputs ``f (S, ..., N, Dy · num_params)``."""

    num_params: ClassVar[int]  # network outputs per target dimension

    def log_prob(self, y: Tensor, f: Tensor) -> Tensor:
        """``log p(y | f)`` summed over Dy, ``(S, ..., N)``."""
        ...

    def sample(self, f: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Observations ``(S, ..., N, Dy)``."""
        ...

    def mean(self, f: Tensor) -> Tensor:
        """Predictive mean per weight sample, ``(S, ..., N, Dy)``."""
        ...

    def variance(self, f: Tensor) -> Tensor:
        """Predictive variance per weight sample, ``(S, ..., N, Dy)``."""
        ...

    def prob_positive(self, f: Tensor) -> Tensor:
        """``P(y > 0)`` per weight sample, ``(S, ..., N, Dy)`` (raises where the model has no such output)."""
        ...

    def noise_std(self) -> Tensor | None:
        """The single noise std per output dimension ``(Dy,)``; None when the spread depends on the point."""
        ...
