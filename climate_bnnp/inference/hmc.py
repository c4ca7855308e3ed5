"""Full-batch Hamiltonian Monte Carlo for a BNN, one chain per task run as a batch (:mod:`.bnn`: network,
prior, tasks), with per-task step sizes adapted by dual averaging during burn-in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .ais import Generators, draw, hmc_step, value_and_grad
from .bnn import (
    CHUNK_SIZE,
    DTYPE,
    WeightPrior,
    bnn_forward,
    check_targets,
    check_tasks,
    gaussian_log_likelihood,
    samples_in_chunks,
    task_generators,
    unflatten_weights,
)

__all__ = ["HMCSamples", "run_hmc"]


@dataclass(frozen=True, eq=False)
class HMCSamples:
    """Kept HMC draws of each task's posterior.

    Attributes:
        prior: architecture (and activation). weights: per layer ``(S, T, d_out, D)``.
        acceptance: mean Metropolis acceptance probability per task over the kept phase ``(T,)``.
        burn_acceptance: the same over burn-in ``(T,)`` (NaN without burn-in).
        step_sizes: the frozen per-task leapfrog step size of the kept phase ``(T,)`` (whitened space; each
            transition jitters it).
    """

    prior: WeightPrior
    weights: tuple[Tensor, ...]
    acceptance: Tensor
    burn_acceptance: Tensor
    step_sizes: Tensor

    @property
    def num_samples(self) -> int:
        return self.weights[0].shape[0]

    def sample_functions(
        self,
        xt: Tensor,
        num_samples: int | None = None,
        generator: Generators = None,
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> Tensor:
        """Function values ``(S, T, M)`` at ``xt (T, M, dim_x)`` of ``S ≤`` :attr:`num_samples` kept draws,
        evenly spaced along each chain (None: all); ``generator`` is unused (the draws are fixed)."""
        del generator
        xt = check_targets(xt, self.weights[0].shape[1], self.prior.dims[0])
        kept = self.num_samples
        num_samples = kept if num_samples is None else num_samples
        if not 1 <= num_samples <= kept:
            raise ValueError(f"expected 1 ≤ num_samples ≤ {kept} (the kept draws), got {num_samples}.")
        index = torch.arange(num_samples) * kept // num_samples

        def weights_of(start: int, size: int) -> list[Tensor]:
            return [w[index[start : start + size]].movedim(0, 1).contiguous() for w in self.weights]

        return samples_in_chunks(self.prior, weights_of, num_samples, xt, chunk_size)


class _DualAveraging:
    """Per-chain dual averaging of ``log ε`` towards a target acceptance (Hoffman & Gelman 2014, Alg. 5)."""

    def __init__(self, step_size: Tensor, target: float, gamma=0.05, t0=10.0, kappa=0.75) -> None:
        self.mu = (10.0 * step_size).log()
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.h_bar = torch.zeros_like(step_size)
        self.log_eps_bar = torch.zeros_like(step_size)
        self.m = 0

    def update(self, accept: Tensor) -> Tensor:
        """Record one transition's acceptance probabilities ``(C,)``; the next step sizes ``(C,)``."""
        self.m += 1
        w = 1.0 / (self.m + self.t0)
        self.h_bar = (1 - w) * self.h_bar + w * (self.target - accept)
        log_eps = self.mu - math.sqrt(self.m) / self.gamma * self.h_bar
        eta = self.m**-self.kappa
        self.log_eps_bar = eta * log_eps + (1 - eta) * self.log_eps_bar
        return log_eps.exp()

    def final(self) -> Tensor:
        """The averaged step sizes, to freeze after adaptation."""
        return self.log_eps_bar.exp()


