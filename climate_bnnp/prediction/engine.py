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

from ..likelihoods.predictive import LIKELIHOODS as _REGISTRY
from ..likelihoods.predictive import PredictiveLikelihood, get_likelihood
from ..models import MODELS, AmortisedModel

__all__ = [
    "LIKELIHOODS",
    "SUPPORTED_KINDS",
    "check_model",
    "decode_points",
    "model_likelihood",
    "model_device_dtype",
    "noise_std",
    "predictive_params",
    "sample_task_weights",
    "task_seed",
]

_RNG_LOCK = threading.Lock()  # the models draw from torch's global RNG: one seeded draw at a time

SUPPORTED_KINDS = tuple(kind for kind, cls in MODELS.items() if cls.pointwise_decoder)
"""Model kinds :func:`climate_bnnp.predict` supports (their decoders act on each point independently)."""
LIKELIHOODS = tuple(_REGISTRY)
"""Likelihoods :func:`climate_bnnp.predict` summarises (``ModelConfig.likelihood``): every registered one."""


def check_model(model: object) -> None:
    """Refuse models whose predictions at a point depend on the other query points.

    Raises:
        TypeError: not a BNNP-family model (:class:`~climate_bnnp.models.AmortisedModel`), or one whose
            decoder is not point-wise (BNAM: its targets attend to each other, so chunked and station
            predictions would differ from whole-grid predictions).
    """
    if not isinstance(model, AmortisedModel):
        raise TypeError(
            f"predict() needs a model of kind {SUPPORTED_KINDS} (or a Checkpoint / checkpoint path), "
            f"got {type(model).__name__} (kind={getattr(model, 'kind', None)!r})."
        )
    if not model.pointwise_decoder:
        name = type(model).__name__
        raise TypeError(
            f"predict() does not support {name} models: {name}'s target points attend to each other, so a "
            "point's prediction depends on the whole query set and neither chunking nor station targets "
            "would reproduce a whole-grid prediction. Call model(xc, yc, xt) on the full target set "
            f"yourself, or use a model of kind {SUPPORTED_KINDS}."
        )


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's parameters."""
    param = next(model.parameters())
    return param.device, param.dtype


def model_likelihood(model: nn.Module) -> PredictiveLikelihood:
    """The predictive side of the model's likelihood (the registry's entry for ``model.config.likelihood``).

    Raises:
        ValueError: an unregistered likelihood, or more than one target variable (predict() handles Dy = 1).
    """
    likelihood = get_likelihood(getattr(model.config, "likelihood", "gaussian"))
    dim_y = int(model.config.dim_y)
    if dim_y != 1:
        raise ValueError(f"predict() handles one target variable (Dy = 1); this model has Dy = {dim_y}.")
    return likelihood


def noise_std(model: AmortisedModel) -> float | None:
    """Likelihood noise σ_y of the (single) output, in the model's normalised units; None for a likelihood
    whose spread depends on the point (Bernoulli–Gamma)."""
    model_likelihood(model)  # raises for a likelihood or a Dy that predict() does not handle
    std = model.noise_std()
    if std is None:
        return None
    std = std.detach().cpu().double().numpy()  # (Dy,)
    if std.shape != (1,):
        raise ValueError(f"predict() handles one target variable (Dy = 1); this model has Dy = {std.size}.")
    return float(std[0])


def task_seed(seed: int, key: Sequence[object] = ()) -> int:
    """A 63-bit torch seed for one task from the user's seed and the task's coordinate values.

    The seed depends on the coordinate *values* (e.g. the time stamp), not on positions, so predicting a
    subset of the time steps, or the same time step in another call, draws the same weights.

    Args:
        seed: the user's seed.
        key: the task's coordinate values along the extra dims, ordered by dim name so that the order of the
            dims does not matter (e.g. ``(member, np.datetime64(...))`` for dims member and time).
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
    """Network outputs at target points, ``chunk_size`` points at a time, with fixed weights.

    Args:
        model: the model the weights were drawn from.
        weights: output of :func:`sample_task_weights`.
        xt: target inputs ``(Nt, Dx)``.
        chunk_size: target points per decoder call (memory ~ S · chunk_size · max width).

    Returns:
        ``f (S, Nt, P)`` float64 with ``P = Dy · likelihood.num_params`` output columns (Dy = 1): for the
        Gaussian likelihood (``P = 1``) the function samples in the model's normalised target units, for
        the Bernoulli–Gamma likelihood (``P = 3``) ``[logit π | raw k | raw θ]`` (see
        :func:`predictive_params`).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
    device, dtype = model_device_dtype(model)
    num_samples = weights[0].shape[0]
    width = int(model.config.dim_y) * int(model.likelihood.num_params)  # P
    out = np.empty((num_samples, len(xt), width), dtype=np.float64)
    for start in range(0, len(xt), chunk_size):
        x = torch.as_tensor(xt[start : start + chunk_size], dtype=dtype, device=device)[None]  # (1, n, Dx)
        f = model.decode(weights, x)  # (S, 1, n, P)
        out[:, start : start + chunk_size] = f[:, 0].double().cpu().numpy()
    return out


def predictive_params(model: nn.Module, f: np.ndarray) -> dict[str, np.ndarray]:
    """The parameters of the model's likelihood per draw and point, from :func:`decode_points`'s outputs
    ``f (S, N, P)`` (Dy = 1), with the model's own likelihood (e.g. sigmoid, softplus + floors) in float64.

    Returns:
        Parameter name -> ``(S, N)`` (or ``()`` for one shared by every draw and point, e.g. σ_y) float64.
    """
    return {name: v[..., 0] for name, v in model.likelihood.predictive_params(f).items()}
