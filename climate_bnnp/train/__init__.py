"""Meta-training (one process, or data-parallel over processes launched by ``torchrun``)."""

from .distributed import World, current_world, init_distributed, launched_by_torchrun
from .finetune import fine_tune, fine_tuner
from .loop import fit
from .resume import resume_path_for

__all__ = [
    "fine_tune",
    "fine_tuner",
    "fit",
    "resume_path_for",
    "World",
    "current_world",
    "init_distributed",
    "launched_by_torchrun",
]
