"""climate_bnnp: probabilistic geospatial prediction with meta-learned BNN priors.

Shape convention (used in every docstring and shape comment of the package):

* context inputs ``xc (B, Nc, Dx)``, context outputs ``yc (B, Nc, Dy)``;
* target inputs ``xt (B, Nt, Dx)``, target outputs ``yt (B, Nt, Dy)``;
* masks ``mask_c (B, Nc)`` / ``mask_t (B, Nt)`` (bool, ``True`` = real point): tasks of different
  sizes in one batch are zero-padded to a common size and masked;
* Monte-Carlo samples lead: predictions are ``(S, B, Nt, Dy)``, per-task quantities ``(S, B)``;
* layer weights are ``(S, B, d_out, d_in + 1)`` (the last column is the bias).
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .config import ExperimentConfig, ModelConfig, TaskConfig, TrainConfig, load_config
from .models import BNAM, BNNP, AttnBNNP

__version__ = "0.1.0"


def __getattr__(name: str):
    """Lazy exports: ``climate_bnnp.predict`` (imports xarray/dask only when first used)."""
    if name == "predict":
        from .prediction import predict

        return predict
    raise AttributeError(f"module 'climate_bnnp' has no attribute {name!r}")

__all__ = [
    "AttnBNNP",
    "BNAM",
    "BNNP",
    "ExperimentConfig",
    "ModelConfig",
    "TaskConfig",
    "TrainConfig",
    "load_checkpoint",
    "load_config",
    "predict",
    "save_checkpoint",
]
