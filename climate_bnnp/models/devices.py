"""Where models run: one reading of the device names the configs and ``predict`` accept."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(name: str | torch.device, *, where: str = "device") -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available) as a device that exists here.

    Raises:
        ValueError: an unknown name, or CUDA requested where there is none; ``where`` names the setting.
    """
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"{where}={name!r}: {err}; expected 'cpu', 'cuda', 'cuda:N' or 'auto'.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{where}={name!r}: CUDA is not available here; use 'cpu' or 'auto'.")
    return device
