"""Weight-space inference baselines (MFVI, SWAG, HMC) for a BNN, on a batch of independent tasks.

Used by the no-free-lunch study (docs/results/no_free_lunch.md).

**Network.** ``[dim_x, *hidden, 1]``: layer ``l`` has weights ``W_l (d_out, D)``, ``D = d_in + 1``, bias last;
layer 0 takes ``x`` itself, every later layer takes ``activation(a)``, and the last layer is linear with one
output ``f`` — exactly :meth:`climate_bnnp.models.BNNP.decode`.

**Prior.** :class:`WeightPrior`: independent Gaussians per unit, ``w_j ~ N(m_j, L_j L_jᵀ)`` (full covariance),
either the standard ``N(0, I / D)`` or a meta-trained BNNP's learned prior copied *by value*.

**Tasks.** Every method fits ``T`` independent tasks at once: ``xc (T, N, dim_x)``, ``yc (T, N)`` zero-padded
to a common ``N`` with ``mask (T, N)`` (True at real points; padded values, NaN included, are never used),
and a fixed likelihood noise ``σ_y``. Each task has its own parameters, its own random streams (one
``torch.Generator`` per task, seeded by :func:`task_seeds`) and, for HMC, its own step size; objectives are
sums over tasks and the optimisers act elementwise, so a batched fit equals the ``T`` separate fits (to
rounding) and is affordable on a small CPU.

Each method returns an object with ``sample_functions(xt (T, M, dim_x), num_samples, generator=None)``,
noise-free function values ``(T, S, M)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from ..layers.networks import ACTIVATIONS, activation
from ..models import BNNP
from .ais import Generators, draw, hmc_step, value_and_grad

__all__ = [
    "WeightPrior",
    "bnn_forward",
    "task_seeds",
    "MeanFieldPosterior",
    "SWAGPosterior",
    "HMCSamples",
    "fit_mfvi",
    "fit_swag",
    "run_hmc",
]

INIT_STD = 1e-3  # initial posterior std of MFVI
DTYPE = torch.float64
_LOG_2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------------------------ network
@cache
def _activation(name: str) -> nn.Module:
    return activation(name)


def bnn_forward(weights: Sequence[Tensor], x: Tensor, activation: str) -> Tensor:
    """The BNN's output ``f (..., N)`` at ``x (..., N, dim_x)``; ``weights[l] (..., d_out, D)``, leading dims
    broadcast against ``x``'s (e.g. weights ``(T, S, d_out, D)`` and ``x (T, 1, N, dim_x)``)."""
    if weights[-1].shape[-2] != 1:
        raise ValueError(f"the last layer must have one output unit, got {weights[-1].shape[-2]}.")
    act = _activation(activation)
    a = x
    for index, w in enumerate(weights):
        h = a if index == 0 else act(a)
        h = torch.cat([h, torch.ones_like(h[..., :1])], dim=-1)  # (..., N, D)
        a = h @ w.mT  # (..., N, D) @ (..., D, d_out) -> (..., N, d_out)
    return a[..., 0]


def _flatten(weights: Sequence[Tensor]) -> Tensor:
    """Per-layer ``(*lead, d_out, D)`` -> ``(*lead, P)``."""
    return torch.cat([w.flatten(-2) for w in weights], dim=-1)


def _unflatten(flat: Tensor, shapes: Sequence[tuple[int, int]]) -> list[Tensor]:
    """``(*lead, P)`` -> per-layer ``(*lead, d_out, D)``."""
    parts = flat.split([rows * cols for rows, cols in shapes], dim=-1)
    return [p.unflatten(-1, shape) for p, shape in zip(parts, shapes, strict=True)]


