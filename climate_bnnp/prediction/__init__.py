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
from .blocks import RANGE_SIGMAS
from .engine import LIKELIHOODS, SUPPORTED_KINDS
from .graph import PredictProgress
from .inputs import INTERPOLATION_METHODS

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
    "predict",
]
