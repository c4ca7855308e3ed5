"""Typed, frozen configuration: the sections, one YAML engine, one rule per kind of field, shared names.

* :mod:`.sections`: the frozen, keyword-only section dataclasses (:class:`ExperimentConfig` and its
  ``model``, ``tasks``, ``train``, ``data`` sections) and the rules across their fields;
* :mod:`.engine`: YAML <-> dataclasses (:func:`load_config` rejects unknown keys and bad values; a user's
  file is applied over the code's defaults, never over another file);
* :mod:`.rules`: one validation rule per kind of field (counts, rates, noise floors, fractions, names);
* :mod:`.vocab`: the names other packages share (likelihoods, target transforms, sources, features).

The config travels inside every checkpoint.
"""

from .engine import (
    config_changes,
    config_from_dict,
    config_to_dict,
    load_config,
    merge_config,
    read_yaml,
    resolve_workflow_config,
)
from .rules import DEVICE_PATTERN, ConfigError
from .sections import (
    ContextFeaturesConfig,
    DataConfig,
    DistributedConfig,
    ExperimentConfig,
    MnistConfig,
    ModelConfig,
    TaskConfig,
    TrainConfig,
)
from .vocab import (
    ACTIVATIONS,
    COVARIATES,
    FEATURE_WIDTHS,
    LIKELIHOODS,
    SOURCES,
    TP_TRANSFORMS,
    feature_dim,
)

__all__ = [
    "ContextFeaturesConfig",
    "ModelConfig",
    "TaskConfig",
    "MnistConfig",
    "TrainConfig",
    "DistributedConfig",
    "DataConfig",
    "ExperimentConfig",
    "ConfigError",
    "DEVICE_PATTERN",
    "load_config",
    "read_yaml",
    "config_from_dict",
    "config_to_dict",
    "merge_config",
    "config_changes",
    "resolve_workflow_config",
    "ACTIVATIONS",
    "COVARIATES",
    "FEATURE_WIDTHS",
    "LIKELIHOODS",
    "SOURCES",
    "TP_TRANSFORMS",
    "feature_dim",
]
