"""BNNP-family models (torch only): tensors in, function samples out."""

from ..config import ModelConfig
from .attn_bnnp import AttnBNNP
from .base import AmortisedModel, AmortisedNetwork, BNNPOutput, TaskWeights, WeightSample
from .bnam import BNAM
from .bnnp import BNNP

__all__ = [
    "AmortisedModel",
    "AmortisedNetwork",
    "AttnBNNP",
    "BNAM",
    "BNNP",
    "BNNPOutput",
    "TaskWeights",
    "WeightSample",
    "MODELS",
    "build_model",
]

MODELS: dict[str, type[AmortisedNetwork]] = {"bnnp": BNNP, "attn_bnnp": AttnBNNP, "bnam": BNAM}


def build_model(config: ModelConfig) -> AmortisedNetwork:
    """Instantiate the model class named by ``config.kind``."""
    try:
        cls = MODELS[config.kind]
    except KeyError:
        raise ValueError(f"unknown model kind {config.kind!r}; available: {sorted(MODELS)}.") from None
    return cls(config)
