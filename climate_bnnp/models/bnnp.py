"""The Bayesian Neural Network Process (BNNP): a neural process whose latent variable is a BNN's weights.

Layer by layer, each layer's weights get a closed-form Gaussian posterior from the prior and the
pseudo-observations of the context (see :mod:`climate_bnnp.layers.amortised`); weights are sampled
(reparameterised) in forward order and the same draws decode both the context and the targets.

Shapes follow the package convention: ``xc (B, Nc, Dx)``, ``yc (B, Nc, Dy)``, ``xt (B, Nt, Dx)``,
``mask_c (B, Nc)``; predictions ``(S, B, N, Dy)``; weights ``(S, B, d_out, d_in + 1)``. Tasks of different
sizes are zero-padded to a common size and masked (``mask_c`` False at padding); an empty context
(``Nc = 0`` or ``xc=None``) gives the prior predictive.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..layers import AmortisedLinear, NaturalParams, accumulate_natural
from .base import AmortisedNetwork, BNNPOutput, LayerSpec, WeightSample, context_size
from .minibatch import ContextChunks

__all__ = ["BNNP", "WeightSample", "BNNPOutput"]


class BNNP(AmortisedNetwork):
    """Bayesian Neural Network Process with MLP inference networks.

    Args:
        config: a :class:`~climate_bnnp.config.ModelConfig`; or pass its fields as keyword arguments,
            e.g. ``BNNP(dim_x=1, dim_y=1, hidden_dims=(64, 64))``.
    """

    kind = "bnnp"
    pointwise_decoder = True

    def layer_specs(self, out_dim: int) -> list[LayerSpec]:
        """An MLP ``dim_x -> hidden_dims -> out_dim``; the activation acts on every layer's input but the
        first."""
        cfg = self.config
        dims = [cfg.dim_x, *cfg.hidden_dims, out_dim]
        return [
            (d_in, d_out, "identity" if index == 0 else cfg.activation)
            for index, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True))
        ]

    # ---------------------------------------------------------------------------------------- forward
    def decode(self, weights: list[Tensor], x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Apply the first ``len(weights)`` layers: ``x (B, N, Dx)`` -> pre-activations ``(S, B, N, d)``.

        ``mask (B, N)`` is accepted for interface parity with BNAM and ignored: given the weights, every
        point is predicted independently, so padded points cannot affect real ones.
        """
        a = x.unsqueeze(0)  # (1, B, N, Dx)
        for layer, w in zip(self.layers, weights, strict=False):
            a = _apply(layer, w, a)
        return a

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
        """Sample weights layer by layer from the amortised posterior given the context.

        The context is streamed through each layer in chunks of ``chunk_size`` points (None: one chunk);
        natural parameters add, so the posterior is the same for any chunking. Under autograd with
        ``K > 1`` chunks, one random chunk per layer carries gradient and the rest run without it; the
        data natural parameters are ``sg(η_all) + K (η_b − sg(η_b))``: their value is exact and their
        gradient unbiased (see :class:`~climate_bnnp.models.minibatch.ContextChunks`).

        Args:
            xc, yc, mask_c: the context (None or ``Nc = 0``: sample from the prior).
            num_samples: S. num_tasks: B when ``xc`` is None.
            chunk_size: within-task minibatch size.
            kl_mask: ``(B, Nc)``; if given, the KL is to the posterior given only these context points
                (computed with the same samples of earlier layers) instead of to the prior (NPVI);
                attention inference nets see only these points for it, so it is ``q(W | D_c)``. Chunked,
                its natural parameters get the same unbiased ``sg(all) + K (b − sg b)`` gradient.
        """
        nc, num_tasks = context_size(xc, num_tasks)
        if nc == 0:
            return self.prior_sample(num_samples, num_tasks)
        chunks = ContextChunks(nc, chunk_size)
        ref_mask = None if kl_mask is None else kl_mask if mask_c is None else kl_mask & mask_c
        context = _Context(xc, yc, mask_c, ref_mask, chunks)
        noise_std = self.exact_final_noise_std()
        # One chunk: the context pre-activations are carried from layer to layer; several chunks: each
        # chunk is decoded again through the sampled layers (memory bounded by the chunk).
        carried = xc.unsqueeze(0) if len(chunks) == 1 else None
        weights: list[Tensor] = []
        kl = torch.zeros((), dtype=torch.float64, device=self.parameter_device())
        for layer in self.layers:
            data, reference = self._layer_natural(layer, context, weights, carried, noise_std)
            reference_posterior = None if reference is None else layer.posterior(reference)
            w, layer_kl = layer.sample_with_kl(data, num_samples, num_tasks, reference_posterior)
            kl = kl + layer_kl  # (S' or 1, B)
            weights.append(w)
            if carried is not None:
                carried = _apply(layer, w, carried)
        return WeightSample(weights, kl.expand(num_samples, num_tasks), carried)

    def _layer_natural(
        self,
        layer: AmortisedLinear,
        context: _Context,
        weights: list[Tensor],
        carried: Tensor | None,
        noise_std: Tensor | None,
    ) -> tuple[NaturalParams, NaturalParams | None]:
        """One layer's data natural parameters from the context, and those of the reference posterior's
        points (None without ``context.ref_mask``), summed over the chunks by :meth:`ContextChunks.estimate`.

        ``weights`` are the earlier layers' samples; ``carried`` their output at all context points (one
        chunk), else each chunk is decoded through them.
        """
        xc, yc, mask_c, ref_mask = context.x, context.y, context.mask, context.ref_mask
        pseudo_all = pseudo_ref_all = None
        if not layer.pointwise:  # attention inference nets see the whole context at once
            pseudo_all = layer.pseudo_observations(xc, yc, mask_c, noise_std)
            if ref_mask is not None:  # q(W | D_c): the reference's attention sees D_c only
                pseudo_ref_all = layer.pseudo_observations(xc, yc, ref_mask, noise_std)

        def chunk_terms(idx: slice) -> tuple[NaturalParams, NaturalParams | None]:
            if pseudo_all is None:  # per-point inference nets: run on the chunk, shared by the reference
                pseudo = pseudo_ref = layer.pseudo_observations(xc[:, idx], yc[:, idx], None, noise_std)
            else:
                pseudo = _rows(pseudo_all, idx)
                pseudo_ref = None if pseudo_ref_all is None else _rows(pseudo_ref_all, idx)
            a = carried if carried is not None else self.decode(weights, xc[:, idx])
            h = layer.features(a)  # (S', B, n, D)
            data = _natural(h, pseudo, None if mask_c is None else mask_c[:, idx])
            reference = None if ref_mask is None else _natural(h, pseudo_ref, ref_mask[:, idx])
            return data, reference

        return context.chunks.estimate(chunk_terms)

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
        """Posterior (or prior, without context) predictive function samples at ``xt``.

        ``mask_t`` is accepted for interface parity with BNAM and ignored: given the weights, BNNP
        predicts every target point independently, so padded targets cannot affect real ones.

        Returns:
            :class:`BNNPOutput` with ``ft (S, B, Nt, Dy)``, ``kl (S, B)`` and context predictions ``fc``
            on all context points, or on one random chunk (``context_scale = K``) when chunked.
        """
        sample = self.sample_weights(
            xc, yc, mask_c, num_samples=num_samples, num_tasks=xt.shape[0], chunk_size=chunk_size
        )
        ft = self.decode(sample.weights, xt)
        nc = 0 if xc is None else xc.shape[1]
        if nc == 0:
            return BNNPOutput(ft, sample.kl, None, slice(0, 0), 1.0)
        chunks = ContextChunks(nc, chunk_size)
        index = chunks.slices[chunks.draw()]  # drawn for any chunking: the same RNG stream for all
        fc = sample.context_output if len(chunks) == 1 else self.decode(sample.weights, xc[:, index])
        return BNNPOutput(ft, sample.kl, fc, index, float(len(chunks)))


