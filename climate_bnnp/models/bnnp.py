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

from ..config import ModelConfig
from ..layers import MLP, AmortisedLinear, NaturalParams, accumulate_natural
from ..likelihoods import build_likelihood
from .base import AmortisedLayersMixin

__all__ = ["BNNP", "WeightSample", "BNNPOutput"]


@dataclass
class WeightSample:
    """Sampled weights per layer ``(S, B, d_out, d_in + 1)`` (float64), the KL estimate ``(S, B)`` and,
    without chunking, the network's output at the context points (a by-product of the layer recursion)."""

    weights: list[Tensor]
    kl: Tensor
    context_output: Tensor | None = None  # f(xc) ``(S, B, Nc, Dy)`` when the context was not chunked


@dataclass
class BNNPOutput:
    """What a forward pass returns.

    Attributes:
        ft: network outputs at the targets ``(S, B, Nt, Dy · P)``, ``P = likelihood.num_params``: for the
            Gaussian likelihood (``P = 1``) the function values (add likelihood noise for observations),
            otherwise the likelihood's parameters (``likelihood.mean(ft)``, ``likelihood.sample(ft)``).
        kl: KL of the weight posterior to the prior (or to ``kl_mask``'s posterior) ``(S, B)``.
        fc: network outputs at the context points ``context_index`` ``(S, B, n, Dy · P)`` (None: no context).
        context_index: indices into ``Nc`` that ``fc`` covers (a slice of all points when not chunked).
        context_scale: multiply sums over ``fc`` by this to estimate sums over the whole context
            (the number of chunks K; 1 without chunking).
    """

    ft: Tensor
    kl: Tensor
    fc: Tensor | None
    context_index: slice
    context_scale: float


