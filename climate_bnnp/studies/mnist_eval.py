"""MNIST image completion: test log-likelihood per target pixel, and the arrays behind the figures.

Protocol (per test image and context fraction ``f``): ``⌊f · 784⌋`` random context pixels, *all* other
pixels are targets (:func:`~climate_bnnp.tasks.mnist.completion_split`, seeded per fraction). With ``S``
weight draws ``W⁽ˢ⁾ ~ q(W | D_c)`` and the Gaussian likelihood (σ_y ≥ ``min_noise``) two per-pixel scores:

* ``marginal``: ``1/Nt Σ_t log 1/S Σ_s N(y_t; f⁽ˢ⁾(x_t), σ_y²)`` — mean of per-pixel marginal predictive log
  densities, the quantity factorised NPs (e.g. the ConvCNP's ≈3.35 nats/pixel) report;
* ``joint``: ``1/Nt log 1/S Σ_s Π_t N(y_t; f⁽ˢ⁾(x_t), σ_y²)`` — the joint predictive of the whole completion
  per pixel. Neither bounds the other in general (draws whose errors agree across pixels make the joint
  larger); with the same draws ``joint ≤ marginal + log S``, with equality of the two at ``S = 1``.

Both are reported as mean ± standard error over test images (higher is better; NLL = −value).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..tasks import collate
from ..tasks.mnist import completion_split, pixel_grid

__all__ = [
    "CONTEXT_FRACTIONS",
    "completion_log_likelihood",
    "prior_images",
    "completion_images",
    "superres_images",
]

CONTEXT_FRACTIONS = (0.05, 0.1, 0.2, 0.5)


def _mean_se(values: np.ndarray) -> dict[str, float]:
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
    return {"mean": float(values.mean()), "se": se, "n": int(len(values))}


@torch.no_grad()
def completion_log_likelihood(
    model,
    images: np.ndarray,
    *,
    fractions: tuple[float, ...] = CONTEXT_FRACTIONS,
    num_samples: int = 32,
    batch_size: int = 8,
    seed: int = 0,
) -> dict[str, dict]:
    """Per-pixel completion log-likelihoods on ``images (N, H, W)`` uint8, for each context fraction.

    Returns:
        ``{str(fraction): {"marginal": {mean, se, n}, "joint": {mean, se, n}, "num_context": Nc}}``.
    """
    model.eval()
    dtype = next(model.parameters()).dtype
    results = {}
    for k, fraction in enumerate(fractions):
        rng = np.random.default_rng([seed, k])
        tasks = [completion_split(image, fraction, rng) for image in images]  # equal Nc, Nt for all images
        marginal, joint = [], []
        for start in range(0, len(tasks), batch_size):
            batch = collate(tasks[start : start + batch_size]).to(dtype=dtype)
            out = model(batch.xc, batch.yc, batch.xt, mask_c=batch.mask_c, num_samples=num_samples)
            ll = model.likelihood.log_prob(batch.yt, out.ft).double()  # (S, B, Nt)
            nt = ll.shape[-1]
            marginal.append((torch.logsumexp(ll, 0) - math.log(num_samples)).mean(-1))  # (B,)
            joint.append((torch.logsumexp(ll.sum(-1), 0) - math.log(num_samples)) / nt)  # (B,)
        results[str(fraction)] = {
            "marginal": _mean_se(torch.cat(marginal).numpy()),
            "joint": _mean_se(torch.cat(joint).numpy()),
            "num_context": int(tasks[0][0].shape[0]),
        }
    return results


def _dtype(model) -> torch.dtype:
    return next(model.parameters()).dtype


@torch.no_grad()
def prior_images(model, num: int = 16, size: int = 28) -> np.ndarray:
    """Prior function draws on the ``size × size`` grid, ``(num, size, size)`` (no context)."""
    model.eval()
    grid = torch.from_numpy(pixel_grid(size, size)).to(_dtype(model))[None]  # (1, size², 2)
    out = model(None, None, grid, num_samples=num)
    return out.ft[:, 0, :, 0].reshape(num, size, size).cpu().numpy()


@torch.no_grad()
def completion_images(
    model, image: np.ndarray, fraction: float, *, num_samples: int = 3, seed: int = 0
) -> dict[str, np.ndarray]:
    """Context mask, predictive mean (over 32 draws) and ``num_samples`` draws of one completion (28 × 28)."""
    model.eval()
    rng = np.random.default_rng(seed)
    h, w = image.shape
    perm = rng.permutation(h * w)
    nc = max(1, int(np.floor(fraction * h * w)))
    grid = pixel_grid(h, w)
    flat = image.reshape(-1).astype(np.float64) / 255.0
    dtype = _dtype(model)
    xc = torch.from_numpy(grid[perm[:nc]]).to(dtype)[None]  # (1, Nc, 2)
    yc = torch.from_numpy(flat[perm[:nc], None]).to(dtype)[None]  # (1, Nc, 1)
    xt = torch.from_numpy(grid).to(dtype)[None]  # (1, H W, 2): every pixel is queried
    ft = model(xc, yc, xt, num_samples=max(32, num_samples)).ft[:, 0, :, 0].reshape(-1, h, w).cpu().numpy()
    return {
        "context_index": perm[:nc],
        "context_values": flat[perm[:nc]],
        "mean": ft.mean(0),
        "samples": ft[:num_samples],
    }


@torch.no_grad()
def superres_images(
    model, image: np.ndarray, fraction: float, *, num_samples: int = 3, size: int = 100, seed: int = 0
) -> dict[str, np.ndarray]:
    """The same weight draws decoded at 28 × 28 and at ``size × size`` (BNNP / AttnBNNP only).

    Returns ``{"low": (S, 28, 28), "high": (S, size, size)}`` conditioned on a ``fraction`` of the pixels.
    """
    if not model.pointwise_decoder:
        raise ValueError(
            "super-resolution with shared weight draws needs a model that decodes each point independently "
            f"(BNNP or AttnBNNP), got {type(model).__name__}, whose target points attend to each other."
        )
    model.eval()
    rng = np.random.default_rng(seed)
    h, w = image.shape
    grid = pixel_grid(h, w)
    flat = image.reshape(-1).astype(np.float64) / 255.0
    keep = rng.permutation(h * w)[: max(1, int(np.floor(fraction * h * w)))]
    dtype = _dtype(model)
    xc = torch.from_numpy(grid[keep]).to(dtype)[None]  # (1, Nc, 2)
    yc = torch.from_numpy(flat[keep, None]).to(dtype)[None]
    sample = model.sample_weights(xc, yc, num_samples=num_samples)
    low = model.decode(sample.weights, torch.from_numpy(grid).to(dtype)[None])  # (S, 1, H W, 1)
    high = model.decode(sample.weights, torch.from_numpy(pixel_grid(size, size)).to(dtype)[None])
    return {
        "low": low[:, 0, :, 0].reshape(-1, h, w).cpu().numpy(),
        "high": high[:, 0, :, 0].reshape(-1, size, size).cpu().numpy(),
    }
