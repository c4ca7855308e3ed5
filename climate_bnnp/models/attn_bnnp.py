"""AttnBNNP: a BNNP whose per-layer inference networks are transformers over the context set.

See docs/method.md, "Model family".
"""

from __future__ import annotations

from torch import nn

from ..layers.attention import ContextTransformer
from .bnnp import BNNP

__all__ = ["AttnBNNP"]


class AttnBNNP(BNNP):
    """BNNP with set-transformer inference networks.

    Each amortised layer's pseudo-observations and pseudo-noise come from a
    :class:`~climate_bnnp.layers.attention.ContextTransformer` over the whole context set
    ``[X_c, Y_c]`` (``config.attn_width``, ``config.attn_heads``, ``config.attn_layers``; padded context
    points are ignored through ``key_padding_mask``), so each point's pseudo-observation depends on every
    other context point. The closed-form layer posterior and the MLP decoder are those of
    :class:`~climate_bnnp.models.BNNP`: predictions at different query points come from the same weight
    draws and stay mutually consistent (unlike BNAM, a query point's prediction does not depend on the
    other query points).

    **Within-task minibatching** (``chunk_size``): :meth:`BNNP.sample_weights` runs each layer's
    transformer *once on the whole context*, then accumulates the natural parameters chunk by chunk.
    Consequences, all tested:

    * the posterior, the weight draws and the KL are *exactly* those of the full batch (value);
    * under autograd one random chunk per layer carries the gradient, scaled by the number of chunks K,
      and the gradient through the transformer reaches all points: the gradient is unbiased (its average
      over the K possible chunks equals the full-batch gradient);
    * memory is **not** bounded by the chunk size: attention over all ``Nc`` points (and its autograd
      graph) is kept; only the feature outer products are chunked. Use :class:`BNNP` when memory must stay
      flat as the context grows.

    Args:
        config: a :class:`~climate_bnnp.config.ModelConfig` (``kind="attn_bnnp"``) or its fields as keywords.
    """

    kind = "attn_bnnp"

    def inference_net(self, d_out: int, final: bool) -> nn.Module:
        """Transformer on ``[x, y]`` giving ``2 d_out`` outputs per point (``d_out`` at the final layer)."""
        cfg = self.config
        return ContextTransformer(
            cfg.dim_x + cfg.dim_y,
            d_out if final else 2 * d_out,
            width=cfg.attn_width,
            heads=cfg.attn_heads,
            num_layers=cfg.attn_layers,
            act=cfg.activation,
        )
