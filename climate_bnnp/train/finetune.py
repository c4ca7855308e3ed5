"""Test-time fine-tuning: adapt a meta-trained model to one task's context with the single-task ELBO.

The paper's ERA5 protocol (the reference code): before predicting a test task, the meta-trained BNNP's
inference networks are trained on that task's context alone by maximising the ELBO
``E_q[log p(y_c | W)] − KL[q(W | D_c) ‖ p(W)]``, with the meta-learned prior and noise kept fixed. The
amortised posterior is then the starting point of a per-task variational fit.

:func:`fine_tuner` makes the ``adapt`` hook of :func:`climate_bnnp.predict`, so prediction never imports
training code.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..objectives import elbo
from ..tasks import Batch

__all__ = ["fine_tune", "fine_tuner"]


def fine_tune(
    model: nn.Module,
    xc: np.ndarray,
    yc: np.ndarray,
    *,
    steps: int,
    lr: float = 1e-3,
    num_samples: int = 8,
    chunk_size: int | None = None,
    seed: int = 0,
) -> nn.Module:
    """A copy of ``model`` whose inference networks maximise one task's ELBO (prior and noise fixed).

    Args:
        model: a BNNP-family model. xc: context inputs ``(Nc, Dx)``; yc: context targets ``(Nc,)`` or
            ``(Nc, Dy)`` in model units.
        steps: Adam steps (0: the model itself, unchanged). lr: Adam learning rate.
        num_samples: Monte-Carlo weight samples per step. chunk_size: within-task minibatch of the context.
        seed: seeds the Monte-Carlo draws (the global torch RNG is restored afterwards).

    Raises:
        ValueError: negative steps or an empty context.
    """
    if steps < 0:
        raise ValueError(f"fine-tuning steps must be >= 0, got {steps}.")
    if steps == 0:
        return model
    if len(xc) == 0:
        raise ValueError("fine-tuning needs a context; this task has none (pass steps=0 for the prior).")
    tuned = copy.deepcopy(model).train()
    param = next(tuned.parameters())
    x = torch.as_tensor(np.asarray(xc), dtype=param.dtype, device=param.device)[None]  # (1, Nc, Dx)
    y = torch.as_tensor(np.asarray(yc), dtype=param.dtype, device=param.device).reshape(1, len(xc), -1)
    batch = Batch(xc=x, yc=y, xt=x[:, :1], yt=y[:, :1])  # the ELBO reads only the context
    fixed = lambda name: ".prior." in name or name.startswith("likelihood.")  # noqa: E731 (meta-learned, kept)
    trainable = [p for name, p in tuned.named_parameters() if not fixed(name)]
    if not trainable:
        raise ValueError(f"{type(model).__name__} has no inference-network parameters to fine-tune.")
    for p in tuned.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(trainable, lr=lr)
    with torch.random.fork_rng(devices=[param.device] if param.device.type == "cuda" else []):
        torch.manual_seed(seed)
        for _ in range(steps):
            loss = -elbo(tuned, batch, num_samples=num_samples, chunk_size=chunk_size).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return tuned.eval()


def fine_tuner(**options) -> Callable[[nn.Module, np.ndarray, np.ndarray, int], nn.Module]:
    """The ``adapt`` hook of :func:`climate_bnnp.predict`: ``(model, xc, yc, seed) -> fine-tuned model``.

    Example: ``climate_bnnp.predict(ckpt, ds, adapt=fine_tuner(steps=200, lr=1e-3))``.
    """

    def adapt(model: nn.Module, xc: np.ndarray, yc: np.ndarray, seed: int) -> nn.Module:
        return fine_tune(model, xc, yc, seed=seed, **options)

    return adapt
