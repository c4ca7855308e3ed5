"""Mean-field Gaussian variational inference for a BNN (Blundell et al. 2015) on a batch of independent tasks.

The factorised posterior ``q(w) = Π N(μ, softplus(ρ)²)`` over every weight of a BNN ``[dim_x, *hidden, 1]``
(:mod:`.bnn`: network, prior, task batches) has a closed-form KL to the unit-wise Gaussian
:class:`~climate_bnnp.inference.bnn.WeightPrior`, and is sampled with the reparameterisation trick.

:class:`MeanFieldBNN` is the single-dataset face of :class:`MeanFieldPosterior` (one task, the standard prior
``N(0, 1 / (d_in + 1))`` per weight, torch's global RNG for the weight draws).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from .ais import Generators, draw
from .bnn import (
    CHUNK_SIZE,
    DTYPE,
    WeightPrior,
    bnn_forward,
    check_targets,
    check_tasks,
    function_samples,
    gaussian_log_likelihood,
    samples_in_chunks,
    task_generators,
)

__all__ = ["MeanFieldPosterior", "fit_mfvi", "MeanFieldBNN", "INIT_STD"]

INIT_STD = 1e-3  # initial posterior std of MFVI


class MeanFieldPosterior(nn.Module):
    """Factorised Gaussian ``q(w) = Π N(μ, softplus(ρ)²)`` over every weight, one per task, with the
    closed-form KL to a :class:`WeightPrior` (Blundell et al. 2015).

    Args:
        prior: the prior (and architecture). num_tasks: ``T``.
        generator: draws the initial means ``m + init_scale · L z`` (see :func:`~.ais.draw`).
        init_scale: 1 starts from a prior draw (a standard initialisation), 0 from the prior mean.
        init_std: the initial posterior std of every weight.

    Attributes:
        means, raw_stds: per layer ``(T, d_out, D)``; the std is ``softplus(raw_std)``.
    """

    def __init__(
        self,
        prior: WeightPrior,
        num_tasks: int,
        *,
        generator: Generators = None,
        init_scale: float = 1.0,
        init_std: float = INIT_STD,
    ) -> None:
        super().__init__()
        self.prior = prior
        z = [init_scale * draw("normal", (num_tasks, *m.shape), generator) for m in prior.means]
        raw = math.log(math.expm1(init_std))  # softplus⁻¹(init_std)
        self.means = nn.ParameterList(nn.Parameter(w) for w in prior.from_whitened(z))
        self.raw_stds = nn.ParameterList(nn.Parameter(torch.full_like(w, raw)) for w in self.means)

    @property
    def num_tasks(self) -> int:
        return self.means[0].shape[0]

    def kl(self) -> Tensor:
        """``KL[q ‖ p]`` per task ``(T,)``; per unit
        ``½[tr(P diag s²) + (μ−m)ᵀP(μ−m) − D + log|Σ| − Σ log s²]`` with ``P = Σ⁻¹ = L⁻ᵀ L⁻¹``."""
        total = torch.zeros(self.num_tasks, dtype=DTYPE)
        parts = zip(
            self.means,
            self.raw_stds,
            self.prior.means,
            self.prior.inverse_trils,
            self.prior.log_dets,
            strict=True,
        )
        for mean, raw, m, inv, logdet in parts:
            var = softplus(raw) ** 2  # (T, J, D)
            trace = torch.einsum("jik,tjk->tj", inv**2, var)  # Σ_ik (L⁻¹)_ik² s_k²: (T, J)
            quad = (torch.einsum("jik,tjk->tji", inv, mean - m) ** 2).sum(-1)  # |L⁻¹(μ − m)|²: (T, J)
            unit = 0.5 * (trace + quad - mean.shape[-1] + logdet - var.log().sum(-1))  # (T, J)
            total = total + unit.sum(-1)
        return total

    def _task_major_draws(self, num_samples: int, generator: Generators) -> list[Tensor]:
        """Reparameterised draws, per layer ``(T, S, d_out, D)`` (the layout of the batched forward pass)."""
        return [
            mean.unsqueeze(1)
            + softplus(raw).unsqueeze(1)
            * draw("normal", (self.num_tasks, num_samples, *mean.shape[1:]), generator)
            for mean, raw in zip(self.means, self.raw_stds, strict=True)
        ]

    def sample_weights(self, num_samples: int, generator: Generators = None) -> list[Tensor]:
        """Reparameterised draws, per layer ``(S, T, d_out, D)``; ``generator`` as in
        :func:`~climate_bnnp.inference.ais.draw` (a sequence: one generator per task)."""
        return [w.movedim(1, 0) for w in self._task_major_draws(num_samples, generator)]

    def sample_functions(
        self, xt: Tensor, num_samples: int, generator: Generators = None, *, chunk_size: int = CHUNK_SIZE
    ) -> Tensor:
        """Function values ``(S, T, M)`` at ``xt (T, M, dim_x)`` under ``S`` draws from ``q`` (no autograd;
        drawn ``chunk_size`` at a time)."""
        xt = check_targets(xt, self.num_tasks, self.prior.dims[0])
        return samples_in_chunks(
            self.prior, lambda _, size: self._task_major_draws(size, generator), num_samples, xt, chunk_size
        )

    def _elbo_terms(
        self, xc: Tensor, yc: Tensor, mask: Tensor, noise_std: float, num_samples: int, generator: Generators
    ) -> tuple[Tensor, Tensor]:
        """Task-major :meth:`elbo_terms`: the expected log-likelihood ``(T, S)`` and the KL ``(T,)``."""
        f = function_samples(self.prior, self._task_major_draws(num_samples, generator), xc)  # (T, S, N)
        return gaussian_log_likelihood(f, yc, mask, noise_std), self.kl()

    def elbo_terms(
        self,
        xc: Tensor,
        yc: Tensor,
        mask: Tensor,
        noise_std: float,
        num_samples: int,
        generator: Generators = None,
    ) -> tuple[Tensor, Tensor]:
        """Per-sample expected log-likelihood ``(S, T)`` and the KL ``(T,)`` (inputs as :func:`fit_mfvi`)."""
        ell, kl = self._elbo_terms(xc, yc, mask, noise_std, num_samples, generator)
        return ell.mT, kl

    def fit(
        self,
        xc: Tensor,
        yc: Tensor,
        mask: Tensor,
        noise_std: float,
        *,
        steps: int,
        lr: float,
        final_lr: float,
        num_samples: int,
        generator: Generators = None,
    ) -> None:
        """Maximise the sum over tasks of the ELBOs with Adam, the lr decayed linearly from ``lr`` to
        ``final_lr`` over ``steps`` steps; ``num_samples`` draws per step (inputs as :func:`fit_mfvi`)."""
        xc, yc, mask, noise_std = check_tasks(self.prior, xc, yc, mask, noise_std)
        if xc.shape[0] != self.num_tasks:
            raise ValueError(f"this posterior has {self.num_tasks} tasks, got a batch of {xc.shape[0]}.")
        optimiser = torch.optim.Adam(self.parameters(), lr=lr)
        scheduler = torch.optim.lr_scheduler.LinearLR(optimiser, 1.0, final_lr / lr, max(steps, 1))
        for _ in range(steps):
            ell, kl = self._elbo_terms(xc, yc, mask, noise_std, num_samples, generator)
            loss = (kl - ell.mean(-1)).sum()  # tasks share nothing: the sum gives each its own gradient
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()


def fit_mfvi(
    prior: WeightPrior,
    xc: Tensor,
    yc: Tensor,
    mask: Tensor,
    noise_std: float,
    *,
    steps: int = 30_000,
    lr: float = 5e-3,
    final_lr: float = 1e-4,
    num_samples: int = 8,
    seed: int | Sequence[int] = 0,
    init_scale: float = 1.0,
) -> MeanFieldPosterior:
    """Mean-field VI on each of ``T`` tasks (defaults: the paper's protocol).

    Args:
        prior: prior and architecture. xc ``(T, N, dim_x)``, yc ``(T, N)``, mask ``(T, N)`` bool: the padded
            contexts. noise_std: the fixed likelihood noise σ_y.
        steps, lr, final_lr, num_samples: Adam steps, linearly decayed lr, reparameterised draws per step.
        seed: per task via :func:`task_seeds`; each task's generator draws its initial means and its noise.
        init_scale: initial means ``m + init_scale · L z``, ``z ~ N(0, I)``; initial stds 1e-3.
    """
    xc, yc, mask, noise_std = check_tasks(prior, xc, yc, mask, noise_std)
    generators = task_generators(seed, xc.shape[0])
    posterior = MeanFieldPosterior(prior, xc.shape[0], generator=generators, init_scale=init_scale)
    posterior.fit(
        xc, yc, mask, noise_std, steps=steps, lr=lr, final_lr=final_lr, num_samples=num_samples,
        generator=generators,
    )  # fmt: skip
    return posterior


class MeanFieldBNN(nn.Module):
    """A BNN ``[dim_x, *hidden, 1]`` with a mean-field Gaussian posterior and a fixed Gaussian likelihood.

    Args:
        hidden: hidden widths. activation: e.g. ``relu`` or ``tanh``.
        noise_std: fixed likelihood noise σ_y.
        dim_y: must be 1 (one output).
        seed: seeds the initial means (drawn from the prior, as a standard initialisation).

    Attributes:
        posterior: the :class:`MeanFieldPosterior` (one task).
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
        weights = self.posterior._task_major_draws(
            num_samples, None
        )  # (1, S, d_out, D) per layer; global RNG
        return bnn_forward(weights, x[None, None], self.posterior.prior.activation)[0]

    def elbo_terms(self, x: Tensor, y: Tensor, num_samples: int) -> tuple[Tensor, Tensor]:
        """Per-sample expected log-likelihood ``(S,)`` and the KL (scalar); ``y (N,)``."""
        ell, kl = self.posterior._elbo_terms(*self._task(x, y), self.noise_std, num_samples, None)
        return ell[0], kl[0]

    def fit(self, x: Tensor, y: Tensor, *, steps: int, lr: float, final_lr: float, num_samples: int) -> None:
        """Maximise the ELBO with Adam for ``steps`` steps, the learning rate decayed linearly from ``lr`` to
        ``final_lr``; ``num_samples`` weight draws per step; ``y (N,)``."""
        self.posterior.fit(
            *self._task(x, y), self.noise_std, steps=steps, lr=lr, final_lr=final_lr, num_samples=num_samples
        )
