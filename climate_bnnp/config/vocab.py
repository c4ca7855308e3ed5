"""The names other packages share with the config: likelihoods, target transforms, sources, features, ...

Each tuple is the one list of accepted values of a config field; the packages that implement the names
(``likelihoods``, ``data``, ``layers``, ``objectives``, ``tasks``) import them from here or are tested against
them, so a name cannot be accepted by the config and unknown to the code, or the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "BASELINE_TP_TRANSFORMS",
    "COVARIATES",
    "DTYPES",
    "EVAL_SPLITS",
    "FEATURE_WIDTHS",
    "LIKELIHOODS",
    "MODEL_KINDS",
    "NONNEGATIVE_LIKELIHOODS",
    "CONJUGATE_LIKELIHOODS",
    "OBJECTIVES",
    "PRIOR_TYPES",
    "SAMPLE_TIME_STEPS",
    "SOURCES",
    "TASK_FAMILIES",
    "TP_PERIODS",
    "TP_TRANSFORMS",
    "ZERO_PRESERVING_TP_TRANSFORMS",
    "feature_dim",
]

MODEL_KINDS = ("bnnp", "attn_bnnp", "bnam")
"""``model.kind``: the keys of :data:`climate_bnnp.models.MODELS`."""
ACTIVATIONS = ("relu", "tanh", "silu", "gelu", "identity")
"""``model.activation``: the keys of :data:`climate_bnnp.layers.networks.ACTIVATIONS`."""
PRIOR_TYPES = ("full", "diagonal")
"""Prior covariance structures of the amortised layers."""
CONTEXT_CHANNELS = ("density", "value", "wet")
"""``model.prior_type``: unit-wise full covariance or diagonal."""
LIKELIHOODS = ("gaussian", "bernoulli_gamma")
"""``model.likelihood``: the observation models of :mod:`climate_bnnp.likelihoods`."""
NONNEGATIVE_LIKELIHOODS = ("bernoulli_gamma",)
"""Likelihoods of a target >= 0 with exact zeros: they need a target transform that maps 0 to 0."""
CONJUGATE_LIKELIHOODS = ("gaussian",)
"""Likelihoods whose final BNN layer can be the exact (conjugate) Bayesian linear regression
(``model.exact_final_layer``)."""
OBJECTIVES = ("pp_avi", "elbo", "npml", "npvi")
"""``train.objective``: the keys of :data:`climate_bnnp.objectives.OBJECTIVES`."""
DTYPES = ("float64", "float32", "mixed")
"""``train.dtype`` (``mixed`` is stored as ``float32``)."""
BACKENDS = ("auto", "gloo", "nccl")
"""``train.distributed.backend``."""
TASK_FAMILIES = ("sawtooth", "gp", "bnn", "heaviside", "era5", "mnist")
"""``tasks.family``: the toy families of :data:`climate_bnnp.tasks.FAMILIES`, plus ``era5`` and ``mnist``."""
SOURCES = ("sample", "cds")
"""``data.source``: the bundled ERA5 sample or a CDS download."""
SAMPLE_TIME_STEPS = 24
"""Time steps of the bundled ERA5 sample (``data.source: sample``): the splits must leave a training set."""
TP_TRANSFORMS = ("none", "log1p", "scale")
"""``data.tp_transform``: the target transforms of :class:`climate_bnnp.data.Normaliser`."""
ZERO_PRESERVING_TP_TRANSFORMS = ("scale",)
"""Target transforms that map 0 mm to exactly 0 in model units (``tp / rms``, not centred)."""
TP_PERIODS = ("consistent", "raw_mixed_as_paper")
"""``data.tp_periods``: ERA5-Land precipitation periods."""
BASELINE_TP_TRANSFORMS = ("log1p", "none", "model")
"""``data.baseline_tp_transform``."""
EVAL_SPLITS = ("test", "val")
"""``data.eval_split``."""

FEATURE_WIDTHS = {
    "lon": 1,
    "lat": 1,
    "xyz": 3,
    "sincos_lon": 2,
    "rff3": 24,
    "rff10": 24,
    "t2m": 1,
    "u10": 1,
    "v10": 1,
    "msl": 1,
    "hour": 2,
    "season": 2,
}
"""``data.features``: every input feature and its number of columns (see :mod:`climate_bnnp.data.schema`)."""

COVARIATES = ("t2m", "u10", "v10", "msl")
"""Features read from data variables (physical units, z-scored with the normaliser)."""


def feature_dim(features: Sequence[str]) -> int:
    """Input dimension Dx of a feature list.

    Raises:
        ValueError: unknown, repeated or no feature names.
    """
    unknown = [f for f in features if f not in FEATURE_WIDTHS]
    if unknown or len(set(features)) != len(features) or not features:
        raise ValueError(
            f"features must be distinct names from {sorted(FEATURE_WIDTHS)}, got {list(features)}."
        )
    return sum(FEATURE_WIDTHS[f] for f in features)
