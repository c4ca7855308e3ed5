"""Mean-field Gaussian variational inference for a small BNN (Blundell et al. 2015), the ELBO baseline.

Weights of layer ``l`` are ``W_l ∈ R^{d_l × (d_{l-1} + 1)}`` (bias last), with the standard scaled prior
``N(0, 1 / (d_{l-1} + 1))`` per weight (the BNNP's fixed prior) and the factorised posterior
``q(w) = N(μ, softplus(ρ)²)``, sampled with the reparameterisation trick. The KL is in closed form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

__all__ = ["MeanFieldBNN"]

INIT_STD = 1e-3


class MeanFieldBNN(nn.Module):
    """A BNN ``[dim_x, *hidden, dim_y]`` with a mean-field Gaussian posterior and a fixed Gaussian likelihood.

    Args:
        hidden: hidden widths. activation: ``relu`` or ``tanh``.
        noise_std: fixed likelihood noise σ_y.
        seed: seeds the initial means (drawn from the prior, as a standard initialisation).
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
        dims = [dim_x, *hidden, dim_y]
        generator = torch.Generator().manual_seed(seed)
        self.means = nn.ParameterList()
        self.raw_stds = nn.ParameterList()
        self.prior_stds: list[float] = []
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
            prior_std = 1.0 / math.sqrt(d_in + 1)
            self.prior_stds.append(prior_std)
            mean = prior_std * torch.randn(d_out, d_in + 1, generator=generator, dtype=torch.float64)
            self.means.append(nn.Parameter(mean))
            raw = math.log(math.expm1(INIT_STD))  # softplus⁻¹(INIT_STD)
            self.raw_stds.append(nn.Parameter(torch.full((d_out, d_in + 1), raw, dtype=torch.float64)))
        self.act = {"relu": torch.relu, "tanh": torch.tanh}[activation]
        self.noise_std = noise_std

    def kl(self) -> Tensor:
        """``KL[q(W) ‖ p(W)]`` summed over all weights (scalar)."""
        total = torch.zeros((), dtype=torch.float64)
        for mean, raw, prior_std in zip(self.means, self.raw_stds, self.prior_stds, strict=True):
            std = softplus(raw)
            total = total + (torch.log(prior_std / std) + (std**2 + mean**2) / (2 * prior_std**2) - 0.5).sum()
        return total

    def sample_functions(self, x: Tensor, num_samples: int) -> Tensor:
        """Function values ``(S, N)`` at ``x (N, dim_x)`` under ``S`` reparameterised weight draws."""
        a = x.unsqueeze(0).expand(num_samples, *x.shape)  # (S, N, Dx)
        for index, (mean, raw) in enumerate(zip(self.means, self.raw_stds, strict=True)):
            w = mean + softplus(raw) * torch.randn(
                num_samples, *mean.shape, dtype=mean.dtype
            )  # (S, d_out, D)
            h = a if index == 0 else self.act(a)
            h = torch.cat([h, torch.ones_like(h[..., :1])], dim=-1)  # (S, N, D)
            a = h @ w.mT  # (S, N, D) @ (S, D, d_out) -> (S, N, d_out)
        return a[..., 0]

    def elbo_terms(self, x: Tensor, y: Tensor, num_samples: int) -> tuple[Tensor, Tensor]:
        """Per-sample expected log-likelihood ``(S,)`` and the KL (scalar); ``y (N,)``."""
        f = self.sample_functions(x, num_samples)  # (S, N)
        sigma = self.noise_std
        ell = (-0.5 * ((y - f) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)
        return ell, self.kl()

    def fit(self, x: Tensor, y: Tensor, *, steps: int, lr: float, final_lr: float, num_samples: int) -> None:
        """Maximise the ELBO with Adam for ``steps`` steps, the learning rate decayed linearly from ``lr`` to
        ``final_lr``; ``num_samples`` weight draws per step; ``y (N,)``."""
        optimiser = torch.optim.Adam(self.parameters(), lr=lr)
        scheduler = torch.optim.lr_scheduler.LinearLR(optimiser, 1.0, final_lr / lr, max(steps, 1))
        for _ in range(steps):
            ell, kl = self.elbo_terms(x, y, num_samples)
            loss = kl - ell.mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
