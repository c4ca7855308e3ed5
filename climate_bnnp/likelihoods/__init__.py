"""Observation models p(y | f): one home per likelihood, for training (torch) and prediction/scoring (numpy).

Each likelihood has a torch training side in this package (``num_params`` network outputs per target
dimension, so a model's output width is ``dim_y · num_params``; ``log_prob(y, f)``, ``sample(f, generator)``,
``mean(f)``, ``variance(f)``, ``prob_positive(f)`` where defined, ``noise_std()``, and
``predictive_params(f)``) and a torch-free predictive side in :mod:`.predictive` (log density, CDF, quantiles,
draws, moments, the variables of a prediction), registered by the name ``ModelConfig.likelihood`` selects.
:func:`build_likelihood` makes the training side a :class:`~climate_bnnp.config.ModelConfig` names;
:func:`get_likelihood` returns a predictive side by name.

The torch names are loaded lazily, so importing the predictive side (as :mod:`climate_bnnp.metrics` does)
never imports torch.
"""

import importlib
from typing import Any

from .predictive import LIKELIHOODS, BernoulliGamma, Gaussian, PredictiveLikelihood, get_likelihood

_TORCH_EXPORTS = {
    "BernoulliGammaLikelihood": "climate_bnnp.likelihoods.bernoulli_gamma",
    "GaussianLikelihood": "climate_bnnp.likelihoods.gaussian",
    "Likelihood": "climate_bnnp.likelihoods.base",
    "build_likelihood": "climate_bnnp.likelihoods.base",
}

__all__ = [
    "LIKELIHOODS",
    "BernoulliGamma",
    "BernoulliGammaLikelihood",
    "Gaussian",
    "GaussianLikelihood",
    "Likelihood",
    "PredictiveLikelihood",
    "build_likelihood",
    "get_likelihood",
]


def __getattr__(name: str) -> Any:
    if name in _TORCH_EXPORTS:
        return getattr(importlib.import_module(_TORCH_EXPORTS[name]), name)
    raise AttributeError(f"module 'climate_bnnp.likelihoods' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
