"""Meta-training (one process, or data-parallel over processes launched by ``torchrun``)."""

from .distributed import World, current_world, init_distributed, launched_by_torchrun
from .finetune import fine_tune, fine_tuner
from .loop import fit, resolve_device
from .resume import resume_path_for

__all__ = [
    "fine_tune",
    "fine_tuner",
    "fit",
    "resolve_device",
    "resume_path_for",
    "World",
    "current_world",
    "init_distributed",
    "launched_by_torchrun",
]