# -------------------------------------------------------------------------------------------- prior
@dataclass(frozen=True, eq=False)
class WeightPrior:
    """Unit-wise Gaussian prior over the weights of a BNN ``[dim_x, *hidden, 1]``.

    Attributes:
        means: per layer ``(d_out, D)``, float64.
        scale_trils: per layer ``(d_out, D, D)``, lower-triangular with a positive diagonal; the covariance
            of unit ``j`` is ``L_j L_jᵀ``.
        activation: the BNN's activation (a name in :data:`~climate_bnnp.layers.networks.ACTIVATIONS`).

    The tensors are copied at construction (float64), so later changes to the originals do not leak in.
    """

    means: tuple[Tensor, ...]
    scale_trils: tuple[Tensor, ...]
    activation: str

    def __post_init__(self) -> None:
        means = tuple(torch.as_tensor(m).detach().to(DTYPE).clone() for m in self.means)
        trils = tuple(torch.as_tensor(s).detach().to(DTYPE).clone() for s in self.scale_trils)
        if not means or len(means) != len(trils):
            raise ValueError(
                f"expected one mean and one scale_tril per layer, got {len(means)} and {len(trils)}."
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {sorted(ACTIVATIONS)}.")
        d_in = None
        for index, (m, s) in enumerate(zip(means, trils, strict=True)):
            if m.ndim != 2 or s.shape != (*m.shape, m.shape[-1]):
                raise ValueError(
                    f"layer {index}: expected means (d_out, D) and scale_trils (d_out, D, D), got "
                    f"{tuple(m.shape)} and {tuple(s.shape)}."
                )
            if d_in is not None and m.shape[1] != d_in + 1:
                raise ValueError(
                    f"layer {index}: expected D = {d_in + 1} (previous width + bias), got {m.shape[1]}."
                )
            d_in = m.shape[0]
            if bool((s.triu(1) != 0).any()) or not bool((s.diagonal(dim1=-2, dim2=-1) > 0).all()):
                raise ValueError(
                    f"layer {index}: scale_trils must be lower-triangular with a positive diagonal."
                )
        if means[-1].shape[0] != 1:
            raise ValueError(f"expected one output unit in the last layer, got {means[-1].shape[0]}.")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "scale_trils", trils)

    @classmethod
    def standard(cls, dims: Sequence[int], activation: str) -> WeightPrior:
        """The standard prior ``N(0, I / D)`` per unit for widths ``dims = [dim_x, *hidden, 1]``."""
        dims = list(dims)
        if len(dims) < 2 or any(int(d) < 1 for d in dims):
            raise ValueError(
                f"expected widths [dim_x, *hidden, 1] of at least two positive ints, got {dims}."
            )
        means, trils = [], []
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
            size = d_in + 1
            means.append(torch.zeros(d_out, size, dtype=DTYPE))
            trils.append((torch.eye(size, dtype=DTYPE) / math.sqrt(size)).expand(d_out, size, size))
        return cls(tuple(means), tuple(trils), activation)

    @classmethod
    def from_model(cls, model: BNNP) -> WeightPrior:
        """A copy, by value and in float64, of a BNNP's (possibly meta-learned) unit-wise prior and its
        activation. (Its likelihood noise is ``model.noise_std()``: pass it to the fits yourself.)"""
        if not isinstance(model, BNNP):
            raise ValueError(f"expected a climate_bnnp.models.BNNP, got {type(model).__name__}.")
        with torch.no_grad():
            means = tuple(layer.prior.mean.detach().to(DTYPE).clone() for layer in model.layers)
            trils = tuple(layer.prior.scale_tril().detach().to(DTYPE).clone() for layer in model.layers)
        return cls(means, trils, model.config.activation)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """Per layer ``(d_out, D)``."""
        return [tuple(m.shape) for m in self.means]  # type: ignore[misc]

    @property
    def dims(self) -> list[int]:
        """Widths ``[dim_x, *hidden, 1]``."""
        return [self.means[0].shape[1] - 1, *(m.shape[0] for m in self.means)]

    @property
    def num_weights(self) -> int:
        """``P``, the number of weights."""
        return sum(rows * cols for rows, cols in self.shapes)

    @cached_property
    def inverse_trils(self) -> tuple[Tensor, ...]:
        """``L_j⁻¹`` per layer ``(d_out, D, D)``: the precision is ``L⁻ᵀ L⁻¹``."""
        return tuple(
            torch.linalg.solve_triangular(s, torch.eye(s.shape[-1], dtype=DTYPE).expand_as(s), upper=False)
            for s in self.scale_trils
        )

    @cached_property
    def log_dets(self) -> tuple[Tensor, ...]:
        """``log |Σ_j|`` per layer ``(d_out,)``."""
        return tuple(2.0 * s.diagonal(dim1=-2, dim2=-1).log().sum(-1) for s in self.scale_trils)

    def from_whitened(self, z: Sequence[Tensor]) -> list[Tensor]:
        """``w_j = m_j + L_j z_j``: per layer ``(*lead, d_out, D)`` -> the same shapes."""
        # per unit j: (*lead, D) -> (*lead, D); einsum batches over the units (faster than broadcast matmul)
        return [
            m + torch.einsum("jik,...jk->...ji", s, zl)
            for m, s, zl in zip(self.means, self.scale_trils, z, strict=True)
        ]

    def whiten(self, weights: Sequence[Tensor]) -> list[Tensor]:
        """``z_j = L_j⁻¹ (w_j − m_j)``, the inverse of :meth:`from_whitened`."""
        return [
            torch.einsum("jik,...jk->...ji", inv, w - m)
            for m, inv, w in zip(self.means, self.inverse_trils, weights, strict=True)
        ]

    def log_prob(self, weights: Sequence[Tensor]) -> Tensor:
        """``log p(w)`` summed over units and layers: per layer ``(*lead, d_out, D)`` -> ``(*lead,)``."""
        total = torch.zeros((), dtype=DTYPE)
        for z, logdet in zip(self.whiten(weights), self.log_dets, strict=True):
            total = (
                total
                - 0.5 * (z**2).sum((-2, -1))
                - 0.5 * logdet.sum()
                - 0.5 * z.shape[-1] * z.shape[-2] * _LOG_2PI
            )
        return total

    def sample(self, shape: Sequence[int], generator: Generators = None) -> list[Tensor]:
        """Prior draws, per layer ``(*shape, d_out, D)``; ``generator`` as in :func:`~.ais.draw` (a sequence:
        one generator per index of ``shape[0]``)."""
        z = [draw("normal", (*shape, *m.shape), generator) for m in self.means]
        return self.from_whitened(z)


