"""Observation models p(y | f).

Every likelihood has the same interface: ``num_params`` (network outputs per target dimension, so a model's
output width is ``dim_y · num_params``), ``log_prob(y, f)``, ``sample(f, generator)``, ``mean(f)``,
``variance(f)``, ``prob_positive(f)`` (where defined) and ``noise_std()`` (σ_y, or None without a single
noise std); :class:`Likelihood` names it for type checking. :func:`build_likelihood` makes the one a
:class:`~climate_bnnp.config.ModelConfig` names.
"""

from ..config import ModelConfig
from .base import Likelihood
from .bernoulli_gamma import BernoulliGammaLikelihood
from .gaussian import GaussianLikelihood

__all__ = ["BernoulliGammaLikelihood", "GaussianLikelihood", "Likelihood", "build_likelihood"]


def build_likelihood(config: ModelConfig) -> GaussianLikelihood | BernoulliGammaLikelihood:
    """The likelihood ``config.likelihood`` names, for ``config.dim_y`` target dimensions.

    ``"gaussian"``: :class:`GaussianLikelihood` with ``noise_init``, ``noise_bound``, ``learn_noise`` and
    ``min_noise``; ``"bernoulli_gamma"``: :class:`BernoulliGammaLikelihood` (no parameters of its own).
    """
    kind = config.likelihood
    if kind == "gaussian":
        return GaussianLikelihood(
            config.dim_y,
            config.noise_init,
            bound=config.noise_bound,
            learn=config.learn_noise,
            min_noise=config.min_noise,
        )
    if kind == "bernoulli_gamma":
        return BernoulliGammaLikelihood(config.dim_y)
    raise ValueError(f"likelihood must be 'gaussian' or 'bernoulli_gamma', got {kind!r}.")
