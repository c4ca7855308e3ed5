"""Mean-field Gaussian variational inference for a small BNN (Blundell et al. 2015), the ELBO baseline.

Weights of layer ``l`` are ``W_l ∈ R^{d_l × (d_{l-1} + 1)}`` (bias last), with the standard scaled prior
``N(0, 1 / (d_{l-1} + 1))`` per weight (the BNNP's fixed prior) and the factorised posterior
``q(w) = N(μ, softplus(ρ)²)``, sampled with the reparameterisation trick. The KL is in closed form.

:class:`MeanFieldBNN` is the single-dataset face of
:class:`~climate_bnnp.studies.weight_space.MeanFieldPosterior` (one task, the standard prior, torch's global
RNG for the weight draws), which fits batches of tasks under any unit-wise Gaussian prior.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .weight_space import INIT_STD, MeanFieldPosterior, WeightPrior, bnn_forward

__all__ = ["MeanFieldBNN", "INIT_STD"]


class MeanFieldBNN(nn.Module):
    """A BNN ``[dim_x, *hidden, 1]`` with a mean-field Gaussian posterior and a fixed Gaussian likelihood.

    Args:
        hidden: hidden widths. activation: e.g. ``relu`` or ``tanh``.
        noise_std: fixed likelihood noise σ_y.
        dim_y: must be 1 (one output).
        seed: seeds the initial means (drawn from the prior, as a standard initialisation).

    Attributes:
        posterior: the :class:`~climate_bnnp.studies.weight_space.MeanFieldPosterior` (one task).
        means, raw_stds: its parameters per layer, ``(1, d_out, D)``. prior_stds: ``1 / √D`` per layer.
    """

    def __init__(
        self,
        hidden: Sequence[int],
        *,
        noise_std: float,
        dim_x: int = 1,
        dim_y: int = 1,
        activation: str = "relu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if dim_y != 1:
            raise ValueError(f"MeanFieldBNN models one output: expected dim_y = 1, got {dim_y}.")
        dims = [dim_x, *hidden, dim_y]
        prior = WeightPrior.standard(dims, activation)
        self.posterior = MeanFieldPosterior(prior, 1, generator=torch.Generator().manual_seed(seed))
        self.prior_stds = [1.0 / math.sqrt(d_in + 1) for d_in in dims[:-1]]
        self.noise_std = noise_std

    @property
    def means(self) -> nn.ParameterList:
        return self.posterior.means

    @property
    def raw_stds(self) -> nn.ParameterList:
        return self.posterior.raw_stds

    def _task(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x (N, dim_x)``, ``y (N,)`` as a batch of one task with its mask."""
        return x[None], y[None], torch.ones(1, len(x), dtype=torch.bool)

    def kl(self) -> Tensor:
        """``KL[q(W) ‖ p(W)]`` summed over all weights (scalar)."""
        return self.posterior.kl()[0]

    def sample_functions(self, x: Tensor, num_samples: int) -> Tensor:
        """Function values ``(S, N)`` at ``x (N, dim_x)`` under ``S`` reparameterised weight draws."""
        weights = self.posterior.sample_weights(num_samples)  # (1, S, d_out, D) per layer; global RNG
        return bnn_forward(weights, x[None, None], self.posterior.prior.activation)[0]

    def elbo_terms(self, x: Tensor, y: Tensor, num_samples: int) -> tuple[Tensor, Tensor]:
        """Per-sample expected log-likelihood ``(S,)`` and the KL (scalar); ``y (N,)``."""
        ell, kl = self.posterior.elbo_terms(*self._task(x, y), self.noise_std, num_samples)
        return ell[0], kl[0]

    def fit(self, x: Tensor, y: Tensor, *, steps: int, lr: float, final_lr: float, num_samples: int) -> None:
        """Maximise the ELBO with Adam for ``steps`` steps, the learning rate decayed linearly from ``lr`` to
        ``final_lr``; ``num_samples`` weight draws per step; ``y (N,)``."""
        self.posterior.fit(
            *self._task(x, y), self.noise_std, steps=steps, lr=lr, final_lr=final_lr, num_samples=num_samples
        )