# ------------------------------------------------------------------------------------ task batches
def task_seeds(seed: int | Sequence[int], num_tasks: int) -> list[int]:
    """One seed per task. A sequence is used as is; an int spawns ``num_tasks`` independent seeds (numpy
    ``SeedSequence``; task ``t``'s seed does not depend on ``num_tasks``). Fitting task ``t`` alone with
    ``seed=[task_seeds(s, T)[t]]`` reproduces its part of a batched fit with ``seed=s``."""
    if isinstance(seed, int | np.integer):
        children = np.random.SeedSequence(int(seed)).spawn(num_tasks)
        return [int(child.generate_state(1, np.uint32)[0]) for child in children]
    seeds = [int(s) for s in seed]
    if len(seeds) != num_tasks:
        raise ValueError(f"expected one seed per task ({num_tasks}), got {len(seeds)}.")
    return seeds


def _generators(seed: int | Sequence[int], num_tasks: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in task_seeds(seed, num_tasks)]


def _check_tasks(
    prior: WeightPrior, xc: Tensor, yc: Tensor, mask: Tensor, noise_std: float
) -> tuple[Tensor, Tensor, Tensor, float]:
    """Validated float64 ``xc (T, N, dim_x)`` and ``yc (T, N)`` (zero at padding), ``mask (T, N)``, σ_y."""
    xc, yc, mask = torch.as_tensor(xc), torch.as_tensor(yc), torch.as_tensor(mask)
    dim_x = prior.dims[0]
    if xc.ndim != 3 or xc.shape[-1] != dim_x:
        raise ValueError(f"expected xc of shape (T, N, dim_x={dim_x}), got {tuple(xc.shape)}.")
    if yc.shape != xc.shape[:2]:
        raise ValueError(f"expected yc of shape (T, N) = {tuple(xc.shape[:2])}, got {tuple(yc.shape)}.")
    if mask.shape != xc.shape[:2] or mask.dtype != torch.bool:
        raise ValueError(
            f"expected a bool mask of shape (T, N) = {tuple(xc.shape[:2])}, "
            f"got {mask.dtype} {tuple(mask.shape)}."
        )
    try:
        sigma = float(noise_std)
    except (TypeError, ValueError, RuntimeError):
        sigma = math.nan
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"expected a finite noise_std > 0 (a number), got {noise_std!r}.")
    counts = mask.sum(-1)
    if bool((counts == 0).any()):
        empty = (counts == 0).nonzero()[:, 0].tolist()
        raise ValueError(f"every task needs at least one context point (mask True); tasks without: {empty}.")
    xc = torch.where(mask[..., None], xc.to(DTYPE), 0.0)
    yc = torch.where(mask, yc.to(DTYPE), 0.0)
    return xc, yc, mask, sigma


