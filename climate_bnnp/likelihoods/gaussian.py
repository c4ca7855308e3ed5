"""Homoscedastic Gaussian likelihood ``p(y | f) = N(y; f, diag(σ_y²))`` with a learnable σ_y: the training
side (torch) of :class:`~climate_bnnp.likelihoods.predictive.Gaussian`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from .predictive import Gaussian

if TYPE_CHECKING:
    from ..config import ModelConfig

__all__ = ["GaussianLikelihood"]


class GaussianLikelihood(nn.Module):
    """Gaussian observation noise per output dimension; the network output ``f`` is the mean (one output
    per target dimension, ``num_params = 1``).

    Parameterisation: ``σ_y = min_noise + exp(r)`` (unbounded) or ``σ_y = min_noise + bound · sigmoid(r)``
    (bounded), initialised so that ``σ_y = init``.

    Args:
        dim_y: output dimension Dy.
        init: initial σ_y.
        bound: optional upper bound of the learned part.
        learn: whether ``r`` is trainable.
        min_noise: a fixed lower bound on σ_y.
    """

    num_params = 1  # network outputs per target dimension: the mean
    predictive = Gaussian()

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

    @classmethod
    def from_config(cls, config: ModelConfig) -> GaussianLikelihood:
        """For ``config.dim_y`` dimensions, with ``noise_init``, ``noise_bound``, ``learn_noise`` and
        ``min_noise``."""
        return cls(
            config.dim_y,
            config.noise_init,
            bound=config.noise_bound,
            learn=config.learn_noise,
            min_noise=config.min_noise,
        )

    def std(self) -> Tensor:
        """σ_y per output dimension, ``(Dy,)``."""
        free = self.raw.exp() if self.bound is None else self.bound * torch.sigmoid(self.raw)
        return self.min_noise + free

    def noise_std(self) -> Tensor:
        """The noise std per output dimension, σ_y ``(Dy,)`` (as :meth:`std`)."""
        return self.std()

    @torch.no_grad()
    def predictive_params(self, f: np.ndarray) -> dict[str, np.ndarray]:
        """``loc = f`` ``(S, ..., N, Dy)`` and ``scale = σ_y`` ``(Dy,)``, float64 numpy."""
        return {"loc": np.asarray(f, np.float64), "scale": self.std().detach().cpu().double().numpy()}

    def log_prob(self, y: Tensor, f: Tensor) -> Tensor:
        """``log N(y; f, σ_y²)`` summed over Dy.

        ``y (..., N, Dy)`` and ``f (S, ..., N, Dy)`` give ``(S, ..., N)``.
        """
        std = self.std().to(f.dtype)
        z = (y - f) / std
        return (-0.5 * z**2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)

    def mean(self, f: Tensor) -> Tensor:
        """Predictive mean per weight sample: ``f`` itself, ``(S, ..., N, Dy)``."""
        return f

    def variance(self, f: Tensor) -> Tensor:
        """Predictive variance per weight sample, ``σ_y²`` broadcast to ``f``'s shape ``(S, ..., N, Dy)``."""
        return (self.std().to(f.dtype) ** 2).expand_as(f)

    def sample(self, f: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Observations ``f + σ_y ε``, ``ε ~ N(0, 1)``: ``(S, ..., N, Dy)`` (reparameterised)."""
        noise = torch.randn(f.shape, generator=generator, dtype=f.dtype, device=f.device)
        return f + self.std().to(f.dtype) * noise

    def prob_positive(self, f: Tensor) -> Tensor:
        """Not defined for a Gaussian (no point mass at zero); raises."""
        raise NotImplementedError(
            "GaussianLikelihood has no point mass at zero, so P(y > 0) is not a model output; estimate "
            "P(y > threshold) from sample(f), or use likelihood='bernoulli_gamma'."
        )
