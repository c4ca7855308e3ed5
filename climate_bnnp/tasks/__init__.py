"""The bridge from data to torch: task containers, samplers and task families."""

from .batch import Batch, collate
from .sampler import TaskSampler, TaskSource, split_context_target
from .toy import FAMILIES, exact_gp_predictive, family_source

__all__ = [
    "Batch",
    "collate",
    "TaskSampler",
    "TaskSource",
    "split_context_target",
    "FAMILIES",
    "exact_gp_predictive",
    "family_source",
]
