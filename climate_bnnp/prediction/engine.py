"""The torch side of prediction: seeded weight draws per task, then chunked decoding with those draws.

A *task* here is one time step (more generally, one index of the extra dims) of the user's data: its
observed cells are the context. Weights are sampled once per task, with the torch RNG seeded by
:func:`task_seed`; every target point is then decoded with those same weights, ``chunk_size`` points at a
time. Because a BNNP's (and an AttnBNNP's) decoder acts on each point independently, the value at a point
does not depend on the chunking or on which other points are predicted.

The context is streamed through each amortised layer in chunks of ``context_chunk_size`` points
(within-task minibatching, :meth:`climate_bnnp.models.BNNP.sample_weights`): natural parameters add, so
the posterior is the same for any chunking (up to float64 summation order), and for a BNNP the memory is
bounded by the chunk size. (An AttnBNNP's transformer sees the whole context at once; its memory grows
with the context.)
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "SUPPORTED_KINDS",
    "check_model",
    "decode_points",
    "model_device_dtype",
    "noise_std",
    "sample_task_weights",
    "task_seed",
]

_RNG_LOCK = threading.Lock()  # the models draw from torch's global RNG: one seeded draw at a time

SUPPORTED_KINDS = ("bnnp", "attn_bnnp")
"""Model kinds :func:`climate_bnnp.predict` supports (their decoders act on each point independently)."""


def check_model(model: nn.Module) -> None:
    """Refuse models whose predictions at a point depend on the other query points.

    Raises:
        TypeError: not a BNNP-family model, or a BNAM (its targets attend to each other, so chunked and
            station predictions would differ from whole-grid predictions).
    """
    kind = getattr(model, "kind", None)
    if kind == "bnam":
        raise TypeError(
            "predict() does not support BNAM models: BNAM's target points attend to each other, so a "
            "point's prediction depends on the whole query set and neither chunking nor station targets "
            "would reproduce a whole-grid prediction. Call model(xc, yc, xt) on the full target set "
            f"yourself, or use a model of kind {SUPPORTED_KINDS}."
        )
    if kind not in SUPPORTED_KINDS or not hasattr(model, "sample_weights"):
        raise TypeError(
            f"predict() needs a model of kind {SUPPORTED_KINDS} (or a Checkpoint / checkpoint path), "
            f"got {type(model).__name__} (kind={kind!r})."
        )


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's parameters."""
    param = next(model.parameters())
    return param.device, param.dtype


def noise_std(model: nn.Module) -> float:
    """Likelihood noise σ_y of the (single) output, in the model's normalised units."""
    std = model.likelihood.std().detach().cpu().double().numpy()  # (Dy,)
    if std.shape != (1,):
        raise ValueError(f"predict() handles one target variable (Dy = 1); this model has Dy = {std.size}.")
    return float(std[0])


def task_seed(seed: int, key: Sequence[object] = ()) -> int:
    """A 63-bit torch seed for one task from the user's seed and the task's coordinate values.

    The seed depends on the coordinate *values* (e.g. the time stamp), not on positions, so predicting a
    subset of the time steps, or the same time step in another call, draws the same weights.

    Args:
        seed: the user's seed.
        key: the task's coordinate values along the extra dims (e.g. ``(np.datetime64(...),)``).
    """
    text = repr((int(seed), [str(np.asarray(k)) for k in key])).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def _fork_devices(device: torch.device) -> list:
    return [device] if device.type == "cuda" else []


@torch.no_grad()
def sample_task_weights(
    model: nn.Module,
    xc: np.ndarray | None,
    yc: np.ndarray | None,
    *,
    num_samples: int,
    seed: int,
    context_chunk_size: int | None,
) -> list[Tensor]:
    """Sample S weight sets of one task from the amortised posterior (or the prior without context).

    The global torch RNG is forked, seeded with ``seed``, and restored afterwards; a lock keeps concurrent
    calls (dask's threaded scheduler) from interleaving their draws.

    Args:
        model: a BNNP or AttnBNNP (eval mode).
        xc: context inputs ``(Nc, Dx)`` (normalised features) or None; yc: normalised targets ``(Nc,)``.
        num_samples: S.
        seed: torch seed of this task (see :func:`task_seed`).
        context_chunk_size: within-task minibatch size of the context stream (None: one chunk).

    Returns:
        Per layer, weights ``(S, 1, d_out, d_in + 1)`` (float64).
    """
    device, dtype = model_device_dtype(model)
    with _RNG_LOCK, torch.random.fork_rng(devices=_fork_devices(device)):
        torch.manual_seed(seed)
        if xc is None or len(xc) == 0:
            sample = model.sample_weights(None, None, num_samples=num_samples, num_tasks=1)
        else:
            xc_t = torch.as_tensor(xc, dtype=dtype, device=device)[None]  # (1, Nc, Dx)
            yc_t = torch.as_tensor(yc, dtype=dtype, device=device).reshape(1, -1, 1)  # (1, Nc, 1)
            sample = model.sample_weights(
                xc_t, yc_t, None, num_samples=num_samples, chunk_size=context_chunk_size
            )
    return sample.weights


@torch.no_grad()
def decode_points(model: nn.Module, weights: list[Tensor], xt: np.ndarray, *, chunk_size: int) -> np.ndarray:
    """Function samples at target points, ``chunk_size`` points at a time, with fixed weights.

    Args:
        model: the model the weights were drawn from.
        weights: output of :func:`sample_task_weights`.
        xt: target inputs ``(Nt, Dx)``.
        chunk_size: target points per decoder call (memory ~ S · chunk_size · max width).

    Returns:
        ``f (S, Nt)`` float64, in the model's normalised target units.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
    device, dtype = model_device_dtype(model)
    num_samples = weights[0].shape[0]
    out = np.empty((num_samples, len(xt)), dtype=np.float64)
    for start in range(0, len(xt), chunk_size):
        x = torch.as_tensor(xt[start : start + chunk_size], dtype=dtype, device=device)[None]  # (1, n, Dx)
        f = model.decode(weights, x)  # (S, 1, n, 1)
        out[:, start : start + chunk_size] = f[:, 0, :, 0].double().cpu().numpy()
    return out
