"""Prediction from an ``xr.Dataset``: :func:`predict` (exported as ``climate_bnnp.predict``).

This subpackage is deliberately not called ``predict`` so that ``climate_bnnp.predict`` is the function.
Large grids are streamed: the context through within-task minibatches, the targets in chunks decoded with
one set of weight draws per task (see :mod:`.engine` and :mod:`.graph`).
"""

from .api import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONTEXT_CHUNK_SIZE,
    DEFAULT_NUM_SAMPLES,
    DEFAULT_QUANTILES,
    predict,
)
from .bernoulli_gamma import bernoulli_gamma_draws, summarise_bernoulli_gamma
from .blocks import RANGE_SIGMAS
from .engine import (
    LIKELIHOODS,
    SUPPORTED_KINDS,
    bernoulli_gamma_params,
    decode_points,
    likelihood_kind,
    sample_task_weights,
    task_seed,
)
from .gaussian import gaussian_prediction
from .graph import PredictProgress
from .inputs import INTERPOLATION_METHODS
from .summary import cell_keys, standard_normal_at, summarise, uniform_at

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONTEXT_CHUNK_SIZE",
    "DEFAULT_NUM_SAMPLES",
    "DEFAULT_QUANTILES",
    "INTERPOLATION_METHODS",
    "LIKELIHOODS",
    "PredictProgress",
    "RANGE_SIGMAS",
    "SUPPORTED_KINDS",
    "bernoulli_gamma_draws",
    "bernoulli_gamma_params",
    "cell_keys",
    "decode_points",
    "gaussian_prediction",
    "likelihood_kind",
    "predict",
    "sample_task_weights",
    "standard_normal_at",
    "summarise",
    "summarise_bernoulli_gamma",
    "task_seed",
    "uniform_at",
]
