"""Crash-safe training: where the periodic resume state lives and how a run recognises its own.

A run writes its resume state every ``checkpoint_every`` steps to a file *next to* its checkpoint that is
not the checkpoint (``learned.pt`` -> ``learned.resume.pt``): workflow managers delete a failed job's
declared outputs (Snakemake does, after ``kill -9`` too, on ``--rerun-incomplete``), but not this file.
The state carries a fingerprint of everything that determines the run (train and model configs, the
experiment and the data's schema); a rerun with a different fingerprint starts afresh instead of
continuing someone else's training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["resume_path_for", "run_fingerprint", "jitter_state", "load_jitter_state"]


def resume_path_for(checkpoint_path: str | Path) -> Path:
    """The resume file of a checkpoint: ``dir/name.pt`` -> ``dir/name.resume.pt``."""
    path = Path(checkpoint_path)
    return path.with_name(f"{path.stem}.resume{path.suffix or '.pt'}")


def run_fingerprint(**parts: Any) -> str:
    """SHA-256 of the plain-data ``parts`` (JSON with sorted keys; tuples and lists alike)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _jitter_logs(model: nn.Module) -> list[Any]:
    """Every module's ``jitter`` counter (a dataclass), in module order."""
    logs = [getattr(m, "jitter", None) for m in model.modules()]
    return [log for log in logs if dataclasses.is_dataclass(log)]


def jitter_state(model: nn.Module) -> list[dict[str, float]]:
    """The jitter counters as plain data (they are not in the state dict but appear in the log)."""
    return [dataclasses.asdict(log) for log in _jitter_logs(model)]


def load_jitter_state(model: nn.Module, state: list[dict[str, float]]) -> None:
    logs = _jitter_logs(model)
    if len(logs) != len(state):
        raise ValueError(f"resume state has {len(state)} jitter counters, the model {len(logs)}.")
    for log, values in zip(logs, state, strict=True):
        for key, value in values.items():
            setattr(log, key, value)
