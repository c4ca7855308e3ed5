"""Global inducing-point VI (GIVI, Ober & Aitchison 2021) for a BNN on one dataset, from the BNNP's layers.

GIVI's posterior over layer ``l``'s weights is the prior times Gaussian pseudo-likelihoods at inducing inputs
propagated through the sampled earlier layers, ``q(W_l | W_<l) ∝ p(W_l) Π_m N(v_ml; W_l h_ml, Λ_ml⁻¹)``:
exactly the closed-form per-layer posterior of the BNNP (:mod:`climate_bnnp.layers.amortised`). With the
inducing inputs = the dataset's inputs, GIVI is therefore a BNNP whose inference networks are replaced by
free per-point parameters (:class:`FreePseudoObservations`: pseudo-observations and raw log pseudo-noise of
every unit at every point; the final layer's pseudo-observations are the targets, as in the BNNP), fitted by
maximising the ELBO on that one dataset. The prior is the fixed standard prior (ρ = 0); σ_y is learned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..models import BNNP
from ..tasks.batch import Batch
from .single_task import maximise_elbo

__all__ = ["FreePseudoObservations", "build_givi", "fit_givi"]

RAW_LOG_NOISE_INIT = 1.0  # log pseudo-noise = raw − 2: σ ≈ 0.37 at initialisation


class FreePseudoObservations(nn.Module):
    """Stands in for a layer's inference network: a free table ``(T, N, width)`` of per-point outputs.

    It only accepts the ``N`` points of the ``T`` tasks it was built for, in that order (they are GIVI's
    inducing inputs); a one-task table serves every task of a batch. Tasks share no parameter, so fitting
    ``T`` tables in one batch is ``T`` independent fits.
    """

    pointwise = True

    def __init__(
        self, num_points: int, width: int, *, pseudo_width: int, num_tasks: int = 1, seed: int = 0
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        table = torch.full((num_tasks, num_points, width), RAW_LOG_NOISE_INIT, dtype=torch.float64)
        # columns: [pseudo-observations (pseudo_width), raw log pseudo-noise]
        for task in table:  # task by task, so that a task's start does not depend on the batch size
            task[:, :pseudo_width] = torch.randn(
                num_points, pseudo_width, generator=generator, dtype=table.dtype
            )
        self.table = nn.Parameter(table)

    def forward(self, xc: Tensor, yc: Tensor, mask_c: Tensor | None) -> Tensor:
        """``(B, N, width)``: each task's table."""
        tasks, points = self.table.shape[:2]
        if xc.shape[1] != points or tasks not in (1, xc.shape[0]):
            raise ValueError(
                f"GIVI's free pseudo-observations belong to {tasks} task(s) of {points} inducing inputs, got "
                f"a context of {xc.shape[0]} task(s) of {xc.shape[1]} points; pass the data the model was "
                "built for."
            )
        return self.table.to(xc.dtype).expand(xc.shape[0], -1, -1)


def build_givi(
    num_points: int,
    dim_x: int,
    hidden: Sequence[int],
    *,
    activation: str = "relu",
    noise_init: float = 0.3,
    learn_noise: bool = True,
    num_tasks: int = 1,
    seed: int = 0,
) -> BNNP:
    """A BNNP (standard fixed prior, full unit-wise) whose inference nets are :class:`FreePseudoObservations`
    for ``num_points`` inducing inputs of each of ``num_tasks`` tasks."""
    torch.manual_seed(seed)
    model = BNNP(
        dim_x=dim_x,
        dim_y=1,
        hidden_dims=tuple(hidden),
        inf_hidden_dims=(1,),  # replaced below
        activation=activation,
        prior_type="full",
        prior_learnable_fraction=0.0,
        noise_init=noise_init,
        learn_noise=learn_noise,
    ).to(torch.float64)
    for index, layer in enumerate(model.layers):
        pseudo_width = 0 if layer.final else layer.d_out
        layer.inference_net = FreePseudoObservations(
            num_points,
            pseudo_width + layer.d_out,
            pseudo_width=pseudo_width,
            num_tasks=num_tasks,
            seed=seed + index,
        )
    return model


def fit_givi(
    x: np.ndarray,
    y: np.ndarray,
    hidden: Sequence[int],
    *,
    steps: int,
    num_samples: int,
    lr: float = 1e-2,
    final_lr: float = 1e-3,
    activation: str = "relu",
    learn_noise: bool = True,
    noise_init: float = 0.3,
    seed: int = 0,
) -> BNNP:
    """GIVI fitted by maximising the ELBO on ``x (N, Dx)``, ``y (N, 1)`` (Adam, linear lr decay).

    The returned model predicts with ``model(xc, yc, xt)`` where ``xc, yc`` are this dataset (``(1, N, ·)``).
    """
    if x.ndim != 2 or y.shape != (len(x), 1):
        raise ValueError(f"fit_givi needs x (N, Dx) and y (N, 1); got {x.shape} and {y.shape}.")
    model = build_givi(
        len(x), x.shape[1], hidden, activation=activation, noise_init=noise_init, learn_noise=learn_noise,
        seed=seed,
    )  # fmt: skip
    xs, ys = torch.as_tensor(x, dtype=torch.float64)[None], torch.as_tensor(y, dtype=torch.float64)[None]
    batch = Batch(xs, ys, xs, ys)
    maximise_elbo(model, batch, steps=steps, lr=lr, final_lr=final_lr, num_samples=num_samples)
    return model.eval()