def _check_targets(xt: Tensor, num_tasks: int, dim_x: int) -> Tensor:
    xt = torch.as_tensor(xt)
    if xt.ndim != 3 or xt.shape[0] != num_tasks or xt.shape[-1] != dim_x:
        raise ValueError(f"expected xt of shape (T={num_tasks}, M, dim_x={dim_x}), got {tuple(xt.shape)}.")
    return xt.to(DTYPE)


def _log_likelihood(f: Tensor, yc: Tensor, mask: Tensor, noise_std: float) -> Tensor:
    """``Σ_n log N(y_n; f_n, σ²)`` over each task's real points: ``f (T, S, N)``, ``yc, mask (T, N)`` ->
    ``(T, S)``."""
    resid = torch.where(mask[:, None], yc[:, None] - f, 0.0)  # (T, S, N)
    count = mask.sum(-1, keepdim=True).to(DTYPE)  # (T, 1)
    return -0.5 * ((resid / noise_std) ** 2).sum(-1) - count * (math.log(noise_std) + 0.5 * _LOG_2PI)


def _function_samples(prior: WeightPrior, weights: Sequence[Tensor], xt: Tensor) -> Tensor:
    """``f (T, S, M)`` from weights ``(T, S, d_out, D)`` at ``xt (T, M, dim_x)``."""
    return bnn_forward(weights, xt.unsqueeze(1), prior.activation)


CHUNK_SIZE = 100  # weight draws per forward pass in ``sample_functions`` (memory: T × chunk × weights)


@torch.no_grad()
def _in_chunks(prior: WeightPrior, weights_of, num_samples: int, xt: Tensor, chunk_size: int) -> Tensor:
    """``f (T, S, M)`` at ``xt``, ``weights_of(start, size)`` giving draws ``start … start + size − 1`` per
    layer ``(T, size, d_out, D)``, ``chunk_size`` at a time, without autograd."""
    if num_samples < 1 or chunk_size < 1:
        raise ValueError(f"expected num_samples ≥ 1 and chunk_size ≥ 1, got {num_samples} and {chunk_size}.")
    starts = range(0, num_samples, chunk_size)
    return torch.cat(
        [_function_samples(prior, weights_of(a, min(chunk_size, num_samples - a)), xt) for a in starts], dim=1
    )


