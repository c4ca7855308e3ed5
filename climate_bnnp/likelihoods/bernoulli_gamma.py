"""Zero-inflated Bernoulli–Gamma likelihood for a non-negative target with exact zeros (precipitation): the
training side (torch) of :class:`~climate_bnnp.likelihoods.predictive.BernoulliGamma`.

For one target dimension, with rain probability π, Gamma shape k and scale θ::

    p(y) = 1 − π                   if y <= 0   (a point mass at 0: dry)
    p(y) = π · Gamma(y; k, θ)      if y > 0,   Gamma(y; k, θ) = y^(k−1) e^(−y/θ) / (Γ(k) θ^k)

``log_prob`` returns this mixed density (a probability at 0, a density above), which is what the
objectives sum. Moments: ``E[y] = π k θ``, ``Var[y] = π k θ² (k + 1) − (π k θ)²``.

The network gives ``Dy · 3`` outputs per point, in three blocks of ``Dy``: ``f = [logit π | raw k | raw θ]``,
with ``π = sigmoid(logit π)``, ``k = softplus(raw k) + SHAPE_FLOOR``, ``θ = softplus(raw θ) + SCALE_FLOOR``.
The likelihood itself has no parameters. The target must be >= 0 with dry cells exactly 0, e.g. tp with
``tp_transform="scale"`` (``tp / rms(tp)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .predictive import BernoulliGamma

if TYPE_CHECKING:
    from ..config import ModelConfig

__all__ = ["BernoulliGammaLikelihood", "SCALE_FLOOR", "SHAPE_FLOOR"]

SHAPE_FLOOR = 1e-3  # lower bound of the Gamma shape k
SCALE_FLOOR = 1e-3  # lower bound of the Gamma scale θ (in target units)


class BernoulliGammaLikelihood(nn.Module):
    """Point mass at zero with probability ``1 − π``, Gamma(k, θ) amounts with probability π.

    Args:
        dim_y: output dimension Dy (each dimension has its own π, k, θ).
    """

    num_params = 3  # network outputs per target dimension: logit π, raw k, raw θ
    predictive = BernoulliGamma()

    def __init__(self, dim_y: int) -> None:
        super().__init__()
        self.dim_y = dim_y

    @classmethod
    def from_config(cls, config: ModelConfig) -> BernoulliGammaLikelihood:
        """For ``config.dim_y`` dimensions (no parameters of its own)."""
        return cls(config.dim_y)

    def distribution_params(self, f: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``f (S, ..., N, 3 Dy)`` -> ``(logit π, k, θ)``, each ``(S, ..., N, Dy)``."""
        if f.shape[-1] != self.num_params * self.dim_y:
            raise ValueError(
                f"Bernoulli–Gamma expects f with 3 · Dy = {self.num_params * self.dim_y} outputs in its last "
                f"dimension ([logit π | raw k | raw θ]), got shape {tuple(f.shape)}; build the model with "
                "likelihood='bernoulli_gamma' so its output width is 3 · dim_y."
            )
        logit, raw_shape, raw_scale = f.unflatten(-1, (self.num_params, self.dim_y)).unbind(-2)
        return logit, F.softplus(raw_shape) + SHAPE_FLOOR, F.softplus(raw_scale) + SCALE_FLOOR

    @torch.no_grad()
    def predictive_params(self, f: np.ndarray) -> dict[str, np.ndarray]:
        """``prob`` (π), ``shape``, ``scale`` and ``logit`` ``(S, ..., N, Dy)`` float64 numpy from outputs
        ``f (S, ..., N, 3 Dy)`` (this module's sigmoid and softplus + floors, in float64)."""
        logit, shape, scale = self.distribution_params(torch.as_tensor(f, dtype=torch.float64))
        return {
            "prob": torch.sigmoid(logit).numpy(),
            "shape": shape.numpy(),
            "scale": scale.numpy(),
            "logit": logit.numpy(),
        }

    def log_prob(self, y: Tensor, f: Tensor) -> Tensor:
        """``log p(y | f)`` summed over Dy.

        ``y (..., N, Dy)`` and ``f (S, ..., N, 3 Dy)`` give ``(S, ..., N)``: ``log(1 − π)`` where ``y <= 0``,
        ``log π + log Gamma(y; k, θ)`` where ``y > 0``.
        """
        logit, shape, scale = self.distribution_params(f)
        y = y.to(f.dtype)
        wet = y > 0
        y_wet = torch.where(wet, y, torch.ones_like(y))  # keeps log(y) finite (and its gradient) where dry
        log_gamma = (shape - 1) * torch.log(y_wet) - y_wet / scale  # log Gamma(y; k, θ), (S, ..., N, Dy)
        log_gamma = log_gamma - torch.lgamma(shape) - shape * torch.log(scale)
        log_p = torch.where(wet, F.logsigmoid(logit) + log_gamma, F.logsigmoid(-logit))  # (S, ..., N, Dy)
        return log_p.sum(-1)

    def prob_positive(self, f: Tensor) -> Tensor:
        """``P(y > 0) = π``, ``(S, ..., N, Dy)``."""
        return torch.sigmoid(self.distribution_params(f)[0])

    def mean(self, f: Tensor) -> Tensor:
        """Predictive mean per weight sample, ``π k θ``, ``(S, ..., N, Dy)``."""
        logit, shape, scale = self.distribution_params(f)
        return torch.sigmoid(logit) * shape * scale

    def variance(self, f: Tensor) -> Tensor:
        """Predictive variance per weight sample, ``π k θ² (k + 1) − (π k θ)²``, ``(S, ..., N, Dy)``."""
        logit, shape, scale = self.distribution_params(f)
        pi = torch.sigmoid(logit)
        return pi * shape * scale**2 * (shape + 1) - (pi * shape * scale) ** 2

    @torch.no_grad()
    def sample(self, f: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Observations ``(S, ..., N, Dy)``: exactly 0 with probability ``1 − π``, else ``Gamma(k, θ)``.

        Not reparameterised (no gradient). ``generator`` makes the draws reproducible.
        """
        logit, shape, scale = self.distribution_params(f)
        wet = torch.rand(logit.shape, generator=generator, dtype=logit.dtype, device=logit.device)
        wet = wet < torch.sigmoid(logit)
        amount = torch._standard_gamma(shape, generator=generator) * scale  # Gamma(k, 1) · θ
        return torch.where(wet, amount, torch.zeros_like(amount))

    def noise_std(self) -> None:
        """None: there is no single noise std (the spread depends on the point, see :meth:`variance`)."""
        return None

    def std(self) -> Tensor:
        """Not defined: the spread depends on the point (see :meth:`variance`); raises."""
        raise NotImplementedError(
            "BernoulliGammaLikelihood has no single noise std: its spread depends on (π, k, θ) at each "
            "point. Use variance(f) or sample(f) for the predictive spread."
        )

    def extra_repr(self) -> str:
        return f"dim_y={self.dim_y}"
