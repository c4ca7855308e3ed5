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
from torch import Tensor, nn

from ..layers import (
    MLP,
    AmortisedLinear,
    ContextFeatures,
    NaturalParams,
    accumulate_natural,
    context_feature_width,
)
from .base import AmortisedNetwork, BNNPOutput, LayerSpec, TaskWeights, WeightSample, context_size
from .minibatch import ContextChunks

__all__ = ["BNNP", "WeightSample", "BNNPOutput"]


class BNNP(AmortisedNetwork):
    """Bayesian Neural Network Process with MLP inference networks.

    With ``config.context_features`` (:class:`~climate_bnnp.layers.ContextFeatures`), every point's inputs
    (context and target) are ``[x, φ(x; C)]``: ``x`` and leave-one-out kernel features of the context set
    ``C``, so the BNN (and the inference networks) see the context spatially while the weight posterior
    stays closed form. :meth:`sample_weights` computes the context's features once on the whole context
    (before any chunking of the posterior) and returns weights that carry the context
    (:class:`~climate_bnnp.models.base.TaskWeights`), from which :meth:`decode` computes the query points'
    features.

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
        dims = [self.input_width(), *cfg.hidden_dims, out_dim]
        return [
            (d_in, d_out, "identity" if index == 0 else cfg.activation)
            for index, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True))
        ]

    def input_width(self) -> int:
        """Width of the BNN's (and the inference nets') point inputs: ``dim_x`` plus the context features."""
        cfg = self.config
        features = cfg.context_features
        return cfg.dim_x + (0 if features is None else context_feature_width(features, cfg.dim_y))

    def inference_net(self, d_out: int, final: bool) -> nn.Module:
        """Per-point MLP on ``[x, φ(x; C), y]`` (``[x, y]`` without context features) giving ``2 d_out``
        outputs (``d_out`` at a final layer whose pseudo-observations are the true targets)."""
        cfg = self.config
        return MLP(
            self.input_width() + cfg.dim_y, cfg.inf_hidden_dims, d_out if final else 2 * d_out, cfg.activation
        )

    def add_deterministic_modules(self) -> None:
        """The context-feature module ``self.context_features`` (None without ``config.context_features``)."""
        cfg = self.config
        features = cfg.context_features
        self.context_features = None if features is None else ContextFeatures(features, cfg.dim_y)

    # ---------------------------------------------------------------------------------------- forward
    def decode(self, weights: list[Tensor], x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Apply the first ``len(weights)`` layers: ``x (B, N, Dx)`` -> pre-activations ``(S, B, N, d)``.

        With context features, ``weights`` must be those of :meth:`sample_weights` (a
        :class:`~climate_bnnp.models.base.TaskWeights` carrying the context), and ``x``'s features are
        computed against that context. ``mask (B, N)`` is accepted for interface parity with BNAM and
        ignored: given the weights, every point is predicted independently, so padded points cannot affect
        real ones.
        """
        return self._layers(weights, self._inputs(weights, x))

    def _inputs(self, weights: list[Tensor], x: Tensor) -> Tensor:
        """The BNN's inputs ``[x, φ(x; C)]`` of query points ``x (B, N, Dx)`` (``x`` without features)."""
        if self.context_features is None:
            return x
        if not isinstance(weights, TaskWeights):
            raise TypeError(
                "this BNNP has context features, so decoding needs the context the weights were drawn "
                f"given: pass sample_weights(...).weights (a TaskWeights), not a {type(weights).__name__}."
            )
        return torch.cat([x, self.context_features(x, weights.context)], dim=-1)

    def _layers(self, weights: list[Tensor], inputs: Tensor) -> Tensor:
        """The first ``len(weights)`` layers on the BNN's inputs ``(B, N, D)`` -> ``(S, B, N, d)``."""
        a = inputs.unsqueeze(0)  # (1, B, N, D)
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
            sample = self.prior_sample(num_samples, num_tasks)
            if self.context_features is not None:
                sample.weights = TaskWeights(sample.weights, None)
            return sample
        context_set = None
        if self.context_features is not None:
            if kl_mask is not None:
                raise ValueError(
                    "kl_mask (the NPVI objective) is not supported with context features: the reference "
                    "posterior q(W | c) would need features computed from c alone; use pp_avi, elbo or npml."
                )
            context_set = self.context_features.context_set(xc, yc, mask_c)
            # the whole context's leave-one-out features, once, before the posterior is chunked
            xc = torch.cat([xc, self.context_features(xc, context_set)], dim=-1)
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
        if context_set is not None:
            weights = TaskWeights(weights, context_set)
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
            a = carried if carried is not None else self._layers(weights, xc[:, idx])
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
    """A task's context as :meth:`BNNP._layer_natural` needs it: the BNN's inputs ``x (B, Nc, D)`` (with
    the context features when the model has them), ``y (B, Nc, Dy)``,
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
