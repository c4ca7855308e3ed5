"""The ``Batch`` container: a batch of tasks as padded tensors with masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

__all__ = ["Batch", "collate"]


@dataclass(frozen=True)
class Batch:
    """Context and target sets of B tasks, zero-padded to common sizes.

    Attributes:
        xc: ``(B, Nc, Dx)``; yc: ``(B, Nc, Dy)``; xt: ``(B, Nt, Dx)``; yt: ``(B, Nt, Dy)``.
        mask_c: ``(B, Nc)`` bool, True at real context points (None: all real).
        mask_t: ``(B, Nt)`` bool, True at real target points (None: all real).
    """

    xc: Tensor
    yc: Tensor
    xt: Tensor
    yt: Tensor
    mask_c: Tensor | None = None
    mask_t: Tensor | None = None

    def __post_init__(self) -> None:
        for name, x, y, mask in (
            ("context", self.xc, self.yc, self.mask_c),
            ("target", self.xt, self.yt, self.mask_t),
        ):
            if x.dim() != 3 or y.dim() != 3:
                raise ValueError(
                    f"{name} tensors must be (B, N, D); got x {tuple(x.shape)} and y {tuple(y.shape)}."
                )
            if x.shape[:2] != y.shape[:2]:
                raise ValueError(
                    f"{name} x and y disagree on (B, N): {tuple(x.shape[:2])} vs {tuple(y.shape[:2])}."
                )
            if mask is not None and tuple(mask.shape) != tuple(x.shape[:2]):
                raise ValueError(f"{name} mask must be {tuple(x.shape[:2])}, got {tuple(mask.shape)}.")
            if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
                raise ValueError(
                    f"{name} tensors hold NaN/inf; drop those points or mask them (and zero-fill them)."
                )
        if self.xc.shape[0] != self.xt.shape[0] or self.xc.shape[-1] != self.xt.shape[-1]:
            raise ValueError(
                f"context and targets disagree on B or Dx: {tuple(self.xc.shape)} vs {tuple(self.xt.shape)}."
            )

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Batch:
        """Move (and cast floating tensors) to ``device``/``dtype``."""

        def move(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        return Batch(**{f.name: move(getattr(self, f.name)) for f in fields(self)})


def _pad(arrays: Sequence[np.ndarray], dim: int) -> tuple[Tensor, Tensor]:
    size = max((len(a) for a in arrays), default=0)
    out = np.zeros((len(arrays), size, dim))
    mask = np.zeros((len(arrays), size), dtype=bool)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
        mask[i, : len(a)] = True
    return torch.from_numpy(out), torch.from_numpy(mask)


def collate(tasks: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> Batch:
    """Pad tasks ``(xc (Nc, Dx), yc (Nc, Dy), xt (Nt, Dx), yt (Nt, Dy))`` into a float64 :class:`Batch`.

    Masks are set only when sizes differ between tasks.
    """
    dim_x, dim_y = tasks[0][0].shape[-1], tasks[0][1].shape[-1]
    xc, mask_c = _pad([t[0] for t in tasks], dim_x)
    yc, _ = _pad([t[1] for t in tasks], dim_y)
    xt, mask_t = _pad([t[2] for t in tasks], dim_x)
    yt, _ = _pad([t[3] for t in tasks], dim_y)
    return Batch(
        xc, yc, xt, yt, None if bool(mask_c.all()) else mask_c, None if bool(mask_t.all()) else mask_t
    )
