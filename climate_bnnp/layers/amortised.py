"""The amortised linear layer: pseudo-observations, natural-parameter accumulation, closed-form posterior.

For layer ``l`` with input features ``h_n = [ψ(a_{l-1}(x_n)), 1] ∈ R^D`` at the context points, an
inference network maps each context pair ``(x_n, y_n)`` to pseudo-observations ``ŷ_nj`` and pseudo-noise
``σ_nj`` (``log σ = raw − 2``) for every output unit ``j``. Unit ``j``'s weights then have the Gaussian
posterior with natural parameters

    Λ_j = Σ⁻¹_j + Σ_n λ_nj h_n h_nᵀ,        η_j = Σ⁻¹_j μ_j + Σ_n λ_nj ŷ_nj h_n,       λ = 1 / (σ² + 10⁻⁶),

accumulated in float64 chunk by chunk over the points (no ``N × N`` matrix, and no intermediate of size
``N × D × d_out``): the precision contributions of a chunk are one GEMM ``λᵀ · vech(h hᵀ)`` over the
upper triangle of each point's outer product. Natural parameters add, so streaming the context in chunks
gives exactly the full-batch posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .gaussian import JitterLog, cholesky_with_inverse, packed_size, unpack_symmetric
from .networks import activation
from .priors import UnitwisePrior
from .sample_kl import sample_with_kl

__all__ = ["AmortisedLinear", "NaturalParams", "LayerPosterior", "accumulate_natural"]

ACCUMULATION_DTYPE = torch.float64
LOG_NOISE_OFFSET = -2.0
PRECISION_FLOOR = 1e-6  # λ = 1 / (σ² + PRECISION_FLOOR) caps pseudo-precisions at 10⁶
CHUNK_ELEMENTS = 2**23  # elements of the per-chunk outer-product block (64 MiB in float64)


@dataclass
class NaturalParams:
    """Data natural parameters of one layer: the precision as packed upper triangles
    ``(S', B, J, D (D + 1) / 2)`` and the shift ``(S', B, J, D)``."""

    precision: Tensor
    shift: Tensor

    def __add__(self, other: NaturalParams) -> NaturalParams:
        return NaturalParams(self.precision + other.precision, self.shift + other.shift)

    def detach(self) -> NaturalParams:
        return NaturalParams(self.precision.detach(), self.shift.detach())

    def scale(self, factor: float) -> NaturalParams:
        return NaturalParams(factor * self.precision, factor * self.shift)


@dataclass
class LayerPosterior:
    """Gaussian posterior per unit: ``mean (S', B, J, D)``, the precision's Cholesky factor
    ``chol (S', B, J, D, D)`` and its inverse ``chol_inv`` (so ``Cov = chol_invᵀ chol_inv``)."""

    mean: Tensor
    chol: Tensor
    chol_inv: Tensor


def _packed_block(h: Tensor, lam: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """One block's precision contributions, packed: ``h (B, n, D)``, ``lam (B, n, J)`` -> ``(B, J, T)``."""
    outer = h[..., rows] * h[..., cols]  # (B, n, T): upper triangle of h hᵀ per point
    return lam.mT @ outer  # (B, J, n) @ (B, n, T) -> (B, J, T)


def _direct_block(h: Tensor, lam: Tensor) -> Tensor:
    """One block's precision contributions for few units: ``(B, J, D · D)``."""
    weighted = lam.mT.unsqueeze(-1) * h.unsqueeze(-3)  # (B, J, n, D)
    return (weighted.mT @ h.unsqueeze(-3)).flatten(-2)  # (B, J, D, n) @ (B, 1, n, D) -> (B, J, D · D)


def accumulate_natural(h: Tensor, lam: Tensor, yhat: Tensor) -> NaturalParams:
    """``Σ_n λ_nj h_n h_nᵀ`` and ``Σ_n λ_nj ŷ_nj h_n`` in float64, in memory-bounded blocks.

    Args:
        h: features ``(S', B, n, D)`` (``S'`` is 1 when the features do not depend on the samples).
        lam: pseudo-precisions ``(S' or 1, B, n, J)`` (0 at masked points).
        yhat: pseudo-observations ``(S' or 1, B, n, J)``.

    Returns:
        Natural parameters with packed ``precision (S', B, J, D (D + 1) / 2)`` and ``shift (S', B, J, D)``.

    Blocks run over samples and, within a sample, over points (at most ``CHUNK_ELEMENTS`` elements of
    outer products at a time). Under autograd each block is checkpointed, so its outer products are
    recomputed in the backward pass instead of being kept alive.
    """
    h, lam, yhat = (t.to(ACCUMULATION_DTYPE) for t in (h, lam, yhat))
    s, b, n, dim = h.shape
    units = lam.shape[-1]
    shift = (lam * yhat).mT @ h  # (S', B, J, n) @ (S', B, n, D) -> (S', B, J, D)
    size = packed_size(dim)
    packed = units * dim > size  # the packed GEMM wins when there are many units
    rows, cols = torch.triu_indices(dim, dim, device=h.device)
    block = (lambda hh, ll: _packed_block(hh, ll, rows, cols)) if packed else _direct_block
    step = max(1, min(n, CHUNK_ELEMENTS // max(b * (size if packed else units * dim), 1)))
    checkpointed = torch.is_grad_enabled() and (n > step or s > 1)
    per_sample = []
    for si in range(s):
        total = None
        for start in range(0, n, step):
            args = (h[si, :, start : start + step], lam[si % lam.shape[0], :, start : start + step])
            p = checkpoint(block, *args, use_reentrant=False) if checkpointed else block(*args)
            total = p if total is None else total + p
        per_sample.append(total)
    precision = torch.stack(per_sample)  # (S', B, J, T or D · D)
    return NaturalParams(precision if packed else precision[..., rows * dim + cols], shift)


class AmortisedLinear(nn.Module):
    """A Bayesian linear layer whose weight posterior is amortised by an inference network.

    Args:
        d_in: input width; d_out: output width.
        inference_net: maps ``(xc, yc, mask_c)`` to per-point outputs ``(B, Nc, 2 d_out)`` (hidden layer:
            pseudo-observations and raw log pseudo-noise) or ``(B, Nc, d_out)`` (final layer: raw log
            pseudo-noise only). ``None`` for an exact final layer (pseudo-noise = likelihood noise).
        input_activation: non-linearity applied to this layer's *input* (``identity`` for the first layer).
        prior_kind: ``"full"`` or ``"diagonal"``.
        final: the final layer uses the true targets as pseudo-observations.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        *,
        inference_net: nn.Module | None,
        input_activation: str = "identity",
        prior_kind: str = "full",
        final: bool = False,
    ) -> None:
        super().__init__()
        self.d_in, self.d_out, self.final = d_in, d_out, final
        self.inference_net = inference_net
        self.input_activation = activation(input_activation)
        self.prior = UnitwisePrior(d_in, d_out, prior_kind)  # type: ignore[arg-type]
        self.jitter = JitterLog()

    @property
    def pointwise(self) -> bool:
        """Whether each point's pseudo-observation depends on that point only (exact chunking)."""
        return getattr(self.inference_net, "pointwise", True)

    def features(self, a: Tensor) -> Tensor:
        """``h = [ψ(a), 1]``: ``(..., N, d_in) -> (..., N, d_in + 1)``."""
        h = self.input_activation(a)
        return torch.cat([h, torch.ones_like(h[..., :1])], dim=-1)

    def pseudo_observations(
        self, xc: Tensor, yc: Tensor, mask_c: Tensor | None, noise_std: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Pseudo-observations and pseudo-precisions ``(B, Nc, d_out)`` each (precision 0 where masked).

        Args:
            noise_std: likelihood noise ``(Dy,)``; used as the pseudo-noise of an exact final layer.
        """
        if self.inference_net is None:
            if noise_std is None:
                raise ValueError("an exact final layer needs the likelihood noise std.")
            yhat, lam = yc, (noise_std**2).reciprocal().expand_as(yc)
        else:
            out = self.inference_net(xc, yc, mask_c)  # (B, Nc, 2 d_out) or (B, Nc, d_out)
            if self.final:
                yhat, raw_log_noise = yc, out
            else:
                yhat, raw_log_noise = out.split(self.d_out, dim=-1)
            log_noise = raw_log_noise.to(ACCUMULATION_DTYPE) + LOG_NOISE_OFFSET
            lam = (torch.exp(2.0 * log_noise) + PRECISION_FLOOR).reciprocal()
        if mask_c is not None:
            lam = lam * mask_c.unsqueeze(-1).to(lam.dtype)
        return yhat, lam

    def _prior_natural(self) -> tuple[Tensor, Tensor]:
        return tuple(t.to(ACCUMULATION_DTYPE) for t in self.prior.natural())  # type: ignore[return-value]

    def posterior(self, data: NaturalParams | None) -> LayerPosterior:
        """Closed-form Gaussian posterior per unit from the prior and the data natural parameters."""
        prior_precision, prior_shift = self._prior_natural()
        if data is None:
            precision, shift = prior_precision[None, None], prior_shift[None, None]  # (1, 1, J, D, D)
        else:
            precision = unpack_symmetric(data.precision, self.d_in + 1) + prior_precision
            shift = data.shift + prior_shift
        chol, chol_inv = cholesky_with_inverse(precision, self.jitter)
        mean = (chol_inv.mT @ (chol_inv @ shift.unsqueeze(-1))).squeeze(-1)  # Λ⁻¹ η: (S', B, J, D)
        return LayerPosterior(mean, chol, chol_inv)

    def sample_with_kl(
        self,
        data: NaturalParams | None,
        num_samples: int,
        num_tasks: int,
        reference: LayerPosterior | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Reparameterised weights ``(S, B, d_out, d_in + 1)`` from the posterior given ``data`` (the prior
        when None) and ``Σ_j KL(q_j ‖ r_j)`` per sample and task ``(S', B)``; ``r`` is the prior when
        ``reference`` is None.
        """
        prior_precision, prior_shift = self._prior_natural()
        dim = self.d_in + 1
        if data is None:
            data = NaturalParams(
                prior_shift.new_zeros(1, 1, self.d_out, packed_size(dim)),
                prior_shift.new_zeros(1, 1, self.d_out, dim),
            )
        if reference is None:
            factor = self.prior.factor().to(ACCUMULATION_DTYPE)
            logdet = self.prior.logdet_precision().to(ACCUMULATION_DTYPE)
            mean = self.prior.mean.to(ACCUMULATION_DTYPE)
        else:  # reference precision L Lᵀ = Mᵀ M with M = Lᵀ
            factor, mean = reference.chol.mT, reference.mean
            logdet = 2.0 * reference.chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        eps = torch.randn(
            num_samples, num_tasks, self.d_out, dim, dtype=prior_shift.dtype, device=prior_shift.device
        )
        weights, kl = sample_with_kl(
            data.precision, prior_precision, data.shift + prior_shift, eps, factor, mean, logdet, self.jitter
        )
        return weights, kl.sum(-1)

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, final={self.final}, prior={self.prior.kind}"
