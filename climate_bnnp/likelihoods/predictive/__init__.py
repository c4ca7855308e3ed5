"""The registry of observation models by the name ``ModelConfig.likelihood`` selects, and their predictive
side (numpy/scipy only, no torch: :mod:`climate_bnnp.metrics` uses it).

Adding a likelihood: write its predictive class (a :class:`PredictiveLikelihood` in a module here) and its
torch training class (in :mod:`climate_bnnp.likelihoods`, named by the class's ``training``), then add the
predictive class to :data:`LIKELIHOODS` below. :func:`get_likelihood` is the one place a likelihood's name is
looked up; everything else asks the object it returns.
"""

from __future__ import annotations

from .base import Params, PredictiveLikelihood
from .bernoulli_gamma import BernoulliGamma
from .gaussian import Gaussian

__all__ = ["LIKELIHOODS", "BernoulliGamma", "Gaussian", "Params", "PredictiveLikelihood", "get_likelihood"]

LIKELIHOODS: dict[str, PredictiveLikelihood] = {lik.name: lik for lik in (Gaussian(), BernoulliGamma())}
"""Registered likelihoods by name (the values of ``ModelConfig.likelihood``)."""


def get_likelihood(name: str) -> PredictiveLikelihood:
    """The registered likelihood called ``name``.

    Raises:
        ValueError: no likelihood of that name is registered.
    """
    try:
        return LIKELIHOODS[str(name)]
    except KeyError:
        raise ValueError(
            f"unknown likelihood {name!r}; the registered likelihoods are {sorted(LIKELIHOODS)} "
            "(climate_bnnp.likelihoods.predictive.LIKELIHOODS)."
        ) from None
