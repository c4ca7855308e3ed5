"""What every model built from amortised layers shares: the prior-flexibility knob and jitter reports."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from ..layers import JitterLog, learnable_weight_masks

__all__ = ["AmortisedLayersMixin"]


class AmortisedLayersMixin:
    """For an ``nn.Module`` with ``config`` and ``layers`` (its amortised layers in forward order)."""

    config: object
    layers: nn.ModuleList
    likelihood: nn.Module

    def exact_final_noise_std(self) -> Tensor | None:
        """The likelihood noise std ``(Dy,)`` that an exact final layer uses as its pseudo-noise; None when
        the final layer learns its pseudo-noise (the only case for likelihoods without a single noise std,
        such as Bernoulli–Gamma)."""
        return self.likelihood.std() if self.config.exact_final_layer else None

    def parameter_device(self) -> torch.device:
        """The device of the model's parameters (that of the first layer's prior)."""
        return self.layers[0].prior.mean.device

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
