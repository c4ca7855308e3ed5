"""What every observation model's training side offers (a :class:`typing.Protocol`, for type checking), and
:func:`build_likelihood`, which builds the one a :class:`~climate_bnnp.config.ModelConfig` names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch
from torch import Tensor

from .predictive import PredictiveLikelihood, get_likelihood

if TYPE_CHECKING:
    from ..config import ModelConfig

__all__ = ["Likelihood", "build_likelihood"]


class Likelihood(Protocol):
    """An observation model on network outputs ``f (S, ..., N, Dy · num_params)``."""

    num_params: ClassVar[int]  # network outputs per target dimension
    predictive: ClassVar[PredictiveLikelihood]  # its predictive side (numpy), the registry's entry

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

    def predictive_params(self, f: np.ndarray) -> dict[str, Any]:
        """The parameters of :attr:`predictive` (float64 numpy, last axis Dy) from outputs
        ``f (S, ..., N, Dy · num_params)``."""
        ...


def build_likelihood(config: ModelConfig) -> Likelihood:
    """The likelihood ``config.likelihood`` names, for ``config.dim_y`` target dimensions (its training
    class's ``from_config``).

    Raises:
        ValueError: an unregistered name.
    """
    return get_likelihood(config.likelihood).training_class().from_config(config)
