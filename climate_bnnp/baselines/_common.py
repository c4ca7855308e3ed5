"""Input checks and Gaussian sampling shared by the baselines (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_STD", "check_inputs", "check_num_samples", "gaussian_samples"]

MIN_STD = 1e-6
"""Floor on every baseline's predictive std, in the units of ``yc``: a numerical floor, not a model.

It only binds in degenerate cases (a constant context, a single context point, a zero leave-one-out
error), where the context says nothing about the spread; the predictive is then nearly a point mass."""


def check_inputs(
    xc: np.ndarray, yc: np.ndarray, xt: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate one task's context and targets and return them as float64 arrays.

    Args:
        xc: context positions ``(Nc, D)``, ``Nc >= 1``.
        yc: context targets ``(Nc,)``.
        xt: target positions ``(Nt, D)`` (the same columns as ``xc``); None: not checked.

    Raises:
        ValueError: wrong shapes, no context point, or non-finite values; the message says what was
            expected, what was got and how to fix it.
    """
    xc, yc = np.asarray(xc, dtype=np.float64), np.asarray(yc, dtype=np.float64)
    xt = None if xt is None else np.asarray(xt, dtype=np.float64)
    if xc.ndim != 2:
        raise ValueError(
            f"xc must have shape (Nc, D), got {xc.shape}; pass one row per context point "
            "(e.g. xc.reshape(-1, 1) for 1-D positions)."
        )
    nc, dim = xc.shape
    if nc == 0:
        raise ValueError("xc has no points (got shape (0, D)); a baseline needs at least one context point.")
    if yc.shape != (nc,):
        raise ValueError(
            f"yc must have shape (Nc,) = ({nc},) to match xc, got {yc.shape}; pass one target variable "
            "as a 1-D array (e.g. yc[:, 0])."
        )
    if xt is not None and (xt.ndim != 2 or xt.shape[1] != dim):
        raise ValueError(
            f"xt must have shape (Nt, {dim}) with the columns of xc, got {xt.shape}; pass the same "
            "position (and covariate) columns for the context and the targets."
        )
    for name, array in (("xc", xc), ("yc", yc), ("xt", xc if xt is None else xt)):
        bad = int(np.size(array) - np.isfinite(array).sum())
        if bad:
            raise ValueError(
                f"{name} must be finite, got {bad} NaN or infinite values; drop missing cells (e.g. sea "
                "points of ERA5-Land) before calling a baseline."
            )
    return xc, yc, xt


def check_num_samples(num_samples: int) -> int:
    """``num_samples`` as a positive int, or a ``ValueError`` saying so."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int | np.integer) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}.")
    return int(num_samples)


def gaussian_samples(mean: np.ndarray, std: np.ndarray, *, num_samples: int, seed: int) -> np.ndarray:
    """Independent draws ``mean + std · ε`` per target point, ``(S, Nt)`` float64.

    ``ε ~ N(0, 1)`` from ``np.random.default_rng(seed)``: the same seed gives the same samples. The points
    are sampled independently (the marginal predictives), which is what pointwise scores (NLL, CRPS,
    coverage) use.
    """
    num_samples = check_num_samples(num_samples)
    rng = np.random.default_rng(seed)
    return mean[None, :] + std[None, :] * rng.standard_normal((num_samples, mean.shape[0]))  # (S, Nt)
