"""Set-transformer inference network for AttnBNNP (torch only).

Each amortised layer of an AttnBNNP gets its own :class:`ContextTransformer`: the context pairs
``[x_n, y_n]`` are embedded to ``width``, passed through ``num_layers`` pre-LayerNorm self-attention blocks
(multi-head attention across the context points, then a 2x-wide MLP, both residual) and read out per point.
Padded context points (``mask_c`` False) are excluded as keys, so they influence no real point; their own
outputs are arbitrary and the amortised layer gives them zero pseudo-precision.

The network is not pointwise (``pointwise = False``): a point's pseudo-observation depends on the whole
context set, so it must see the whole context at once (see :class:`climate_bnnp.models.AttnBNNP`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .networks import activation

__all__ = ["ContextTransformer", "AttentionBlock"]

MLP_EXPANSION = 2


class AttentionBlock(nn.Module):
    """Pre-LayerNorm block: ``h + MHA(LN(h))`` then ``h + MLP(LN(h))``; ``(B, N, w) -> (B, N, w)``."""

    def __init__(self, width: int, heads: int, act: str = "relu") -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"attention width ({width}) must be divisible by the number of heads ({heads}).")
        self.norm1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, MLP_EXPANSION * width), activation(act), nn.Linear(MLP_EXPANSION * width, width)
        )

    def forward(self, h: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        """``h (B, N, w)``; ``key_padding_mask (B, N)`` True at points to ignore (PyTorch convention)."""
        z = self.norm1(h)
        h = h + self.attn(z, z, z, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return h + self.mlp(self.norm2(h))


class ContextTransformer(nn.Module):
    """Self-attention over the context set with per-point outputs: ``(xc, yc, mask_c) -> (B, Nc, d_out)``.

    Args:
        d_in: ``Dx + Dy``; d_out: output width per point.
        width: embedding width; heads: attention heads; num_layers: number of blocks.
        act: MLP non-linearity.
    """

    pointwise = False

    def __init__(
        self, d_in: int, d_out: int, *, width: int, heads: int, num_layers: int, act: str = "relu"
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(d_in, width)
        self.blocks = nn.ModuleList(AttentionBlock(width, heads, act) for _ in range(num_layers))
        self.norm = nn.LayerNorm(width)
        self.readout = nn.Linear(width, d_out)

    def forward(self, xc: Tensor, yc: Tensor, mask_c: Tensor | None = None) -> Tensor:
        """Per-point outputs ``(B, Nc, d_out)`` from ``xc (B, Nc, Dx)``, ``yc (B, Nc, Dy)``, ``mask_c``."""
        h = self.embed(torch.cat([xc, yc], dim=-1))  # (B, Nc, width)
        ignore = None
        if mask_c is not None:
            # A task with no real point would make every attention row empty (NaN): let it attend to its
            # padding instead; its outputs get zero pseudo-precision anyway.
            ignore = ~mask_c & mask_c.any(-1, keepdim=True)  # (B, Nc)
        for block in self.blocks:
            h = block(h, ignore)
        return self.readout(self.norm(h))
