"""The amortised linear layer: pseudo-observations, natural-parameter accumulation, closed-form posterior.

For layer ``l`` with input features ``h_n = [ψ(a_{l-1}(x_n)), 1] ∈ R^D`` at the context points, an
inference network maps each context pair ``(x_n, y_n)`` to pseudo-observations ``ŷ_nj`` and pseudo-noise
``σ_nj`` (``log σ = raw − 2``) for every output unit ``j``. Unit ``j``'s weights then have the Gaussian
posterior with natural parameters

    Λ_j = Σ⁻¹_j + Σ_n λ_nj h_n h_nᵀ,        η_j = Σ⁻¹_j μ_j + Σ_n λ_nj ŷ_nj h_n,       λ = 1 / (σ² + 10⁻⁶),

accumulated in float64 chunk by chunk over the points (no ``N × N`` matrix, and no intermediate of size
``N × D × d_out``): the precision contributions of a chunk are one GEMM ``λᵀ · vech(h hᵀ)`` over the
upper triangle of each point's outer product. Natural parameters add, so streaming the context in chunks
gives exactly the full-batch posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .context_space import context_route_cheaper, context_sample_with_kl, float32_suffices
from .gaussian import JitterLog, cholesky_with_inverse, packed_size, unpack_symmetric
from .networks import activation
from .priors import UnitwisePrior
from .sample_kl import sample_with_kl

__all__ = [
    "AmortisedLinear",
    "ContextTerms",
    "NaturalParams",
    "LayerPosterior",
    "accumulate_natural",
    "ROUTES",
]

ACCUMULATION_DTYPE = torch.float64
LOG_NOISE_OFFSET = -2.0
PRECISION_FLOOR = 1e-6  # λ = 1 / (σ² + PRECISION_FLOOR) caps pseudo-precisions at 10⁶
CHUNK_ELEMENTS = 2**21  # outer-product entries per block (16 MiB in float64: reused, not page-faulted)
ROUTES = ("auto", "weight", "context")  # AmortisedLinear.route: how the posterior step is computed


@dataclass(frozen=True, kw_only=True, eq=False)
class ContextTerms:
    """One layer's context as :func:`accumulate_natural` received it, in one or more consecutive chunks,
    kept so that the layer can take the context-space route instead of forming the precision.

    Attributes:
        features: per chunk, features ``(S', B, n_k, D)``.
        lam: per chunk, pseudo-precisions ``(S' or 1, B, n_k, J)`` (float64).
        yhat: per chunk, pseudo-observations ``(S' or 1, B, n_k, J)`` (float64).
        grad_enabled: whether autograd was on when the chunks were accumulated.
    """

    features: tuple[Tensor, ...]
    lam: tuple[Tensor, ...]
    yhat: tuple[Tensor, ...]
    grad_enabled: bool

    @property
    def points(self) -> int:
        """``N``, the number of context points over all chunks (padded ones included)."""
        return sum(h.shape[-2] for h in self.features)

    @property
    def dim(self) -> int:
        """``D``, the feature width (bias included)."""
        return self.features[0].shape[-1]

    def live(self) -> Tensor:
        """Indices of the point positions where some task and unit has ``λ > 0`` (the rest are padding in
        every task of the batch and change nothing), ``(N_live,)``."""
        lam = torch.cat(self.lam, dim=-2)  # (S' or 1, B, N, J)
        return torch.nonzero((lam > 0).any(-1).flatten(0, 1).any(0)).squeeze(-1)

    def joined(self, live: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The whole context: features ``(S', B, N, D)``, ``λ`` and ``ŷ`` ``(S' or 1, B, N, J)``; only the
        positions ``live`` if given."""
        out = [torch.cat(parts, dim=-2) for parts in (self.features, self.lam, self.yhat)]
        if live is not None and len(live) < out[0].shape[-2]:
            out = [t.index_select(-2, live) for t in out]
        return tuple(out)  # type: ignore[return-value]

    def __add__(self, other: ContextTerms) -> ContextTerms:
        return ContextTerms(
            features=self.features + other.features,
            lam=self.lam + other.lam,
            yhat=self.yhat + other.yhat,
            grad_enabled=self.grad_enabled,
        )

    def precision(self) -> Tensor:
        """The packed data precisions ``(S', B, J, D (D + 1) / 2)``: each chunk's under the recorded autograd
        mode, summed in chunk order (so the same numbers as summing the chunks' natural parameters)."""
        total = None
        with torch.set_grad_enabled(self.grad_enabled):
            for h, lam in zip(self.features, self.lam, strict=True):
                b, n, dim = h.shape[1:]
                step = max(1, min(n, CHUNK_ELEMENTS // (b * packed_size(dim))))
                part = _PackedPrecision.apply(h, lam, step)
                total = part if total is None else total + part
        return total  # type: ignore[return-value]


class NaturalParams:
    """Data natural parameters of one layer: the precision as packed upper triangles
    ``(S', B, J, D (D + 1) / 2)`` and the shift ``(S', B, J, D)``.

    Built by :func:`accumulate_natural`, the precision is formed only when first read, and the context it
    comes from is kept (``context``), so that a layer can use the cheaper context-space route instead. A
    sum keeps the chunks' contexts while together they stay below the context route's crossover and were
    accumulated in the same autograd mode (so the route does not depend on how a context is chunked);
    otherwise sums, scalings and detached copies are plain (no context).
    """

    def __init__(
        self, precision: Tensor | None, shift: Tensor, *, context: ContextTerms | None = None
    ) -> None:
        if precision is None and context is None:
            raise ValueError("NaturalParams needs a precision or the context terms it is formed from.")
        self._precision, self.shift, self.context = precision, shift, context

    @property
    def precision(self) -> Tensor:
        """Packed precisions ``(S', B, J, D (D + 1) / 2)``."""
        if self._precision is None:
            self._precision = self.context.precision()  # type: ignore[union-attr]
        return self._precision

    def __add__(self, other: NaturalParams) -> NaturalParams:
        mine, theirs = self.context, other.context
        if (
            self._precision is None
            and other._precision is None
            and mine is not None
            and theirs is not None
            and mine.grad_enabled == theirs.grad_enabled
            and context_route_cheaper(mine.points + theirs.points, mine.dim, float32=True)
        ):
            return NaturalParams(None, self.shift + other.shift, context=mine + theirs)
        return NaturalParams(self.precision + other.precision, self.shift + other.shift)

    def detach(self) -> NaturalParams:
        return NaturalParams(self.precision.detach(), self.shift.detach())

    def scale(self, factor: float) -> NaturalParams:
        return NaturalParams(factor * self.precision, factor * self.shift)


@dataclass
class LayerPosterior:
    """Gaussian posterior per unit: ``mean (S', B, J, D)``, the precision's Cholesky factor
    ``chol (S', B, J, D, D)`` and its inverse ``chol_inv`` (so ``Cov = chol_invᵀ chol_inv``)."""

    mean: Tensor
    chol: Tensor
    chol_inv: Tensor


def _fill_packed_outer(h: Tensor, out: Tensor) -> Tensor:
    """Upper triangles of ``h_n h_nᵀ``, packed row by row: ``h (..., n, D)`` -> ``out (..., n, T)``.

    One slice product per row (``h_i · h_{i:}``): far cheaper than gathering ``h[..., rows] * h[..., cols]``.
    """
    dim, start = h.shape[-1], 0
    for i in range(dim):
        torch.mul(h[..., i : i + 1], h[..., i:], out=out[..., start : start + dim - i])
        start += dim - i
    return out


def _packed_outer_backward(h: Tensor, grad_outer: Tensor, grad_h: Tensor) -> None:
    """``grad_h += ∂⟨grad_outer, vech(h hᵀ)⟩/∂h`` for ``h (..., n, D)``, ``grad_outer (..., n, T)``."""
    dim, start = h.shape[-1], 0
    for i in range(dim):
        g = grad_outer[..., start : start + dim - i]  # pairs (i, k ≥ i)
        grad_h[..., i] += torch.linalg.vecdot(g, h[..., i:])
        grad_h[..., i:].addcmul_(g, h[..., i : i + 1])
        start += dim - i


def _sample_group(samples: int, tasks: int, points: int, tri: int) -> int:
    """Samples per block so that one block's packed outer products ``(g, B, n, T)`` stay within
    ``CHUNK_ELEMENTS`` (at least one sample)."""
    return max(1, min(samples, CHUNK_ELEMENTS // max(1, tasks * points * tri)))


def _lam_block(lam: Tensor, samples: slice, points: slice, group: int) -> Tensor:
    """``λ`` of a block as ``(g B, n, J)`` (a shared ``λ``, leading 1, is repeated over the g samples)."""
    part = (lam[samples] if lam.shape[0] > 1 else lam)[:, :, points]  # (g or 1, B, n, J)
    return part.expand(group, *part.shape[1:]).reshape(-1, *part.shape[2:])


class _PackedPrecision(torch.autograd.Function):
    """``(h (S', B, n, D), λ (S' or 1, B, n, J)) ↦ Σ_n λ_nj vech(h_n h_nᵀ)  (S', B, J, T)``.

    Blocks over samples and points (``step`` points, as many samples as fit in ``CHUNK_ELEMENTS``): per
    block, one slice product per row builds the packed outer products of all its samples, and one batched
    GEMM accumulates them. The outer products are rebuilt in the backward pass instead of kept.
    """

    @staticmethod
    def forward(ctx, h, lam, step):  # type: ignore[override]
        s, b, n, dim = h.shape
        tri, units = packed_size(dim), lam.shape[-1]
        out = h.new_empty(s, b, units, tri) if n else h.new_zeros(s, b, units, tri)
        group = _sample_group(s, b, min(step, n), tri)
        for s0 in range(0, s, group):
            samples = slice(s0, min(s0 + group, s))
            g = samples.stop - samples.start
            out_block = out[samples].view(g * b, units, tri)
            for start in range(0, n, step):
                points = slice(start, min(start + step, n))
                outer = _fill_packed_outer(h[samples, :, points], h.new_empty(g, b, points.stop - start, tri))
                lam_t, outer = _lam_block(lam, samples, points, g).mT, outer.view(g * b, -1, tri)
                if start == 0:  # the first chunk writes the block, later ones add to it
                    torch.bmm(lam_t, outer, out=out_block)
                else:
                    out_block.baddbmm_(lam_t, outer)
        ctx.step = step
        ctx.save_for_backward(h, lam)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        h, lam = ctx.saved_tensors
        s, b, n, dim = h.shape
        tri, units = packed_size(dim), lam.shape[-1]
        need_h, need_lam, _ = ctx.needs_input_grad
        grad_h = torch.zeros_like(h) if need_h else None
        grad_lam = torch.zeros_like(lam) if need_lam else None
        group = _sample_group(s, b, min(ctx.step, n), tri)
        for s0 in range(0, s, group):
            samples = slice(s0, min(s0 + group, s))
            g = samples.stop - samples.start
            grad_block = grad[samples].reshape(g * b, units, tri)
            for start in range(0, n, ctx.step):
                points = slice(start, min(start + ctx.step, n))
                m = points.stop - start
                hb = h[samples, :, points]  # (g, B, m, D)
                if need_lam:
                    outer = _fill_packed_outer(hb, h.new_empty(g, b, m, tri))
                    part = torch.bmm(outer.view(g * b, m, tri), grad_block.mT).view(g, b, m, units)
                    del outer
                    if lam.shape[0] > 1:
                        grad_lam[samples, :, points] += part
                    else:
                        grad_lam[:, :, points] += part.sum(0, keepdim=True)
                if need_h:
                    weight = torch.bmm(_lam_block(lam, samples, points, g), grad_block)  # (g B, m, T)
                    _packed_outer_backward(hb, weight.view(g, b, m, tri), grad_h[samples, :, points])
        return grad_h, grad_lam, None


def accumulate_natural(h: Tensor, lam: Tensor, yhat: Tensor) -> NaturalParams:
    """``Σ_n λ_nj h_n h_nᵀ`` and ``Σ_n λ_nj ŷ_nj h_n`` in float64, in memory-bounded blocks.

    Args:
        h: features ``(S', B, n, D)`` (``S'`` is 1 when the features do not depend on the samples).
        lam: pseudo-precisions ``(S' or 1, B, n, J)`` (0 at masked points).
        yhat: pseudo-observations ``(S' or 1, B, n, J)``.

    Returns:
        Natural parameters with packed ``precision (S', B, J, D (D + 1) / 2)`` and ``shift (S', B, J, D)``.

    The precision is one GEMM ``λᵀ · vech(h hᵀ)`` per sample and block of points (at most
    ``CHUNK_ELEMENTS`` outer-product entries at a time, rebuilt rather than stored for the backward pass),
    formed when first read: a layer that takes the context-space route never forms it.
    """
    h, lam, yhat = (t.to(ACCUMULATION_DTYPE) for t in (h, lam, yhat))
    shift = (lam * yhat).mT @ h  # (S', B, J, n) @ (S', B, n, D) -> (S', B, J, D)
    terms = ContextTerms(features=(h,), lam=(lam,), yhat=(yhat,), grad_enabled=torch.is_grad_enabled())
    return NaturalParams(None, shift, context=terms)


class AmortisedLinear(nn.Module):
    """A Bayesian linear layer whose weight posterior is amortised by an inference network.

    Args:
        d_in: input width; d_out: output width.
        inference_net: maps ``(xc, yc, mask_c)`` to per-point outputs ``(B, Nc, 2 d_out)`` (hidden layer:
            pseudo-observations and raw log pseudo-noise) or ``(B, Nc, d_out)`` (final layer: raw log
            pseudo-noise only). ``None`` for an exact final layer (pseudo-noise = likelihood noise).
        input_activation: non-linearity applied to this layer's *input* (``identity`` for the first layer).
        prior_kind: ``"full"`` or ``"diagonal"``.
        final: the final layer uses the true targets as pseudo-observations.

    Attributes:
        route: how :meth:`sample_with_kl` computes the posterior step: ``"auto"`` (the cheaper exact route
            per call under autograd, weight space without), ``"weight"`` (always weight space) or
            ``"context"`` (always context space; an error where it does not apply).
        context_float32: run the context-space route's algebra in float32 where
            :func:`~climate_bnnp.layers.context_space.float32_suffices` holds for the call (else float64);
            on by default (measured: ELBO, KL, draws and gradients within ~1e-5 relative of float64, and a
            2.5× faster toy training step). Set False for float64 throughout. Weights and KL are returned
            in float64 either way.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        *,
        inference_net: nn.Module | None,
        input_activation: str = "identity",
        prior_kind: str = "full",
        final: bool = False,
    ) -> None:
        super().__init__()
        self.d_in, self.d_out, self.final = d_in, d_out, final
        self.inference_net = inference_net
        self.input_activation = activation(input_activation)
        self.prior = UnitwisePrior(d_in, d_out, prior_kind)  # type: ignore[arg-type]
        self.jitter = JitterLog()
        self._route = "auto"
        self.context_float32 = True

    @property
    def route(self) -> str:
        return self._route

    @route.setter
    def route(self, value: str) -> None:
        if value not in ROUTES:
            raise ValueError(f"route must be one of {ROUTES}, got {value!r}; 'auto' picks the cheaper one.")
        self._route = value

    @property
    def pointwise(self) -> bool:
        """Whether each point's pseudo-observation depends on that point only (exact chunking)."""
        return getattr(self.inference_net, "pointwise", True)

    def features(self, a: Tensor) -> Tensor:
        """``h = [ψ(a), 1]``: ``(..., N, d_in) -> (..., N, d_in + 1)``."""
        h = self.input_activation(a)
        return torch.cat([h, torch.ones_like(h[..., :1])], dim=-1)

    def pseudo_observations(
        self, xc: Tensor, yc: Tensor, mask_c: Tensor | None, noise_std: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Pseudo-observations and pseudo-precisions ``(B, Nc, d_out)`` each (precision 0 where masked).

        Args:
            noise_std: likelihood noise ``(Dy,)``; used as the pseudo-noise of an exact final layer.
        """
        if self.inference_net is None:
            if noise_std is None:
                raise ValueError("an exact final layer needs the likelihood noise std.")
            yhat, lam = yc, (noise_std**2).reciprocal().expand_as(yc)
        else:
            out = self.inference_net(xc, yc, mask_c)  # (B, Nc, 2 d_out) or (B, Nc, d_out)
            if self.final:
                yhat, raw_log_noise = yc, out
            else:
                yhat, raw_log_noise = out.split(self.d_out, dim=-1)
            log_noise = raw_log_noise.to(ACCUMULATION_DTYPE) + LOG_NOISE_OFFSET
            lam = (torch.exp(2.0 * log_noise) + PRECISION_FLOOR).reciprocal()
        if mask_c is not None:
            lam = lam * mask_c.unsqueeze(-1).to(lam.dtype)
        return yhat, lam

    def _prior_natural(self, factor: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return tuple(t.to(ACCUMULATION_DTYPE) for t in self.prior.natural(factor))  # type: ignore[return-value]

    def posterior(self, data: NaturalParams | None) -> LayerPosterior:
        """Closed-form Gaussian posterior per unit from the prior and the data natural parameters."""
        prior_precision, prior_shift = self._prior_natural()
        if data is None:
            precision, shift = prior_precision[None, None], prior_shift[None, None]  # (1, 1, J, D, D)
        else:
            precision = unpack_symmetric(data.precision, self.d_in + 1) + prior_precision
            shift = data.shift + prior_shift
        chol, chol_inv = cholesky_with_inverse(precision, self.jitter)
        mean = (chol_inv.mT @ (chol_inv @ shift.unsqueeze(-1))).squeeze(-1)  # Λ⁻¹ η: (S', B, J, D)
        return LayerPosterior(mean, chol, chol_inv)

    def sample_with_kl(
        self,
        data: NaturalParams | None,
        num_samples: int,
        num_tasks: int,
        reference: LayerPosterior | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Reparameterised weights ``(S, B, d_out, d_in + 1)`` from the posterior given ``data`` (the prior
        when None) and ``Σ_j KL(q_j ‖ r_j)`` per sample and task ``(S', B)``; ``r`` is the prior when
        ``reference`` is None.

        Two exact routes give the same posterior, KL and law of the draws: the weight-space route (the
        precision ``Λ`` per unit, ``D × D`` algebra) and the context-space route
        (:mod:`~climate_bnnp.layers.context_space`, ``N × N`` algebra). With ``route == "auto"`` the
        context-space route is taken when ``data`` still holds its context (straight from
        :func:`accumulate_natural`, or a sum of chunks joined below the crossover; not after the unbiased
        chunk estimator's detach and scale), the KL is to the prior, and the context (padding included) is
        below the crossover (:func:`~climate_bnnp.layers.context_space.context_route_cheaper`: 0.9 D, or
        1.2 D when the route's algebra runs in float32, see ``context_float32``). Both routes
        draw ``ε (S, B, d_out, d_in + 1)`` first; the context route then also draws ``ξ (S, B, d_out, N)``.
        Point positions padded in every task (``λ = 0`` throughout) are dropped before the choice, so
        padding a batch changes neither the route nor the draws. ``"auto"`` takes the context route only
        under autograd (training): its draws pair ``ξ`` with the points in order, so the same seed gives
        other (equally distributed) draws for permuted points; without autograd (prediction, evaluation)
        the weight route keeps seeded draws invariant to the order and chunking of the context.
        """
        dim = self.d_in + 1
        terms = None if data is None or reference is not None else data.context
        if self.route == "context" and terms is None:
            raise ValueError(
                "route='context' needs the context terms of accumulate_natural (one chunk, or chunks "
                "joined below the crossover) and the KL to the prior; got plain natural parameters, no "
                "context or an NPVI reference. Use route='auto'."
            )
        # "auto" takes the context route only under autograd (training): its draws pair the noise ξ with the
        # points in order, so without autograd (prediction) the weight route keeps the seeded draws
        # invariant to the order, chunking and padding of the context
        if terms is not None and (self.route == "context" or (self.route == "auto" and terms.grad_enabled)):
            scale_tril = self.prior.scale_tril().to(ACCUMULATION_DTYPE)  # M⁻¹ (J, D, D)
            float32 = self.context_float32 and float32_suffices(terms.features, terms.lam, scale_tril)
            live = terms.live()  # positions padded in every task are dropped: they change nothing
            if self.route == "context" or context_route_cheaper(len(live), dim, float32):
                return self._context_sample_with_kl(terms, live, scale_tril, float32, num_samples, num_tasks)
        prior_factor = self.prior.factor()
        prior_precision, prior_shift = self._prior_natural(prior_factor)
        if data is None:
            data = NaturalParams(
                prior_shift.new_zeros(1, 1, self.d_out, packed_size(dim)),
                prior_shift.new_zeros(1, 1, self.d_out, dim),
            )
        if reference is None:
            factor = prior_factor.to(ACCUMULATION_DTYPE)
            logdet = self.prior.logdet_precision().to(ACCUMULATION_DTYPE)
            mean = self.prior.mean.to(ACCUMULATION_DTYPE)
        else:  # reference precision L Lᵀ = Mᵀ M with M = Lᵀ
            factor, mean = reference.chol.mT, reference.mean
            logdet = 2.0 * reference.chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        eps = torch.randn(
            num_samples, num_tasks, self.d_out, dim, dtype=prior_shift.dtype, device=prior_shift.device
        )
        weights, kl = sample_with_kl(
            data.precision, prior_precision, data.shift + prior_shift, eps, factor, mean, logdet, self.jitter
        )
        return weights, kl.sum(-1)

    def _context_sample_with_kl(
        self,
        terms: ContextTerms,
        live: Tensor,
        scale_tril: Tensor,
        float32: bool,
        num_samples: int,
        num_tasks: int,
    ) -> tuple[Tensor, Tensor]:
        """The context-space route of :meth:`sample_with_kl` (KL to the prior) on the ``live`` positions,
        its algebra in float32 if ``float32``; ``scale_tril`` is the prior's ``M⁻¹`` ``(J, D, D)``."""
        dim, dtype = self.d_in + 1, ACCUMULATION_DTYPE
        with torch.set_grad_enabled(terms.grad_enabled):
            h, lam, yhat = terms.joined(live)
            device, n = h.device, h.shape[-2]
            eps = torch.randn(num_samples, num_tasks, self.d_out, dim, dtype=dtype, device=device)
            xi = torch.randn(num_samples, num_tasks, self.d_out, n, dtype=dtype, device=device)
            inputs = (h, yhat, lam, self.prior.mean.to(dtype), scale_tril, eps, xi)
            if float32:
                inputs = tuple(t.to(torch.float32) for t in inputs)
            weights, kl = context_sample_with_kl(*inputs)
        return weights.to(dtype), kl.to(dtype).sum(-1)

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, final={self.final}, prior={self.prior.kind}"
