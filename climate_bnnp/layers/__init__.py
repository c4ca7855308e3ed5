"""Torch building blocks: priors, the amortised linear layer, Gaussian algebra, inference networks."""

from .amortised import AmortisedLinear, ContextTerms, LayerPosterior, NaturalParams, accumulate_natural
from .context_features import ContextFeatures, ContextSet, context_feature_width
from .context_space import context_route_cheaper, context_sample_with_kl, float32_suffices
from .gaussian import (
    JitterLog,
    cholesky_with_inverse,
    gaussian_kl,
    lower_inverse,
    robust_cholesky,
    sample_from_precision,
)
from .networks import MLP, activation
from .priors import UnitwisePrior, learnable_weight_masks
from .sample_kl import sample_with_kl

__all__ = [
    "AmortisedLinear",
    "ContextTerms",
    "LayerPosterior",
    "NaturalParams",
    "accumulate_natural",
    "ContextFeatures",
    "ContextSet",
    "context_feature_width",
    "context_route_cheaper",
    "context_sample_with_kl",
    "float32_suffices",
    "JitterLog",
    "cholesky_with_inverse",
    "gaussian_kl",
    "lower_inverse",
    "robust_cholesky",
    "sample_from_precision",
    "sample_with_kl",
    "MLP",
    "activation",
    "UnitwisePrior",
    "learnable_weight_masks",
]
