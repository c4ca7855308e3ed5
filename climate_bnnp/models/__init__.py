"""BNNP-family models (torch only): tensors in, function samples out."""

from ..config import ModelConfig
from .bnnp import BNNP, BNNPOutput, WeightSample

__all__ = ["BNNP", "BNNPOutput", "WeightSample", "MODELS", "build_model"]

MODELS: dict[str, type] = {"bnnp": BNNP}


def build_model(config: ModelConfig):
    """Instantiate the model class named by ``config.kind``."""
    try:
        cls = MODELS[config.kind]
    except KeyError:
        raise ValueError(f"unknown model kind {config.kind!r}; available: {sorted(MODELS)}.") from None
    return cls(config)
