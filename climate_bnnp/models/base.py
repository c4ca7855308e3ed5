"""The interface of BNNP-family models (:class:`AmortisedModel`) and what BNNP, AttnBNNP and BNAM share
(:class:`AmortisedNetwork`: the constructor, the noise std, the prior-flexibility knob, jitter reports and
the log-likelihood sums the objectives use)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..layers import MLP, AmortisedLinear, ContextSet, JitterLog, learnable_weight_masks
from ..likelihoods import Likelihood, build_likelihood

__all__ = ["AmortisedModel", "AmortisedNetwork", "BNNPOutput", "LayerSpec", "TaskWeights", "WeightSample"]

LayerSpec = tuple[int, int, str]  # an amortised layer: (d_in, d_out, activation applied to its input)


class TaskWeights(list):
    """Sampled weights per layer (a list of tensors) that also carry the context they were drawn given,
    for a decoder that reads the context (BNNP with context features): ``context`` is a
    :class:`~climate_bnnp.layers.ContextSet`, or None for an empty context (prior draws)."""

    def __init__(self, weights=(), context: ContextSet | None = None) -> None:
        super().__init__(weights)
        self.context = context

    def __getitem__(self, index):
        """A layer's weights, or for a slice (e.g. the first layers) a :class:`TaskWeights` with the same
        context."""
        item = super().__getitem__(index)
        return TaskWeights(item, self.context) if isinstance(index, slice) else item


@dataclass
class WeightSample:
    """Sampled weights per layer ``(S, B, d_out, d_in + 1)`` (float64), the KL estimate ``(S, B)`` and,
    when the context was carried through the layers in one piece (BNNP without chunking), the network's
    output at the context points (a by-product of the layer recursion). With context features, ``weights``
    is a :class:`TaskWeights` that carries the context, so ``decode(sample.weights, x)`` sees it."""

    weights: list[Tensor]
    kl: Tensor
    context_output: Tensor | None = None  # f(xc) ``(S, B, Nc, Dy · P)``


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
        context_scale: the number of chunks K, by which a sum over ``fc`` estimates the sum over the whole
            context (1 without chunking). The model's :meth:`~AmortisedModel.context_log_likelihood` reads
            these two; callers need not.
    """

    ft: Tensor
    kl: Tensor
    fc: Tensor | None
    context_index: slice
    context_scale: float


@runtime_checkable
class AmortisedModel(Protocol):
    """What objectives, training and prediction use of a BNNP-family model (an ``nn.Module``).

    ``pointwise_decoder`` is True when, given the weights, each target point is decoded independently of
    the other query points (BNNP, AttnBNNP), so predictions can be made in chunks or at any subset of
    points; False for BNAM, whose targets attend to each other.
    """

    config: ModelConfig
    pointwise_decoder: ClassVar[bool]

    @property
    def likelihood(self) -> Likelihood: ...

    def __call__(
        self,
        xc: Tensor | None,
        yc: Tensor | None,
        xt: Tensor,
        *,
        mask_c: Tensor | None = None,
        mask_t: Tensor | None = None,
        num_samples: int = 1,
        chunk_size: int | None = None,
    ) -> BNNPOutput: ...

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
    ) -> WeightSample: ...

    def decode(self, weights: list[Tensor], x: Tensor, mask: Tensor | None = None) -> Tensor: ...

    def log_likelihood(self, y: Tensor, f: Tensor, mask: Tensor | None = None) -> Tensor: ...

    def context_log_likelihood(self, out: BNNPOutput, yc: Tensor, mask_c: Tensor | None = None) -> Tensor: ...

    def noise_std(self) -> Tensor | None: ...

    def jitter_report(self) -> dict[str, float]: ...

    def prior_masks(self) -> list[Tensor]: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...


