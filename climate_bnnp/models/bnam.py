"""BNAM: a Bayesian neural attention model — a transformer whose every linear map is amortised.

See docs/method.md, "Model family".

Architecture (``d = config.attn_width``, ``h = config.attn_heads``, ``config.attn_layers`` blocks):

* input embedding: amortised linear ``Dx -> d`` (identity on its input);
* each post-norm block: amortised Q, K, V projections ``d -> d``; multi-head scaled dot-product
  self-attention (``d / h`` per head, softmax over keys) computed **within the target set** and, separately,
  **within the context set** — targets never attend to context points, the context reaches the targets only
  through the weight posteriors; amortised output projection; ``h1 = LN1(x + Attn(x))``; feed-forward
  ``W2 ψ(W1 h1)`` from two amortised layers (the non-linearity is applied to the second layer's input);
  ``out = LN2(h1 + FFN(h1))``. LayerNorms are deterministic with learnable affine parameters;
* prediction head: amortised linear ``d -> Dy · P`` (``P = likelihood.num_params``) with the non-linearity
  on its input, final layer (for the Gaussian likelihood, ``P = 1``, the true context targets are its
  pseudo-observations; otherwise its inference network gives them).

Every amortised layer has its own MLP inference network on ``[x, y]`` (widths ``config.inf_hidden_dims``)
and the scaled unit-wise prior (``config.prior_type``). Weights are sampled in forward order — embedding,
then per block Q, K, V, output, FFN1, FFN2, then the head — and each layer's closed-form posterior is
conditioned on the context activations flowing into it, computed with the already-sampled upstream
weights. The KL sums over all amortised layers.

Because targets attend to targets, **BNAM's prediction at a point depends on the other query points**
(and on padded ones, unless ``mask_t`` is passed). Because context points attend to each other, the context
cannot be streamed in chunks: ``chunk_size`` raises :class:`NotImplementedError`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ModelConfig
from ..layers import accumulate_natural
from .base import AmortisedNetwork, BNNPOutput, LayerSpec, WeightSample, context_size

__all__ = ["BNAM"]

LAYERS_PER_BLOCK = 6  # Q, K, V, output projection, FFN1, FFN2


class BNAM(AmortisedNetwork):
    """Bayesian neural attention model with the public interface of :class:`~climate_bnnp.models.BNNP`.

    Args:
        config: a :class:`~climate_bnnp.config.ModelConfig` (``kind="bnam"``; ``hidden_dims`` is unused,
            ``attn_width`` is the embedding width) or its fields as keyword arguments.
    """

    kind = "bnam"
    pointwise_decoder = False  # targets attend to each other

    def check_config(self, config: ModelConfig) -> None:
        """The embedding width must split evenly over the attention heads."""
        if config.attn_width % config.attn_heads:
            raise ValueError(
                f"BNAM needs attn_width ({config.attn_width}) divisible by attn_heads ({config.attn_heads})."
            )

    def layer_specs(self, out_dim: int) -> list[LayerSpec]:
        """Embedding, then per block Q, K, V, output projection, FFN1, FFN2 (activation on FFN2's input),
        then the head (activation on its input)."""
        d, act = self.config.attn_width, self.config.activation
        specs = [(self.config.dim_x, d, "identity")]
        for _ in range(self.config.attn_layers):
            specs += [(d, d, "identity")] * 5 + [(d, d, act)]
        return [*specs, (d, out_dim, act)]

    def add_deterministic_modules(self) -> None:
        """Two LayerNorms per block (after attention and after the feed-forward part)."""
        width, blocks = self.config.attn_width, self.config.attn_layers
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(2 * blocks))

    # ---------------------------------------------------------------------------------------- network
    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """Multi-head self-attention within one set: ``(S, B, N, d)`` each -> ``(S, B, N, d)``."""
        s, b, n, d = q.shape
        heads = self.config.attn_heads
        split = lambda t: t.reshape(s * b, n, heads, d // heads).transpose(1, 2)  # noqa: E731  (S B, h, N, d/h)
        keep = None
        if mask is not None:  # keys to attend to; a set with no real point attends to its padding
            keep = mask | ~mask.any(-1, keepdim=True)  # (B, N)
            keep = keep[None, :, None, None, :].expand(s, b, 1, 1, n).reshape(s * b, 1, 1, n)
        out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=keep)  # (S B, h, N, d/h)
        return out.transpose(1, 2).reshape(s, b, n, d)  # (S, B, N, d)

    def _propagate(
        self, x: Tensor, mask: Tensor | None, weight_for: Callable[[int, Tensor], Tensor]
    ) -> Tensor:
        """Run one set through the network; ``weight_for(i, a)`` gives layer i's weights for its input ``a``.

        ``x (B, N, Dx)`` -> ``(S, B, N, Dy)``; ``a`` is the layer's input pre-activation ``(S', B, N, d_in)``.
        """

        def linear(index: int, a: Tensor) -> Tensor:
            w = weight_for(index, a)  # (S, B, d_out, d_in + 1)
            return self.layers[index].features(a) @ w.to(a.dtype).mT  # (S, B, N, D) @ (S, B, D, d_out)

        h = linear(0, x.unsqueeze(0))  # (S, B, N, d)
        for block in range(self.config.attn_layers):
            first = 1 + LAYERS_PER_BLOCK * block
            q, k, v = (linear(first + i, h) for i in range(3))
            h = self.norms[2 * block](h + linear(first + 3, self._attend(q, k, v, mask)))
            h = self.norms[2 * block + 1](h + linear(first + 5, linear(first + 4, h)))
        return linear(len(self.layers) - 1, h)  # (S, B, N, Dy)

    def decode(self, weights: list[Tensor], x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Function values ``(S, B, N, Dy)`` at the set ``x (B, N, Dx)`` (points attend within the set)."""
        return self._propagate(x, mask, lambda index, a: weights[index])

    # ---------------------------------------------------------------------------------------- sampling
    def sample_weights(
        self,
        xc: Tensor | None,
        yc: Tensor | None,
        mask_c: Tensor | None = None,
        *,
        num_samples: int,
        num_tasks: int | None = None,
        chunk_size: int | None = None,
        kl_mask: Tensor | None = None,
    ) -> WeightSample:
        """Sample all amortised layers' weights in forward order, propagating the context stream.

        Args:
            xc, yc, mask_c: the context (None or ``Nc = 0``: prior draws).
            num_samples: S; num_tasks: B when ``xc`` is None.
            chunk_size: must be None (context points attend to each other).
            kl_mask: ``(B, Nc)``: KL to the posterior given only these points, for NPVI. Its context
                activations come from a second stream in which points attend only to ``kl_mask`` points,
                so it is ``q(W | D_c)`` given the same upstream weight draws.

        Returns:
            ``WeightSample``: weights ``(S, B, d_out, d_in + 1)`` per layer, KL ``(S, B)``.
        """
        if chunk_size is not None:
            raise NotImplementedError(
                f"BNAM cannot stream the context in chunks (got chunk_size={chunk_size}): context points "
                "attend to each other, so every layer needs all of them at once. Pass chunk_size=None, or "
                "use BNNP for within-task minibatching."
            )
        nc, num_tasks = context_size(xc, num_tasks)
        if nc == 0:
            return self.prior_sample(num_samples, num_tasks)
        noise_std = self.exact_final_noise_std()
        weights: list[Tensor] = []
        kls: list[Tensor] = []
        stream_x, stream_mask = xc, mask_c
        if kl_mask is not None:
            # NPVI's reference q(W | D_c): a second context stream in which the points attend only to the
            # kl_mask points, run through the same sampled weights (stacked after the B tasks).
            valid = torch.ones_like(kl_mask) if mask_c is None else mask_c
            stream_x = torch.cat([xc, xc], dim=0)  # (2B, Nc, Dx)
            stream_mask = torch.cat([valid, valid & kl_mask], dim=0)  # (2B, Nc)

        def weight_for(index: int, a: Tensor) -> Tensor:
            layer = self.layers[index]
            h = layer.features(a)  # (S', B or 2B, Nc, D): context activations through the sampled layers
            yhat, lam = layer.pseudo_observations(xc, yc, mask_c, noise_std)  # (B, Nc, d_out) each
            data = accumulate_natural(h[:, :num_tasks], lam.unsqueeze(0), yhat.unsqueeze(0))
            reference = None
            if kl_mask is not None:
                ref_lam = lam * kl_mask.unsqueeze(-1).to(lam.dtype)
                ref_h = h[:, num_tasks:]  # (S', B, Nc, D) from the D_c-only stream
                reference = layer.posterior(
                    accumulate_natural(ref_h, ref_lam.unsqueeze(0), yhat.unsqueeze(0))
                )
            w, kl = layer.sample_with_kl(data, num_samples, num_tasks, reference)
            kls.append(kl)  # (S' or 1, B)
            weights.append(w)
            return w if kl_mask is None else torch.cat([w, w], dim=1)  # (S, B or 2B, d_out, d_in + 1)

        self._propagate(stream_x, stream_mask, weight_for)
        kl = sum(kls).expand(num_samples, num_tasks)  # (S, B)
        return WeightSample(weights, kl)

    def forward(
        self,
        xc: Tensor | None,
        yc: Tensor | None,
        xt: Tensor,
        *,
        mask_c: Tensor | None = None,
        mask_t: Tensor | None = None,
        num_samples: int = 1,
        chunk_size: int | None = None,
    ) -> BNNPOutput:
        """Posterior (or, without context, prior) function samples at ``xt``; see :class:`BNNPOutput`.

        Args:
            mask_t: optional ``(B, Nt)``: padded targets are then ignored as keys by the real targets
                (the core objectives pass ``batch.mask_t``).
        """
        sample = self.sample_weights(
            xc, yc, mask_c, num_samples=num_samples, num_tasks=xt.shape[0], chunk_size=chunk_size
        )
        ft = self.decode(sample.weights, xt, mask_t)
        nc = 0 if xc is None else xc.shape[1]
        if nc == 0:
            return BNNPOutput(ft, sample.kl, None, slice(0, 0), 1.0)
        fc = self.decode(sample.weights, xc, mask_c)  # equals the context stream used for sampling
        return BNNPOutput(ft, sample.kl, fc, slice(0, nc), 1.0)
