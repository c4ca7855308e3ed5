"""Leave-one-out kernel features of a context set: what the context says about a query point's surroundings.

For a query point ``p`` and a context set ``C`` of positions ``c_j``, values ``y_j`` and padding mask
``m_j``, at each length scale ``ℓ_k`` (meta-learned, log-parameterised) with the Gaussian kernel
``w_pj = m_j exp(−|p − c_j|² / (2 ℓ_k²))``, summing only over context points at a *different location*
from ``p`` (``|p − c_j|² > tol``):

* ``density``: ``log(1 + d_k)`` with ``d_k = Σ_j w_pj`` (how much context is near ``p``);
* ``value``: ``Σ_j w_pj y_j / (d_k + ε)`` per output column (a Nadaraya–Watson mean, as in a set-conv);
* ``wet``: ``Σ_j w_pj 1[y_j > 0] / (d_k + ε)`` per output column (the nearby fraction of positive values:
  wet cells for precipitation).

Excluding the points at ``p``'s own location makes the features *leave-one-out*: a context point's features
do not depend on its own value (the gradient is exactly 0), and a query point that coincides with a context
point gets exactly that point's features. So the features mean the same at the context and at the targets,
and a model fitted to the context cannot read a point's value off its own input.

Distances are measured on the first ``position_dims`` columns of the inputs (unit-sphere ``xyz`` for the
ERA5 schema: chordal distance, 1° of arc ≈ 0.01745; column 0 for 1-D toy tasks), in those columns' units.
The kernel sums run in blocks of query × context points, so memory is bounded for whole-region tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import ContextFeaturesConfig

__all__ = ["ContextFeatures", "ContextSet", "context_feature_width"]

DENSITY_EPS = 1e-6
"""``ε`` in the value and wet channels: far from every context point (``d_k ≪ ε``) they fall smoothly to 0."""

SAME_LOCATION_TOL = 1e-12
"""Squared distance (position units²) at or below which a context point counts as at the query's location."""

BLOCK_ELEMENTS = 1 << 21
"""Most query × context pairs per block of the kernel sums (per task in the batch)."""


def context_feature_width(config: ContextFeaturesConfig, dim_y: int) -> int:
    """Number of feature columns: per scale, 1 for ``density`` and ``dim_y`` for ``value`` and ``wet``."""
    per_scale = sum(1 if channel == "density" else dim_y for channel in config.channels)
    return len(config.scales) * per_scale


@dataclass(frozen=True)
class ContextSet:
    """The context the features are computed against.

    Attributes:
        positions: ``(B, Nc, P)`` position columns of the context inputs.
        values: ``(B, Nc, Dy)`` context targets.
        mask: ``(B, Nc)`` True at real points, False at padding (None: all real).
    """

    positions: Tensor
    values: Tensor
    mask: Tensor | None = None


class ContextFeatures(nn.Module):
    """Leave-one-out kernel features of a context set at several meta-learned length scales.

    Args:
        config: position columns, initial length scales (position units), channels and whether the
            scales are learned.
        dim_y: output dimension Dy of the context values.
    """

    def __init__(self, config: ContextFeaturesConfig, dim_y: int) -> None:
        super().__init__()
        self.config = config
        self.dim_y = dim_y
        log_scales = torch.tensor([math.log(s) for s in config.scales], dtype=torch.float64)
        self.log_scales = nn.Parameter(log_scales, requires_grad=config.learn_scales)

    @property
    def width(self) -> int:
        """Number of feature columns F."""
        return context_feature_width(self.config, self.dim_y)

    def context_set(self, x: Tensor, y: Tensor, mask: Tensor | None = None) -> ContextSet:
        """The :class:`ContextSet` of a context ``x (B, Nc, Dx)``, ``y (B, Nc, Dy)``, ``mask (B, Nc)``."""
        positions = self.positions(x)
        if y.shape[:2] != positions.shape[:2] or y.shape[-1] != self.dim_y:
            raise ValueError(
                f"context values must have shape (B, Nc, {self.dim_y}) = "
                f"{(*positions.shape[:2], self.dim_y)}, got {tuple(y.shape)}."
            )
        return ContextSet(positions, y, mask)

    def positions(self, x: Tensor) -> Tensor:
        """The position columns ``(B, N, P)`` of inputs ``x (B, N, Dx)``."""
        width = self.config.position_dims
        if x.shape[-1] < width:
            raise ValueError(
                f"context features measure distance on the first {width} input columns "
                f"(model.context_features.position_dims), but the inputs have {x.shape[-1]} columns."
            )
        return x[..., :width]

    def forward(self, x: Tensor, context: ContextSet | None) -> Tensor:
        """Features ``(B, N, F)`` of query inputs ``x (B, N, Dx)`` against ``context`` (None or ``Nc = 0``:
        the features of an empty context, density 0 and the other channels 0).

        Columns are ordered channel-major per scale: for each scale, the channels in ``config.channels``
        order (``value`` and ``wet`` with Dy columns each).
        """
        query = self.positions(x)
        batch, num_query = query.shape[:2]
        num_scales = len(self.config.scales)
        sums = query.new_zeros(batch, num_query, num_scales, 1 + 2 * self.dim_y)  # [d | Σ w y | Σ w wet]
        if context is not None and context.positions.shape[1] > 0:
            sums = self._kernel_sums(query, context)
        density = sums[..., :1]
        normalised = sums[..., 1:] / (density + DENSITY_EPS)
        channels = {
            "density": torch.log1p(density),
            "value": normalised[..., : self.dim_y],
            "wet": normalised[..., self.dim_y :],
        }
        parts = [channels[name] for name in self.config.channels]
        return torch.cat(parts, dim=-1).reshape(batch, num_query, -1)  # (B, N, K · per_scale)

    def _kernel_sums(self, query: Tensor, context: ContextSet) -> Tensor:
        """``[d, Σ w y, Σ w 1[y > 0]]`` per query point and scale, ``(B, N, K, 1 + 2 Dy)``, in blocks."""
        positions, values = context.positions.to(query.dtype), context.values.to(query.dtype)
        if positions.shape[0] != query.shape[0]:
            raise ValueError(
                f"the query has {query.shape[0]} tasks but the context {positions.shape[0]}; they must match."
            )
        weight = torch.ones_like(values[..., 0]) if context.mask is None else context.mask.to(query.dtype)
        wet = (values > 0).to(query.dtype)
        stats = torch.cat([weight[..., None], values, wet], -1) * weight[..., None]  # (B, Nc, 1 + 2 Dy)
        inv_two_var = 0.5 * torch.exp(-2.0 * self.log_scales).to(query.dtype)  # (K,)
        num_query, num_context = query.shape[1], positions.shape[1]
        context_block = max(1, min(num_context, BLOCK_ELEMENTS))
        query_block = max(1, BLOCK_ELEMENTS // context_block)
        rows = []
        for q0 in range(0, num_query, query_block):
            q = query[:, q0 : q0 + query_block]
            total = None
            for c0 in range(0, num_context, context_block):
                c = positions[:, c0 : c0 + context_block]
                sq = ((q[:, :, None, :] - c[:, None, :, :]) ** 2).sum(-1)  # (B, n, m)
                kernel = torch.exp(-sq[..., None] * inv_two_var)  # (B, n, m, K)
                kernel = torch.where((sq > SAME_LOCATION_TOL)[..., None], kernel, torch.zeros_like(kernel))
                part = torch.einsum("bnmk,bmc->bnkc", kernel, stats[:, c0 : c0 + context_block])
                total = part if total is None else total + part
            rows.append(total)
        return torch.cat(rows, dim=1)
