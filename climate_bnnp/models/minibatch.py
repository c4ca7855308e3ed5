"""Within-task minibatching of the context: its chunks and the unbiased (straight-through) gradient estimator.

The context of ``Nc`` points is cut into ``K`` chunks of ``chunk_size`` points. A layer's data natural
parameters are summed chunk by chunk; under autograd one random chunk carries the gradient and the rest run
without it, so memory is bounded by the chunk. The sum ``sg(Σ_all) + K (Σ_b − sg(Σ_b))`` has the exact value
and an unbiased gradient. (The context log-likelihood is estimated from one random chunk, times K: see
:meth:`climate_bnnp.models.BNNP.forward`.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch

from ..layers import NaturalParams

__all__ = ["ContextChunks"]

ChunkTerms = tuple[NaturalParams | None, ...]  # per chunk: natural parameters of one or more sums


@dataclass(frozen=True)
class ContextChunks:
    """The chunks of a context of ``size`` points (none when it is empty).

    Args:
        size: ``Nc``. chunk_size: points per chunk (None: one chunk of all points).
    """

    size: int
    chunk_size: int | None = None

    def __post_init__(self) -> None:
        if self.size and self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(
                f"chunk_size must be a positive integer, got {self.chunk_size}; pass None for one chunk."
            )

    @cached_property
    def slices(self) -> list[slice]:
        """The chunks' indices into the ``Nc`` context points, in order."""
        step = self.size if self.chunk_size is None else self.chunk_size
        return [slice(start, min(start + step, self.size)) for start in range(0, self.size, max(step, 1))]

    def __len__(self) -> int:
        """K, the number of chunks."""
        return len(self.slices)

    def draw(self) -> int:
        """A uniformly random chunk (from torch's global RNG; drawn for any K, so that every chunking
        consumes the same random stream)."""
        return int(torch.randint(len(self), ()))

    def estimate(self, terms: Callable[[slice], ChunkTerms]) -> ChunkTerms:
        """Sums over the chunks of ``terms(chunk)``, entry by entry, with the unbiased gradient estimator.

        Under autograd with ``K > 1`` chunks, only a chunk drawn with :meth:`draw` runs with gradient, and
        each sum becomes ``sg(Σ_all) + K (Σ_b − sg(Σ_b))``; otherwise the plain sums (exact gradient).
        """
        grad = torch.is_grad_enabled()
        pick = self.draw() if grad else None  # drawn for one chunk too: the same RNG stream for any K
        pick = pick if len(self) > 1 else None
        totals: list[NaturalParams | None] = []
        chosen: ChunkTerms = ()
        for b, index in enumerate(self.slices):
            with torch.set_grad_enabled(grad and (pick is None or b == pick)):
                values = terms(index)
            totals = list(values) if b == 0 else [_add(t, v) for t, v in zip(totals, values, strict=True)]
            if b == pick:
                chosen = values
        if pick is None:
            return tuple(totals)
        return tuple(_unbiased(t, c, len(self)) for t, c in zip(totals, chosen, strict=True))


def _add(total: NaturalParams | None, value: NaturalParams | None) -> NaturalParams | None:
    return None if total is None else total + value


def _unbiased(
    total: NaturalParams | None, chosen: NaturalParams | None, num_chunks: int
) -> NaturalParams | None:
    """``sg(total) + K (chosen − sg(chosen))``: the value of ``total``; its gradient is K × the chosen
    chunk's, an unbiased estimate of the gradient of the sum over the K chunks."""
    if total is None:
        return None
    return total.detach() + (chosen + chosen.detach().scale(-1.0)).scale(float(num_chunks))
