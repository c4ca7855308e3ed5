"""Meta-training."""

from .loop import fit, resolve_device

__all__ = ["fit", "resolve_device"]