@dataclass
class _Context:
    """A task's context as :meth:`BNNP._layer_natural` needs it: ``x (B, Nc, Dx)``, ``y (B, Nc, Dy)``,
    ``mask (B, Nc)`` (padding), ``ref_mask (B, Nc)`` (the reference posterior's points, padding excluded;
    None without one) and its chunks."""

    x: Tensor
    y: Tensor
    mask: Tensor | None
    ref_mask: Tensor | None
    chunks: ContextChunks


def _rows(pseudo: tuple[Tensor, Tensor], idx: slice) -> tuple[Tensor, Tensor]:
    """The chunk ``idx`` of whole-context pseudo-observations ``(ŷ, λ)``, ``(B, Nc, d_out)`` each."""
    return pseudo[0][:, idx], pseudo[1][:, idx]


def _natural(h: Tensor, pseudo: tuple[Tensor, Tensor], mask: Tensor | None) -> NaturalParams:
    """Data natural parameters from features ``h (S', B, n, D)`` and ``(ŷ, λ)`` ``(B, n, d_out)`` each;
    masked points (``mask (B, n)`` False) get ``λ = 0``."""
    yhat, lam = pseudo
    if mask is not None:
        lam = lam * mask.unsqueeze(-1).to(lam.dtype)
    return accumulate_natural(h, lam.unsqueeze(0), yhat.unsqueeze(0))


def _apply(layer: AmortisedLinear, w: Tensor, a: Tensor) -> Tensor:
    """One layer: ``(S', B, N, d_in)`` -> ``(S, B, N, d_out)`` with weights ``(S, B, d_out, d_in + 1)``."""
    return layer.features(a) @ w.to(a.dtype).mT
