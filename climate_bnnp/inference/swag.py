"""SWAG (Maddox et al. 2019) for a BNN, on a batch of independent tasks (network, prior, tasks: :mod:`.bnn`).

MAP pretraining with Adam, then SGD at a constant learning rate on minibatches, collecting the iterates'
mean, diagonal variance and last deviations: the posterior is the Gaussian they define.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .ais import Generators, draw
from .bnn import (
    CHUNK_SIZE,
    DTYPE,
    WeightPrior,
    bnn_forward,
    check_targets,
    check_tasks,
    flatten_weights,
    samples_in_chunks,
    task_generators,
    unflatten_weights,
)

__all__ = ["SWAGPosterior", "fit_swag"]


@dataclass(frozen=True, eq=False)
class SWAGPosterior:
    """SWAG (Maddox et al. 2019): ``w = w̄ + diag(σ²)^{1/2} z₁ / √2 + D̂ z₂ / √(2(K − 1))``, per task.

    Attributes:
        prior: architecture (and activation). map_weights: the pretrained MAP ``(T, P)``.
        mean: the SWA mean ``w̄ (T, P)``. variance: the diagonal ``σ² (T, P)`` of the collected iterates.
        deviations: ``D̂ (T, K, P)``, the last ``K`` iterates minus the running mean at their collection
            (``K < 2``: the low-rank term is dropped, SWAG-diagonal).
    """

    prior: WeightPrior
    map_weights: Tensor
    mean: Tensor
    variance: Tensor
    deviations: Tensor

    @property
    def rank(self) -> int:
        return self.deviations.shape[1]

    def _task_major_draws(self, num_samples: int, generator: Generators) -> list[Tensor]:
        """Draws per layer ``(T, S, d_out, D)`` (the layout of the batched forward pass)."""
        num_tasks, size = self.mean.shape
        z1 = draw("normal", (num_tasks, num_samples, size), generator)
        w = self.mean.unsqueeze(1) + self.variance.sqrt().unsqueeze(1) * z1 / math.sqrt(2.0)  # (T, S, P)
        if self.rank >= 2:
            z2 = draw("normal", (num_tasks, num_samples, self.rank), generator)
            w = w + (z2 @ self.deviations) / math.sqrt(2.0 * (self.rank - 1))  # (T, S, K) @ (T, K, P)
        return unflatten_weights(w, self.prior.shapes)

    def sample_weights(self, num_samples: int, generator: Generators = None) -> list[Tensor]:
        """Draws per layer ``(S, T, d_out, D)``; ``generator`` as in :func:`~.ais.draw`."""
        return [w.movedim(1, 0) for w in self._task_major_draws(num_samples, generator)]

    def sample_functions(
        self, xt: Tensor, num_samples: int, generator: Generators = None, *, chunk_size: int = CHUNK_SIZE
    ) -> Tensor:
        """Function values ``(S, T, M)`` at ``xt (T, M, dim_x)`` under ``S`` SWAG draws (drawn ``chunk_size``
        at a time)."""
        xt = check_targets(xt, self.mean.shape[0], self.prior.dims[0])
        return samples_in_chunks(
            self.prior, lambda _, size: self._task_major_draws(size, generator), num_samples, xt, chunk_size
        )


def _swag_terms(prior: WeightPrior, flat: Tensor, xc: Tensor, yc: Tensor, point_weights: Tensor):
    """Per task ``(T,)``: the weighted squared error ``½ Σ_n c_n (y_n − f_n)²`` (``point_weights c (T, N)``:
    the mask on a full batch, ``N_t / b_t`` on a minibatch of ``b_t`` points) and ``−log p(w)`` up to a
    constant, for flat weights ``(T, P)``."""
    weights = unflatten_weights(flat, prior.shapes)
    f = bnn_forward(weights, xc, prior.activation)  # (T, N); finite at padding (xc zeroed there)
    data = 0.5 * (point_weights * (yc - f) ** 2).sum(-1)
    penalty = 0.5 * sum((z**2).sum((-2, -1)) for z in prior.whiten(weights))
    return data, penalty


def fit_swag(
    prior: WeightPrior,
    xc: Tensor,
    yc: Tensor,
    mask: Tensor,
    noise_std: float,
    *,
    pretrain_steps: int = 5_000,
    pretrain_lr: float = 5e-3,
    swa_steps: int = 100,
    swa_lr: float = 1e-2,
    collect_every: int = 1,
    rank: int = 64,
    batch_fraction: float = 0.5,
    seed: int | Sequence[int] = 0,
) -> SWAGPosterior:
    """SWAG on each of ``T`` tasks: MAP pretraining with Adam, then SGD at a constant lr collecting moments.

    The objective is the negative log posterior in squared-error units, ``σ_y² / N_t · (−log p(y, w))``
    (``½ mean (y − f)²`` plus the prior as weight decay): the MAP's minimiser, with a curvature that does not
    scale with ``1 / σ_y²``, so one SGD lr is stable across σ_y (as MSE + weight decay in Maddox et al.).
    The SWA phase uses minibatches of ``b_t = max(1, round(batch_fraction · N_t))`` of task ``t``'s points
    drawn without replacement at every step (the data term scaled by ``N_t / b_t``): SGD's noise is what
    spreads the iterates; ``batch_fraction=1`` is full-batch gradient descent, whose iterates converge to the
    MAP (SWAG then collapses to it).

    Args:
        prior, xc, yc, mask, noise_std: as :func:`fit_mfvi`.
        pretrain_steps, pretrain_lr: Adam steps (constant lr, full batch) from a prior draw.
        swa_steps, swa_lr: SGD steps at a constant lr after pretraining.
        collect_every: collect the iterate every this many SGD steps (``swa_steps // collect_every``
            snapshots, at least 1). rank: ``K``, the number of last deviations kept (at most the snapshots).
        batch_fraction: in (0, 1], see above.
        seed: per task via :func:`task_seeds` (initial prior draw and minibatches).
    """
    xc, yc, mask, noise_std = check_tasks(prior, xc, yc, mask, noise_std)
    if collect_every < 1 or swa_steps < collect_every or rank < 0:
        raise ValueError(
            f"expected collect_every ≥ 1, swa_steps ≥ collect_every and rank ≥ 0; got {collect_every}, "
            f"{swa_steps} and {rank}."
        )
    if not 0.0 < batch_fraction <= 1.0:
        raise ValueError(f"expected batch_fraction in (0, 1], got {batch_fraction}.")
    num_tasks = xc.shape[0]
    generators = task_generators(seed, num_tasks)
    counts = mask.sum(-1)  # N_t: (T,)
    scale = noise_std**2 / counts.to(DTYPE)  # (T,)
    flat = nn.Parameter(flatten_weights(prior.sample((num_tasks,), generators)))  # (T, P)

    def loss(point_weights: Tensor) -> Tensor:
        data, penalty = _swag_terms(prior, flat, xc, yc, point_weights)
        return (data / counts + scale * penalty).sum()  # a sum over tasks: each its own gradient

    optimiser = torch.optim.Adam([flat], lr=pretrain_lr)
    full = mask.to(DTYPE)
    for _ in range(pretrain_steps):
        optimiser.zero_grad(set_to_none=True)
        loss(full).backward()
        optimiser.step()
    map_weights = flat.detach().clone()

    real = [mask[t].nonzero()[:, 0] for t in range(num_tasks)]
    sizes = [max(1, round(batch_fraction * int(n))) for n in counts]
    n_seen, mean = 0, torch.zeros_like(map_weights)
    sq_dev = torch.zeros_like(map_weights)  # Welford's Σ (w − mean)²
    deviations: list[Tensor] = []
    for step in range(1, swa_steps + 1):
        point_weights = full
        if batch_fraction < 1.0:
            point_weights = torch.zeros_like(full)
            for t, (g, idx, b) in enumerate(zip(generators, real, sizes, strict=True)):
                chosen = idx[torch.rand(len(idx), generator=g, dtype=DTYPE).argsort()[:b]]
                point_weights[t, chosen] = len(idx) / b
        (grad,) = torch.autograd.grad(loss(point_weights), flat)
        with torch.no_grad():
            flat -= swa_lr * grad
        if step % collect_every == 0:
            w = flat.detach()
            n_seen += 1
            delta = w - mean
            mean = mean + delta / n_seen
            sq_dev = sq_dev + delta * (w - mean)
            deviations = [*deviations, w - mean][-rank:] if rank > 0 else []
    variance = (sq_dev / n_seen).clamp(min=0.0)
    stacked = (
        torch.stack(deviations, dim=1)
        if deviations
        else map_weights.new_zeros(num_tasks, 0, map_weights.shape[1])
    )
    return SWAGPosterior(prior, map_weights, mean, variance, stacked)