class BNNP(AmortisedLayersMixin, nn.Module):
    """Bayesian Neural Network Process with MLP inference networks.

    Args:
        config: a :class:`~climate_bnnp.config.ModelConfig`; or pass its fields as keyword arguments,
            e.g. ``BNNP(dim_x=1, dim_y=1, hidden_dims=(64, 64))``.
    """

    kind = "bnnp"

    def __init__(self, config: ModelConfig | None = None, **kwargs) -> None:
        super().__init__()
        if config is None:
            config = ModelConfig(kind=self.kind, **kwargs)
        elif kwargs:
            raise TypeError("pass either a ModelConfig or keyword arguments, not both.")
        self.config = config
        likelihood = build_likelihood(config)
        dims = [config.dim_x, *config.hidden_dims, config.dim_y * likelihood.num_params]
        layers = []
        for index, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            last = index == len(dims) - 2
            # The true targets are the final layer's pseudo-observations only when its outputs live in the
            # targets' space (Gaussian means); Bernoulli–Gamma parameters get them from the inference net.
            final = last and likelihood.num_params == 1
            net = None if (last and config.exact_final_layer) else self.inference_net(d_out, final)
            layers.append(
                AmortisedLinear(
                    d_in,
                    d_out,
                    inference_net=net,
                    input_activation="identity" if index == 0 else config.activation,
                    prior_kind=config.prior_type,
                    final=final,
                )
            )
        self.layers = nn.ModuleList(layers)
        self.likelihood = likelihood  # registered after the layers: the parameter order is unchanged
        self.set_prior_learnable_fraction(config.prior_learnable_fraction, seed=config.seed)

    def inference_net(self, d_out: int, final: bool) -> nn.Module:
        """Per-point MLP on ``[x, y]`` giving ``2 d_out`` outputs (``d_out`` at a final layer whose
        pseudo-observations are the true targets)."""
        cfg = self.config
        return MLP(cfg.dim_x + cfg.dim_y, cfg.inf_hidden_dims, d_out if final else 2 * d_out, cfg.activation)

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
        gradient unbiased.

        Args:
            xc, yc, mask_c: the context (None or ``Nc = 0``: sample from the prior).
            num_samples: S. num_tasks: B when ``xc`` is None.
            chunk_size: within-task minibatch size.
            kl_mask: ``(B, Nc)``; if given, the KL is to the posterior given only these context points
                (computed with the same samples of earlier layers) instead of to the prior (NPVI);
                attention inference nets see only these points for it, so it is ``q(W | D_c)``. Chunked,
                its natural parameters get the same unbiased ``sg(all) + K (b − sg b)`` gradient.
        """
        nc = 0 if xc is None else xc.shape[1]
        if xc is not None:
            num_tasks = xc.shape[0]
        if num_tasks is None:
            raise ValueError("num_tasks is needed when there is no context.")
        step = nc if chunk_size is None else chunk_size
        if step < 1 and nc:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
        chunks = [slice(start, start + step) for start in range(0, nc, max(step, 1))]
        ref_mask_c = None  # (B, Nc): the reference posterior's points (NPVI), padding excluded
        if kl_mask is not None and nc:
            ref_mask_c = kl_mask if mask_c is None else kl_mask & mask_c
        grad = torch.is_grad_enabled()
        noise_std = self.exact_final_noise_std()
        # One chunk: the context pre-activations are carried from layer to layer; several chunks: each
        # chunk is decoded again through the sampled layers (memory bounded by the chunk).
        carried = xc.unsqueeze(0) if len(chunks) == 1 else None
        weights: list[Tensor] = []
        kl = torch.zeros((), dtype=torch.float64, device=self.parameter_device())
        for layer in self.layers:
            if nc == 0:
                weights.append(layer.sample_with_kl(None, num_samples, num_tasks)[0])
                continue
            pseudo_all = pseudo_ref_all = None
            if not layer.pointwise:  # attention inference nets see the whole context at once
                pseudo_all = layer.pseudo_observations(xc, yc, mask_c, noise_std)
                if ref_mask_c is not None:  # q(W | D_c): the reference's attention sees D_c only
                    pseudo_ref_all = layer.pseudo_observations(xc, yc, ref_mask_c, noise_std)
            # Drawn whenever grad is on (even for one chunk) so that every chunking uses the same RNG stream.
            pick = int(torch.randint(len(chunks), ())) if grad else None
            pick = pick if len(chunks) > 1 else None
            data = reference = chosen = chosen_ref = None
            for b, idx in enumerate(chunks):
                with torch.set_grad_enabled(grad and (pick is None or b == pick)):
                    if pseudo_all is None:
                        pseudo = pseudo_ref = layer.pseudo_observations(
                            xc[:, idx], yc[:, idx], None, noise_std
                        )
                    else:
                        pseudo = (pseudo_all[0][:, idx], pseudo_all[1][:, idx])
                        if pseudo_ref_all is not None:
                            pseudo_ref = (pseudo_ref_all[0][:, idx], pseudo_ref_all[1][:, idx])
                    mask = None if mask_c is None else mask_c[:, idx]
                    a = carried if carried is not None else self.decode(weights, xc[:, idx])
                    h = layer.features(a)  # (S', B, n, D)
                    nat = _natural(h, pseudo, mask)
                    data = nat if data is None else data + nat
                    if ref_mask_c is not None:
                        ref = _natural(h, pseudo_ref, ref_mask_c[:, idx])
                        reference = ref if reference is None else reference + ref
                    if b == pick:
                        chosen, chosen_ref = nat, (ref if ref_mask_c is not None else None)
            if chosen is not None:  # value of the full sum, gradient K × the chosen chunk's
                data = _unbiased(data, chosen, len(chunks))
                if chosen_ref is not None:
                    reference = _unbiased(reference, chosen_ref, len(chunks))
            reference_posterior = None if reference is None else layer.posterior(reference)
            w, layer_kl = layer.sample_with_kl(data, num_samples, num_tasks, reference_posterior)
            kl = kl + layer_kl  # (S' or 1, B)
            weights.append(w)
            if carried is not None:
                carried = _apply(layer, w, carried)
        kl = kl.expand(num_samples, num_tasks) if kl.dim() else kl.new_zeros(num_samples, num_tasks)
        return WeightSample(weights, kl, carried)

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
        num_chunks = 1 if chunk_size is None else -(-nc // chunk_size)
        pick = int(torch.randint(num_chunks, ()))  # drawn for any chunking: the same RNG stream for all
        index = slice(0, nc) if num_chunks == 1 else slice(pick * chunk_size, (pick + 1) * chunk_size)
        fc = sample.context_output if num_chunks == 1 else self.decode(sample.weights, xc[:, index])
        return BNNPOutput(ft, sample.kl, fc, index, float(num_chunks))


def _natural(h: Tensor, pseudo: tuple[Tensor, Tensor], mask: Tensor | None) -> NaturalParams:
    """Data natural parameters from features ``h (S', B, n, D)`` and ``(ŷ, λ)`` ``(B, n, d_out)`` each;
    masked points (``mask (B, n)`` False) get ``λ = 0``."""
    yhat, lam = pseudo
    if mask is not None:
        lam = lam * mask.unsqueeze(-1).to(lam.dtype)
    return accumulate_natural(h, lam.unsqueeze(0), yhat.unsqueeze(0))


def _unbiased(total: NaturalParams, chosen: NaturalParams, num_chunks: int) -> NaturalParams:
    """``sg(total) + K (chosen − sg(chosen))``: the value of ``total``; its gradient is K × the chosen
    chunk's, an unbiased estimate of the gradient of the sum over the K chunks."""
    return total.detach() + (chosen + chosen.detach().scale(-1.0)).scale(float(num_chunks))


def _apply(layer: AmortisedLinear, w: Tensor, a: Tensor) -> Tensor:
    """One layer: ``(S', B, N, d_in)`` -> ``(S, B, N, d_out)`` with weights ``(S, B, d_out, d_in + 1)``."""
    return layer.features(a) @ w.to(a.dtype).mT
