"""Meta-training."""

from .loop import fit, resolve_device
from .resume import resume_path_for

__all__ = ["fit", "resolve_device", "resume_path_for"]
