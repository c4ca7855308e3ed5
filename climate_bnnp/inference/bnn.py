"""The BNN of the weight-space baselines: its network, its unit-wise Gaussian weight prior, task batches.

**Network.** ``[dim_x, *hidden, 1]``: layer ``l`` has weights ``W_l (d_out, D)``, ``D = d_in + 1``, bias last;
layer 0 takes ``x`` itself, every later layer takes ``activation(a)``, and the last layer is linear with one
output ``f`` — exactly :meth:`climate_bnnp.models.BNNP.decode`.

**Prior.** :class:`WeightPrior`: independent Gaussians per unit, ``w_j ~ N(m_j, L_j L_jᵀ)`` (full covariance),
either the standard ``N(0, I / D)`` or a meta-trained BNNP's learned prior copied *by value*.

**Tasks.** Every method (:mod:`.mfvi`, :mod:`.swag`, :mod:`.hmc`) fits ``T`` independent tasks at once:
``xc (T, N, dim_x)``, ``yc (T, N)`` zero-padded to a common ``N`` with ``mask (T, N)`` (True at real points;
padded values, NaN included, are never used), and a fixed likelihood noise ``σ_y``. Each task has its own
parameters, its own random streams (one ``torch.Generator`` per task, seeded by :func:`task_seeds`) and, for
HMC, its own step size; objectives are sums over tasks and the optimisers act elementwise, so a batched fit
equals the ``T`` separate fits (to rounding) and is affordable on a small CPU.

Each method returns an object with ``sample_functions(xt (T, M, dim_x), num_samples, generator=None)``,
noise-free function values ``(S, T, M)``: Monte-Carlo samples lead, as in the BNNP's outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import torch
from torch import Tensor, nn

from ..layers.networks import ACTIVATIONS, activation
from ..models import BNNP
from .ais import Generators, draw

__all__ = [
    "WeightPrior",
    "bnn_forward",
    "flatten_weights",
    "unflatten_weights",
    "task_seeds",
    "task_generators",
    "check_tasks",
    "check_targets",
    "gaussian_log_likelihood",
    "function_samples",
    "samples_in_chunks",
    "CHUNK_SIZE",
]

DTYPE = torch.float64
LOG_2PI = math.log(2 * math.pi)


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


def flatten_weights(weights: Sequence[Tensor]) -> Tensor:
    """Per-layer ``(*lead, d_out, D)`` -> ``(*lead, P)``."""
    return torch.cat([w.flatten(-2) for w in weights], dim=-1)


def unflatten_weights(flat: Tensor, shapes: Sequence[tuple[int, int]]) -> list[Tensor]:
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
                - 0.5 * z.shape[-1] * z.shape[-2] * LOG_2PI
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


def task_generators(seed: int | Sequence[int], num_tasks: int) -> list[torch.Generator]:
    """One ``torch.Generator`` per task, seeded by :func:`task_seeds`."""
    return [torch.Generator().manual_seed(s) for s in task_seeds(seed, num_tasks)]


def check_tasks(
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


def check_targets(xt: Tensor, num_tasks: int, dim_x: int) -> Tensor:
    """Validated float64 targets ``xt (T, M, dim_x)``."""
    xt = torch.as_tensor(xt)
    if xt.ndim != 3 or xt.shape[0] != num_tasks or xt.shape[-1] != dim_x:
        raise ValueError(f"expected xt of shape (T={num_tasks}, M, dim_x={dim_x}), got {tuple(xt.shape)}.")
    return xt.to(DTYPE)


def gaussian_log_likelihood(f: Tensor, yc: Tensor, mask: Tensor, noise_std: float) -> Tensor:
    """``Σ_n log N(y_n; f_n, σ²)`` over each task's real points: ``f (T, S, N)``, ``yc, mask (T, N)`` ->
    ``(T, S)``."""
    resid = torch.where(mask[:, None], yc[:, None] - f, 0.0)  # (T, S, N)
    count = mask.sum(-1, keepdim=True).to(DTYPE)  # (T, 1)
    return -0.5 * ((resid / noise_std) ** 2).sum(-1) - count * (math.log(noise_std) + 0.5 * LOG_2PI)


def function_samples(prior: WeightPrior, weights: Sequence[Tensor], xt: Tensor) -> Tensor:
    """``f (T, S, M)`` from weights ``(T, S, d_out, D)`` at ``xt (T, M, dim_x)``."""
    return bnn_forward(weights, xt.unsqueeze(1), prior.activation)


CHUNK_SIZE = 100  # weight draws per forward pass in ``sample_functions`` (memory: T × chunk × weights)


@torch.no_grad()
def samples_in_chunks(
    prior: WeightPrior,
    weights_of: Callable[[int, int], Sequence[Tensor]],
    num_samples: int,
    xt: Tensor,
    chunk_size: int,
) -> Tensor:
    """Function values ``(S, T, M)`` at ``xt (T, M, dim_x)``, without autograd.

    ``weights_of(start, size)`` gives draws ``start … start + size − 1`` task-major, per layer
    ``(T, size, d_out, D)``; they are evaluated ``chunk_size`` at a time (memory: ``T × chunk × weights``).
    """
    if num_samples < 1 or chunk_size < 1:
        raise ValueError(f"expected num_samples ≥ 1 and chunk_size ≥ 1, got {num_samples} and {chunk_size}.")
    starts = range(0, num_samples, chunk_size)
    chunks = [function_samples(prior, weights_of(a, min(chunk_size, num_samples - a)), xt) for a in starts]
    return torch.cat(chunks, dim=1).movedim(1, 0).contiguous()