# --------------------------------------------------------------------------------------------- MFVI
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

    def sample_weights(self, num_samples: int, generator: Generators = None) -> list[Tensor]:
        """Reparameterised draws, per layer ``(T, S, d_out, D)``."""
        return [
            mean.unsqueeze(1)
            + softplus(raw).unsqueeze(1)
            * draw("normal", (self.num_tasks, num_samples, *mean.shape[1:]), generator)
            for mean, raw in zip(self.means, self.raw_stds, strict=True)
        ]

    def sample_functions(
        self, xt: Tensor, num_samples: int, generator: Generators = None, *, chunk_size: int = CHUNK_SIZE
    ) -> Tensor:
        """Function values ``(T, S, M)`` at ``xt (T, M, dim_x)`` under ``S`` draws from ``q`` (no autograd;
        drawn ``chunk_size`` at a time)."""
        xt = _check_targets(xt, self.num_tasks, self.prior.dims[0])
        return _in_chunks(
            self.prior, lambda _, size: self.sample_weights(size, generator), num_samples, xt, chunk_size
        )

    def elbo_terms(
        self,
        xc: Tensor,
        yc: Tensor,
        mask: Tensor,
        noise_std: float,
        num_samples: int,
        generator: Generators = None,
    ) -> tuple[Tensor, Tensor]:
        """Per-sample expected log-likelihood ``(T, S)`` and the KL ``(T,)`` (inputs as :func:`fit_mfvi`)."""
        f = _function_samples(self.prior, self.sample_weights(num_samples, generator), xc)  # (T, S, N)
        return _log_likelihood(f, yc, mask, noise_std), self.kl()

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
        xc, yc, mask, noise_std = _check_tasks(self.prior, xc, yc, mask, noise_std)
        if xc.shape[0] != self.num_tasks:
            raise ValueError(f"this posterior has {self.num_tasks} tasks, got a batch of {xc.shape[0]}.")
        optimiser = torch.optim.Adam(self.parameters(), lr=lr)
        scheduler = torch.optim.lr_scheduler.LinearLR(optimiser, 1.0, final_lr / lr, max(steps, 1))
        for _ in range(steps):
            ell, kl = self.elbo_terms(xc, yc, mask, noise_std, num_samples, generator)
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
    xc, yc, mask, noise_std = _check_tasks(prior, xc, yc, mask, noise_std)
    generators = _generators(seed, xc.shape[0])
    posterior = MeanFieldPosterior(prior, xc.shape[0], generator=generators, init_scale=init_scale)
    posterior.fit(
        xc, yc, mask, noise_std, steps=steps, lr=lr, final_lr=final_lr, num_samples=num_samples,
        generator=generators,
    )  # fmt: skip
    return posterior


# --------------------------------------------------------------------------------------------- SWAG
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

    def sample_weights(self, num_samples: int, generator: Generators = None) -> list[Tensor]:
        """Draws per layer ``(T, S, d_out, D)``."""
        num_tasks, size = self.mean.shape
        z1 = draw("normal", (num_tasks, num_samples, size), generator)
        w = self.mean.unsqueeze(1) + self.variance.sqrt().unsqueeze(1) * z1 / math.sqrt(2.0)  # (T, S, P)
        if self.rank >= 2:
            z2 = draw("normal", (num_tasks, num_samples, self.rank), generator)
            w = w + (z2 @ self.deviations) / math.sqrt(2.0 * (self.rank - 1))  # (T, S, K) @ (T, K, P)
        return _unflatten(w, self.prior.shapes)

    def sample_functions(
        self, xt: Tensor, num_samples: int, generator: Generators = None, *, chunk_size: int = CHUNK_SIZE
    ) -> Tensor:
        """Function values ``(T, S, M)`` at ``xt (T, M, dim_x)`` under ``S`` SWAG draws (drawn ``chunk_size``
        at a time)."""
        xt = _check_targets(xt, self.mean.shape[0], self.prior.dims[0])
        return _in_chunks(
            self.prior, lambda _, size: self.sample_weights(size, generator), num_samples, xt, chunk_size
        )


