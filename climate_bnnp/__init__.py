"""climate_bnnp: probabilistic geospatial prediction with meta-learned BNN priors.

Shape convention (used in every docstring and shape comment of the package):

* context inputs ``xc (B, Nc, Dx)``, context outputs ``yc (B, Nc, Dy)``;
* target inputs ``xt (B, Nt, Dx)``, target outputs ``yt (B, Nt, Dy)``;
* masks ``mask_c (B, Nc)`` / ``mask_t (B, Nt)`` (bool, ``True`` = real point): tasks of different
  sizes in one batch are zero-padded to a common size and masked;
* Monte-Carlo samples lead: predictions are ``(S, B, Nt, Dy)``, per-task quantities ``(S, B)``;
* layer weights are ``(S, B, d_out, d_in + 1)`` (the last column is the bias).
"""

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names and the module that defines each. Loaded lazily, so that the torch-free parts
# (climate_bnnp.data, .metrics, .plot) never import torch.
_EXPORTS = {
    "AttnBNNP": "climate_bnnp.models",
    "BNAM": "climate_bnnp.models",
    "BNNP": "climate_bnnp.models",
    "predict": "climate_bnnp.prediction",
    "ExperimentConfig": "climate_bnnp.config",
    "ModelConfig": "climate_bnnp.config",
    "TaskConfig": "climate_bnnp.config",
    "TrainConfig": "climate_bnnp.config",
    "load_config": "climate_bnnp.config",
    "load_checkpoint": "climate_bnnp.checkpoint",
    "save_checkpoint": "climate_bnnp.checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'climate_bnnp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
