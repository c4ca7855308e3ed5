"""Unit-wise Gaussian priors over the weights of one layer, and the prior-flexibility knob ρ.

Layer weights are ``W ∈ R^{d_out × (d_in + 1)}`` (bias last); row ``w_j`` is unit ``j``'s incoming weights.
Both priors are *scaled*: the covariance is divided by the fan-in ``D = d_in + 1``, so at initialisation
every unit's prior is ``N(0, I / D)``.

* ``"full"`` (unit-wise full covariance): ``w_j ~ N(μ_j, L_j L_jᵀ / D)`` with
  ``L_j = diag(exp ρ_j) + strictly_lower(M_j)``.
* ``"diagonal"``: ``w_ji ~ N(μ_ji, exp(2 ρ_ji) / D)``.

See docs/method.md, "Priors and the flexibility knob ρ".

Learnability is controlled by explicit boolean masks over the weights (buffers, saved in every
checkpoint): the gradient of each prior parameter is multiplied by its mask.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from .gaussian import lower_inverse

__all__ = ["UnitwisePrior", "learnable_weight_masks"]


class UnitwisePrior(nn.Module):
    """Independent Gaussian prior per output unit of one layer.

    Args:
        d_in: input width (the bias adds one more weight per unit).
        d_out: number of output units.
        kind: ``"full"`` or ``"diagonal"``.
    """

    def __init__(self, d_in: int, d_out: int, kind: Literal["full", "diagonal"] = "full") -> None:
        super().__init__()
        if kind not in ("full", "diagonal"):
            raise ValueError(f"prior kind must be 'full' or 'diagonal', got {kind!r}.")
        self.kind = kind
        self.fan_in = d_in + 1
        dim = self.fan_in
        self.mean = nn.Parameter(torch.zeros(d_out, dim))
        self.log_scale = nn.Parameter(torch.zeros(d_out, dim))
        self.register_buffer("weight_mask", torch.zeros(d_out, dim, dtype=torch.bool))
        self.mean.register_hook(lambda g: g * self.weight_mask)
        self.log_scale.register_hook(lambda g: g * self.weight_mask)
        if kind == "full":
            self.offdiag = nn.Parameter(torch.zeros(d_out, dim, dim))
            self.offdiag.register_hook(lambda g: g * self._offdiag_mask())
        self.set_weight_mask(self.weight_mask)

    def _offdiag_mask(self) -> Tensor:
        """Entry (i, k) of unit j's Cholesky factor learns iff weights (j, i) and (j, k) both do."""
        pair = self.weight_mask[:, :, None] & self.weight_mask[:, None, :]  # (d_out, D, D)
        return pair.tril(-1)

    def set_weight_mask(self, mask: Tensor) -> None:
        """Make the prior parameters of the weights where ``mask (d_out, D)`` is True learnable."""
        if mask.shape != self.weight_mask.shape:
            raise ValueError(
                f"mask must have shape {tuple(self.weight_mask.shape)}, got {tuple(mask.shape)}."
            )
        self.weight_mask.copy_(mask.to(torch.bool))
        learnable = bool(self.weight_mask.any())
        for param in self.parameters():
            param.requires_grad_(learnable)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.set_weight_mask(self.weight_mask.clone())  # learnability follows the loaded mask

    def scale_tril(self) -> Tensor:
        """Cholesky factor of the prior covariance, ``(d_out, D, D)``."""
        diag = torch.diag_embed(self.log_scale.exp())
        if self.kind == "full":
            diag = diag + self.offdiag.tril(-1)
        return diag / math.sqrt(self.fan_in)

    def factor(self) -> Tensor:
        """``M`` with prior precision ``Σ⁻¹ = Mᵀ M``, ``(d_out, D, D)`` (``M = L_Σ⁻¹``, lower-triangular)."""
        if self.kind == "diagonal":
            return torch.diag_embed(math.sqrt(self.fan_in) * torch.exp(-self.log_scale))
        return lower_inverse(self.scale_tril())

    def precision(self) -> Tensor:
        """Prior precision ``Σ⁻¹`` per unit, ``(d_out, D, D)``."""
        factor = self.factor()
        return factor.mT @ factor

    def logdet_precision(self) -> Tensor:
        """``log |Σ⁻¹|`` per unit, ``(d_out,)``."""
        return self.fan_in * math.log(self.fan_in) - 2.0 * self.log_scale.sum(-1)

    def natural(self, factor: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Natural parameters ``(Σ⁻¹, Σ⁻¹ μ)``: ``(d_out, D, D)`` and ``(d_out, D)``.

        Args:
            factor: :meth:`factor` if the caller already has it (it is not recomputed).
        """
        factor = self.factor() if factor is None else factor
        precision = factor.mT @ factor
        return precision, (precision @ self.mean.unsqueeze(-1)).squeeze(-1)


def learnable_weight_masks(shapes: list[tuple[int, int]], fraction: float, *, seed: int = 0) -> list[Tensor]:
    """Masks of the weights whose prior is learnable under the prior-flexibility knob ρ.

    With ``K = Σ_l d_l (d_{l-1} + 1)`` weights in total, the first ``⌊ρ K⌋`` weights counted from the
    input layer are selected: layers wholly inside that count are fully learnable, the boundary layer gets
    a random subset (seeded) of the remaining count, and later layers none.

    Args:
        shapes: per layer ``(d_out, d_in + 1)``.
        fraction: ρ in [0, 1].
        seed: seed of the random subset in the boundary layer.

    Returns:
        One boolean mask ``(d_out, d_in + 1)`` per layer.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"the learnable prior fraction must lie in [0, 1], got {fraction}.")
    total = sum(rows * cols for rows, cols in shapes)
    remaining = math.floor(fraction * total)
    generator = torch.Generator().manual_seed(seed)
    masks = []
    for rows, cols in shapes:
        size = rows * cols
        take = min(size, remaining)
        remaining -= take
        flat = torch.zeros(size, dtype=torch.bool)
        if take == size:
            flat[:] = True
        elif take > 0:
            flat[torch.randperm(size, generator=generator)[:take]] = True
        masks.append(flat.view(rows, cols))
    return masks
