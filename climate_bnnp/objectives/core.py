"""PP-AVI, AVI (ELBO), NPML and NPVI for BNNP-family models.

Notation (per task, ``S`` weight samples ``W⁽ˢ⁾ ~ q(W | D_c)``):

* ``ELL_c = 1/S Σ_s Σ_{n∈c} log p(y_n | x_n, W⁽ˢ⁾)`` (estimated from one chunk × K when chunked);
* ``PPL_t = log 1/S Σ_s exp(Σ_{t} log p(y_t | x_t, W⁽ˢ⁾))`` (joint over the targets);
* ``KL`` the sampled chain-rule estimate of ``KL[q(W | D_c) ‖ p(W)]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..models import AmortisedModel, BNNPOutput
from ..tasks import Batch

__all__ = ["OBJECTIVES", "elbo", "pp_avi", "npml", "npvi", "predictive_log_likelihood"]


def predictive_log_likelihood(log_likelihood: Tensor) -> Tensor:
    """``log 1/S Σ_s exp(ℓ_s)`` over the leading sample dimension: ``(S, B) -> (B,)``."""
    return torch.logsumexp(log_likelihood, dim=0) - math.log(log_likelihood.shape[0])


def _forward(model: AmortisedModel, batch: Batch, num_samples: int, chunk_size: int | None) -> BNNPOutput:
    return model(
        batch.xc,
        batch.yc,
        batch.xt,
        mask_c=batch.mask_c,
        mask_t=batch.mask_t,
        num_samples=num_samples,
        chunk_size=chunk_size,
    )


def _context_elbo(model: AmortisedModel, out: BNNPOutput, batch: Batch, beta: float) -> Tensor:
    """``ELL_c − β KL`` averaged over the weight samples, ``(B,)`` (the model estimates ``ELL_c`` from the
    context chunk it decoded)."""
    return (model.context_log_likelihood(out, batch.yc, batch.mask_c) - beta * out.kl).mean(0)


def elbo(
    model: AmortisedModel, batch: Batch, *, num_samples: int, beta: float = 1.0, chunk_size: int | None = None
) -> Tensor:
    """AVI: ``ELL_c − β KL`` on the context (the targets are not used), ``(B,)``."""
    out = _forward(model, batch, num_samples, chunk_size)
    return _context_elbo(model, out, batch, beta)


def pp_avi(
    model: AmortisedModel, batch: Batch, *, num_samples: int, beta: float = 1.0, chunk_size: int | None = None
) -> Tensor:
    """PP-AVI: ``ELL_c + β PPL_t − β KL``, ``(B,)``.

    The context ELBO plus the log posterior predictive of the held-out targets.
    """
    out = _forward(model, batch, num_samples, chunk_size)
    ppl = predictive_log_likelihood(model.log_likelihood(batch.yt, out.ft, batch.mask_t))
    return _context_elbo(model, out, batch, beta) + beta * ppl


def npml(
    model: AmortisedModel, batch: Batch, *, num_samples: int, beta: float = 1.0, chunk_size: int | None = None
) -> Tensor:
    """NPML: ``PPL_t`` only (no KL, no context term; ``beta`` is unused), ``(B,)``."""
    out = _forward(model, batch, num_samples, chunk_size)
    return predictive_log_likelihood(model.log_likelihood(batch.yt, out.ft, batch.mask_t))


def npvi(
    model: AmortisedModel, batch: Batch, *, num_samples: int, beta: float = 1.0, chunk_size: int | None = None
) -> Tensor:
    """NPVI: ``E_{q(W | c ∪ t)}[log p(y_t | W)] − β KL[q(W | c ∪ t) ‖ q(W | c)]``, ``(B,)``.

    Both posteriors come from the same inference networks; per layer the KL between the two conditional
    Gaussians uses the same samples of the earlier layers (drawn from ``q(W | c ∪ t)``).
    """
    x = torch.cat([batch.xc, batch.xt], dim=1)  # (B, Nc + Nt, Dx)
    y = torch.cat([batch.yc, batch.yt], dim=1)
    ones = lambda n: torch.ones(x.shape[0], n, dtype=torch.bool, device=x.device)  # noqa: E731
    nc, nt = batch.xc.shape[1], batch.xt.shape[1]
    mask = torch.cat(
        [
            ones(nc) if batch.mask_c is None else batch.mask_c,
            ones(nt) if batch.mask_t is None else batch.mask_t,
        ],
        1,
    )
    context_only = torch.cat([ones(nc), ~ones(nt)], dim=1)
    sample = model.sample_weights(
        x, y, mask, num_samples=num_samples, chunk_size=chunk_size, kl_mask=context_only
    )
    ft = model.decode(sample.weights, batch.xt, batch.mask_t)  # BNAM: padded targets are not keys
    return (model.log_likelihood(batch.yt, ft, batch.mask_t) - beta * sample.kl).mean(0)


OBJECTIVES = {"pp_avi": pp_avi, "elbo": elbo, "npml": npml, "npvi": npvi}