def run_hmc(
    prior: WeightPrior,
    xc: Tensor,
    yc: Tensor,
    mask: Tensor,
    noise_std: float,
    *,
    num_samples: int = 60,
    burn: int = 2_000,
    thin: int = 50,
    leapfrog: int = 100,
    step_size: float = 1e-2,
    seed: int | Sequence[int] = 0,
    target_accept: float = 0.65,
    adapt: bool = True,
    jitter: float = 0.2,
    init_map_steps: int = 0,
    init_map_lr: float = 1e-2,
) -> HMCSamples:
    """Full-batch HMC with Metropolis correction, one chain per task run as a batch, in the whitened space
    ``z`` (``w_j = m_j + L_j z_j``, ``z ~ N(0, I)`` a priori, so the prior's scale is in the coordinates).

    Each chain starts from a prior draw (then ``init_map_steps`` Adam steps on ``−log p(y, z)``, none by
    default). During the ``burn`` burn-in transitions each task's step size is adapted by dual averaging
    towards ``target_accept`` (if ``adapt``); it is then frozen at its average, so the kept chain is a valid
    MCMC; ``num_samples`` draws are kept, one every ``thin`` transitions after burn-in. Each transition
    uses the task's step size times ``U(1 − jitter, 1 + jitter)``, drawn afresh (independently of the state,
    so every transition still leaves the posterior invariant): a fixed trajectory length can be a near
    multiple of half a period of some direction of the posterior, and then that direction barely mixes.

    Args:
        prior, xc, yc, mask, noise_std: as :func:`fit_mfvi`.
        leapfrog, step_size: leapfrog steps per transition; the initial step size (whitened units).
        jitter: in [0, 1), the relative spread of the step size around its current value.
        seed: per task via :func:`task_seeds` (start, momenta and accept/reject draws).
    """
    xc, yc, mask, noise_std = check_tasks(prior, xc, yc, mask, noise_std)
    if num_samples < 1 or burn < 0 or thin < 1 or leapfrog < 1 or not step_size > 0 or not 0 <= jitter < 1:
        raise ValueError(
            f"expected num_samples ≥ 1, burn ≥ 0, thin ≥ 1, leapfrog ≥ 1, step_size > 0 and 0 ≤ jitter < 1; "
            f"got {num_samples}, {burn}, {thin}, {leapfrog}, {step_size} and {jitter}."
        )
    num_tasks = xc.shape[0]
    generators = task_generators(seed, num_tasks)
    shapes = prior.shapes

    def log_lik(z: Tensor) -> Tensor:  # (T, P) -> (T,)
        weights = prior.from_whitened(unflatten_weights(z, shapes))
        f = bnn_forward(weights, xc, prior.activation).unsqueeze(1)  # (T, 1, N)
        return gaussian_log_likelihood(f, yc, mask, noise_std)[:, 0]

    z = draw("normal", (num_tasks, prior.num_weights), generators)
    if init_map_steps > 0:
        param = nn.Parameter(z)
        optimiser = torch.optim.Adam([param], lr=init_map_lr)
        for _ in range(init_map_steps):
            optimiser.zero_grad(set_to_none=True)
            (0.5 * (param**2).sum() - log_lik(param).sum()).backward()
            optimiser.step()
        z = param.detach()
    ll, grad = value_and_grad(log_lik, z)
    eps = torch.full((num_tasks,), float(step_size), dtype=DTYPE)
    adaptation = _DualAveraging(eps, target_accept)
    burn_accept = torch.zeros(num_tasks, dtype=DTYPE)
    kept_accept = torch.zeros(num_tasks, dtype=DTYPE)
    kept: list[Tensor] = []
    for i in range(burn + num_samples * thin):
        scale = 1.0 + jitter * (2.0 * draw("uniform", (num_tasks,), generators) - 1.0)  # (T,)
        z, ll, grad, accept = hmc_step(log_lik, z, ll, grad, 1.0, eps * scale, leapfrog, generators)
        if i < burn:
            burn_accept += accept
            if adapt:
                eps = adaptation.update(accept)
                if i == burn - 1:  # freeze at the average for the kept phase
                    eps = adaptation.final()
        else:
            kept_accept += accept
            if (i - burn + 1) % thin == 0:
                kept.append(z)
    weights = prior.from_whitened(unflatten_weights(torch.stack(kept), shapes))  # (S, T, d_out, D) each
    burn_rate = burn_accept / burn if burn > 0 else torch.full_like(burn_accept, math.nan)
    return HMCSamples(prior, tuple(weights), kept_accept / (num_samples * thin), burn_rate, eps)
