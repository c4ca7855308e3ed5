"""Checkpoints: model weights, config, input schema, optimiser and RNG state — data, never code.

A checkpoint is one ``torch.save`` file of tensors and plain Python data (dicts, lists, str, numbers),
loaded with ``torch.load(..., weights_only=True)``: nothing is unpickled that could run code. The model
config travels inside, so :func:`load_checkpoint` rebuilds the model from the file alone (the ρ masks are
buffers of the model's state); for models trained on ERA5 tasks the :class:`~climate_bnnp.data.InputSchema`
travels too, so :func:`climate_bnnp.predict` builds the model's inputs from the file alone.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import ModelConfig, config_from_dict, config_to_dict
from .data import InputSchema, atomic_write
from .models import build_model

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "read_checkpoint_state", "file_sha256"]

FORMAT = "climate_bnnp.checkpoint/2"
_EARLIER_FORMATS = ("climate_bnnp.checkpoint/1",)
_UNREADABLE = (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, IndexError, KeyError, struct.error)
"""What ``torch.load(weights_only=True)`` raises on a truncated, corrupt or code-carrying file."""


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        model: the rebuilt model (eval mode, on CPU unless ``map_location`` says otherwise).
        config: the model's :class:`ModelConfig`.
        schema: the :class:`~climate_bnnp.data.InputSchema` of its inputs (None for non-ERA5 models).
        experiment: the full experiment config as plain data (or None).
        state: the raw dictionary (optimiser, scheduler, RNG states, step, metadata).
        path: the file it came from; sha256: its hash (for provenance).
    """

    model: nn.Module
    config: ModelConfig
    schema: InputSchema | None
    experiment: dict | None
    state: dict[str, Any]
    path: Path
    sha256: str


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    schema: InputSchema | dict | None = None,
    experiment: dict | None = None,
    **state: Any,
) -> Path:
    """Atomically write a checkpoint (temporary file in the same folder, then rename).

    Args:
        path: destination file.
        model: a model with a ``config`` attribute (:class:`ModelConfig`).
        schema: the input schema (or its ``to_dict()``) for models trained on ERA5 tasks.
        experiment: plain-data experiment config.
        **state: further plain data or tensors (optimiser/scheduler state dicts, RNG states, step, ...).
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "model_config": config_to_dict(model.config),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "input_schema": schema.to_dict() if isinstance(schema, InputSchema) else schema,
        "experiment": experiment,
        **state,
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))
    return path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checkpoint_state(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw dictionary of a checkpoint (or resume) file, loaded without arbitrary unpickling.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a climate_bnnp checkpoint of this format, or cannot be unpickled safely
            (truncated, corrupt, or carrying code).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train a model first (e.g. `snakemake all`).")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except _UNREADABLE as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [""]
        detail = next((line for line in lines if "GLOBAL" in line), lines[0])[:200]
        raise ValueError(
            f"{path} cannot be loaded as a checkpoint: expected tensors and plain data only, got a file that "
            f"is truncated, corrupt or carries objects (code) that weights_only loading refuses "
            f"({type(err).__name__}: {detail}). Do not load it with "
            "weights_only=False unless you trust its origin; retrain or re-save it with save_checkpoint()."
        ) from err
    found = state.get("format") if isinstance(state, dict) else None
    if found in _EARLIER_FORMATS:
        raise ValueError(
            f"{path} is a checkpoint of the earlier format {found!r}, which records no input schema (feature "
            f"columns, coordinate statistics, units, target period); this version reads {FORMAT!r}. Retrain "
            "it with this version (e.g. `snakemake all` reruns the training)."
        )
    if found != FORMAT:
        raise ValueError(
            f"{path} is not a climate_bnnp checkpoint (expected format {FORMAT!r}, got {found!r})."
        )
    return state


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild model, config and normaliser from a checkpoint file without arbitrary unpickling.

    Raises:
        FileNotFoundError, ValueError: as :func:`read_checkpoint_state`.
    """
    path = Path(path)
    state = read_checkpoint_state(path, map_location=map_location)
    config = config_from_dict(ModelConfig, state["model_config"], where=f"{path}:model_config")
    model = build_model(config)
    dtype = next(iter(state["model_state"].values())).dtype
    model.to(dtype=dtype)
    model.load_state_dict(state["model_state"])
    model.eval()
    schema = state.get("input_schema")
    schema = None if schema is None else InputSchema.from_dict(schema, where=f"{path}:input_schema")
    return Checkpoint(model, config, schema, state.get("experiment"), state, path, file_sha256(path))