class AmortisedNetwork(nn.Module):
    """A network of amortised layers (``self.layers``, in forward order) with a likelihood.

    Subclasses set ``kind`` and ``pointwise_decoder`` and give their layers with :meth:`layer_specs`; the
    last layer is the prediction head, of width ``Dy · likelihood.num_params``.

    Args:
        config: a :class:`~climate_bnnp.config.ModelConfig`; or pass its fields as keyword arguments,
            e.g. ``BNNP(dim_x=1, dim_y=1, hidden_dims=(64, 64))``.
    """

    kind: ClassVar[str]
    pointwise_decoder: ClassVar[bool]

    def __init__(self, config: ModelConfig | None = None, **kwargs) -> None:
        super().__init__()
        if config is None:
            config = ModelConfig(kind=self.kind, **kwargs)
        elif kwargs:
            raise TypeError("pass either a ModelConfig or keyword arguments, not both.")
        self.check_config(config)
        self.config = config
        likelihood = build_likelihood(config)
        specs = self.layer_specs(config.dim_y * likelihood.num_params)
        last = len(specs) - 1
        self.layers = nn.ModuleList(
            self._amortised_layer(spec, i == last, likelihood.num_params) for i, spec in enumerate(specs)
        )
        self.add_deterministic_modules()
        self.likelihood = likelihood  # registered after the other modules: the parameter order is unchanged
        self.set_prior_learnable_fraction(config.prior_learnable_fraction, seed=config.seed)

    # ------------------------------------------------------------------------------- construction
    def check_config(self, config: ModelConfig) -> None:
        """Raise ValueError for a config this architecture cannot build (all are fine here)."""

    def layer_specs(self, out_dim: int) -> list[LayerSpec]:
        """The amortised layers ``(d_in, d_out, input activation)`` in forward order, ending in the head
        of width ``out_dim``."""
        raise NotImplementedError(f"{type(self).__name__} must define layer_specs().")

    def add_deterministic_modules(self) -> None:
        """Register modules other than the amortised layers (none here; BNAM's LayerNorms)."""

    def inference_net(self, d_out: int, final: bool) -> nn.Module:
        """Per-point MLP on ``[x, y]`` giving ``2 d_out`` outputs (``d_out`` at a final layer whose
        pseudo-observations are the true targets)."""
        cfg = self.config
        return MLP(cfg.dim_x + cfg.dim_y, cfg.inf_hidden_dims, d_out if final else 2 * d_out, cfg.activation)

    def _amortised_layer(self, spec: LayerSpec, last: bool, num_params: int) -> AmortisedLinear:
        d_in, d_out, input_activation = spec
        # The true targets are the head's pseudo-observations only when its outputs live in the targets'
        # space (Gaussian means); Bernoulli–Gamma parameters get them from the inference net.
        final = last and num_params == 1
        net = None if (last and self.config.exact_final_layer) else self.inference_net(d_out, final)
        return AmortisedLinear(
            d_in,
            d_out,
            inference_net=net,
            input_activation=input_activation,
            prior_kind=self.config.prior_type,
            final=final,
        )

    # ------------------------------------------------------------------------------- likelihood
    @property
    def likelihood(self) -> Likelihood:
        """The observation model (a submodule; defined on the class so that ``isinstance(model,
        AmortisedModel)`` finds it also where protocols look attributes up statically, Python >= 3.12)."""
        return self._modules["likelihood"]

    def noise_std(self) -> Tensor | None:
        """The likelihood's noise std ``(Dy,)``; None without a single one (Bernoulli–Gamma)."""
        return self.likelihood.noise_std()

    def exact_final_noise_std(self) -> Tensor | None:
        """The noise std ``(Dy,)`` an exact final layer uses as its pseudo-noise; None when the final layer
        learns its pseudo-noise (the only case for likelihoods without a single noise std)."""
        return self.noise_std() if self.config.exact_final_layer else None

    def log_likelihood(self, y: Tensor, f: Tensor, mask: Tensor | None = None) -> Tensor:
        """``Σ_n log p(y_n | f_n)`` over the points where ``mask (B, N)`` is True: ``y (B, N, Dy)`` and
        ``f (S, B, N, Dy · P)`` give ``(S, B)``."""
        values = self.likelihood.log_prob(y, f)  # (S, B, N)
        return (values if mask is None else values * mask.to(values.dtype)).sum(-1)

    def context_log_likelihood(self, out: BNNPOutput, yc: Tensor, mask_c: Tensor | None = None) -> Tensor:
        """Estimate of ``Σ_{n∈c} log p(y_n | W⁽ˢ⁾)`` from a forward pass, ``(S, B)``: the sum over the
        context points ``out.fc`` covers, times the number of chunks (zero without context)."""
        if out.fc is None:
            return out.kl.new_zeros(out.kl.shape)
        index = out.context_index
        mask = None if mask_c is None else mask_c[:, index]
        return out.context_scale * self.log_likelihood(yc[:, index], out.fc, mask)

    # ------------------------------------------------------------------------------- sampling helpers
    def parameter_device(self) -> torch.device:
        """The device of the model's parameters (that of the first layer's prior)."""
        return self.layers[0].prior.mean.device

    def prior_sample(self, num_samples: int, num_tasks: int) -> WeightSample:
        """Weights drawn from the prior (no context), with KL zero."""
        weights = [layer.sample_with_kl(None, num_samples, num_tasks)[0] for layer in self.layers]
        kl = torch.zeros(num_samples, num_tasks, dtype=torch.float64, device=self.parameter_device())
        return WeightSample(weights, kl)

    # ------------------------------------------------------------------------------- prior knob, reports
    def set_prior_learnable_fraction(self, fraction: float, *, seed: int = 0) -> None:
        """Apply the prior-flexibility knob ρ (weights counted in forward order from the input layer);
        see :func:`~climate_bnnp.layers.learnable_weight_masks`."""
        self.config = dataclasses.replace(self.config, prior_learnable_fraction=fraction, seed=seed)
        shapes = [tuple(layer.prior.weight_mask.shape) for layer in self.layers]
        for layer, mask in zip(self.layers, learnable_weight_masks(shapes, fraction, seed=seed), strict=True):
            layer.prior.set_weight_mask(mask)

    def prior_masks(self) -> list[Tensor]:
        """Per amortised layer, the boolean mask of weights whose prior is learnable ``(d_out, d_in + 1)``."""
        return [layer.prior.weight_mask.clone() for layer in self.layers]

    def jitter_report(self) -> dict[str, float]:
        """Jitter statistics summed over the amortised layers since construction (see :class:`JitterLog`)."""
        total = JitterLog()
        for layer in self.layers:
            total.matrices += layer.jitter.matrices
            total.calls += layer.jitter.calls
            total.max_relative = max(total.max_relative, layer.jitter.max_relative)
        return total.as_dict()


def context_size(xc: Tensor | None, num_tasks: int | None) -> tuple[int, int]:
    """``(Nc, B)`` of a context ``xc (B, Nc, Dx)`` or None (then B is ``num_tasks``, which must be given)."""
    if xc is not None:
        return xc.shape[1], xc.shape[0]
    if num_tasks is None:
        raise ValueError("num_tasks is needed when there is no context.")
    return 0, num_tasks