def _swag_terms(prior: WeightPrior, flat: Tensor, xc: Tensor, yc: Tensor, point_weights: Tensor):
    """Per task ``(T,)``: the weighted squared error ``½ Σ_n c_n (y_n − f_n)²`` (``point_weights c (T, N)``:
    the mask on a full batch, ``N_t / b_t`` on a minibatch of ``b_t`` points) and ``−log p(w)`` up to a
    constant, for flat weights ``(T, P)``."""
    weights = _unflatten(flat, prior.shapes)
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
    xc, yc, mask, noise_std = _check_tasks(prior, xc, yc, mask, noise_std)
    if collect_every < 1 or swa_steps < collect_every or rank < 0:
        raise ValueError(
            f"expected collect_every ≥ 1, swa_steps ≥ collect_every and rank ≥ 0; got {collect_every}, "
            f"{swa_steps} and {rank}."
        )
    if not 0.0 < batch_fraction <= 1.0:
        raise ValueError(f"expected batch_fraction in (0, 1], got {batch_fraction}.")
    num_tasks = xc.shape[0]
    generators = _generators(seed, num_tasks)
    counts = mask.sum(-1)  # N_t: (T,)
    scale = noise_std**2 / counts.to(DTYPE)  # (T,)
    flat = nn.Parameter(_flatten(prior.sample((num_tasks,), generators)))  # (T, P)

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


# ---------------------------------------------------------------------------------------------- HMC
@dataclass(frozen=True, eq=False)
class HMCSamples:
    """Kept HMC draws of each task's posterior.

    Attributes:
        prior: architecture (and activation). weights: per layer ``(T, S, d_out, D)``.
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
        return self.weights[0].shape[1]

    def sample_functions(
        self,
        xt: Tensor,
        num_samples: int | None = None,
        generator: Generators = None,
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> Tensor:
        """Function values ``(T, S, M)`` at ``xt (T, M, dim_x)`` of ``S ≤`` :attr:`num_samples` kept draws,
        evenly spaced along each chain (None: all); ``generator`` is unused (the draws are fixed)."""
        del generator
        xt = _check_targets(xt, self.weights[0].shape[0], self.prior.dims[0])
        kept = self.num_samples
        num_samples = kept if num_samples is None else num_samples
        if not 1 <= num_samples <= kept:
            raise ValueError(f"expected 1 ≤ num_samples ≤ {kept} (the kept draws), got {num_samples}.")
        index = torch.arange(num_samples) * kept // num_samples

        def weights_of(start: int, size: int) -> list[Tensor]:
            return [w[:, index[start : start + size]] for w in self.weights]

        return _in_chunks(self.prior, weights_of, num_samples, xt, chunk_size)


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
    xc, yc, mask, noise_std = _check_tasks(prior, xc, yc, mask, noise_std)
    if num_samples < 1 or burn < 0 or thin < 1 or leapfrog < 1 or not step_size > 0 or not 0 <= jitter < 1:
        raise ValueError(
            f"expected num_samples ≥ 1, burn ≥ 0, thin ≥ 1, leapfrog ≥ 1, step_size > 0 and 0 ≤ jitter < 1; "
            f"got {num_samples}, {burn}, {thin}, {leapfrog}, {step_size} and {jitter}."
        )
    num_tasks = xc.shape[0]
    generators = _generators(seed, num_tasks)
    shapes = prior.shapes

    def log_lik(z: Tensor) -> Tensor:  # (T, P) -> (T,)
        weights = prior.from_whitened(_unflatten(z, shapes))
        f = bnn_forward(weights, xc, prior.activation).unsqueeze(1)  # (T, 1, N)
        return _log_likelihood(f, yc, mask, noise_std)[:, 0]

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
    weights = prior.from_whitened(_unflatten(torch.stack(kept, dim=1), shapes))  # (T, S, d_out, D) each
    burn_rate = burn_accept / burn if burn > 0 else torch.full_like(burn_accept, math.nan)
    return HMCSamples(prior, tuple(weights), kept_accept / (num_samples * thin), burn_rate, eps)
