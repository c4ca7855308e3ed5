"""Seeded 1-D toy task families and the exact GP predictive oracle (numpy only).

Used by docs/results/no_free_lunch.md and docs/results/prior_transfer.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from .sampler import TaskSource

__all__ = [
    "sawtooth",
    "gp",
    "bnn",
    "heaviside",
    "se_kernel",
    "exact_gp_predictive",
    "draw_bnn_function",
    "FAMILIES",
    "family_source",
]


def _column(v: np.ndarray) -> np.ndarray:
    return v.reshape(-1, 1)


def sawtooth(rng: np.random.Generator, n: int, *, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """``f = 1.33 (x mod 0.75 − 0.375) + ε₁ x / 3 + 0.25 ε₂`` on ``x ~ U[−2, 2]``, ``y = f + noise ε``."""
    x = rng.uniform(-2.0, 2.0, n)
    e1, e2 = rng.standard_normal(2)
    f = 1.33 * (np.mod(x, 0.75) - 0.375) + e1 * x / 3.0 + 0.25 * e2
    return _column(x), _column(f + noise * rng.standard_normal(n))


def se_kernel(a: np.ndarray, b: np.ndarray, lengthscale: float, variance: float = 1.0) -> np.ndarray:
    """Squared-exponential kernel matrix between ``a (N, Dx)`` and ``b (M, Dx)``."""
    sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return variance * np.exp(-0.5 * sq / lengthscale**2)


def _gp_draw(rng: np.random.Generator, x: np.ndarray, lengthscale: float, variance: float) -> np.ndarray:
    cov = se_kernel(x, x, lengthscale, variance) + 1e-8 * np.eye(len(x))
    return np.linalg.cholesky(cov) @ rng.standard_normal(len(x))


def gp(
    rng: np.random.Generator,
    n: int,
    *,
    lengthscale: float = 0.5,
    variance: float = 1.0,
    noise: float = 0.05,
    x_range: tuple[float, float] = (-5.0, 5.0),
) -> tuple[np.ndarray, np.ndarray]:
    """A GP draw with an SE kernel plus Gaussian noise, at ``x ~ U(x_range)``."""
    x = _column(rng.uniform(*x_range, n))
    f = _gp_draw(rng, x, lengthscale, variance)
    return x, _column(f + noise * rng.standard_normal(n))


def heaviside(
    rng: np.random.Generator,
    n: int,
    *,
    lengthscale: float = 1.0,
    noise: float = 0.01,
    x_range: tuple[float, float] = (-5.0, 5.0),
) -> tuple[np.ndarray, np.ndarray]:
    """The sign of a mean-centred SE-GP draw (ℓ = 1) on ``x ~ U(x_range)``, plus noise."""
    x = _column(rng.uniform(*x_range, n))
    f = _gp_draw(rng, x, lengthscale, 1.0)
    return x, _column(np.sign(f - f.mean()) + noise * rng.standard_normal(n))


def draw_bnn_function(
    rng: np.random.Generator, hidden: Sequence[int] = (64, 64), *, dim_x: int = 1, act: str = "relu"
):
    """One function from the standard scaled BNN prior (weights and biases ``N(0, 1/(d_in + 1))``)."""
    dims = [dim_x, *hidden, 1]
    mats = [
        rng.standard_normal((d_out, d_in + 1)) / np.sqrt(d_in + 1)
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
    ]
    nonlin = {"relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh}[act]

    def f(x: np.ndarray) -> np.ndarray:
        a = x
        for i, w in enumerate(mats):
            h = a if i == 0 else nonlin(a)
            a = np.concatenate([h, np.ones((len(h), 1))], axis=1) @ w.T
        return a

    return f


def bnn(
    rng: np.random.Generator,
    n: int,
    *,
    hidden: Sequence[int] = (64, 64),
    noise: float = 0.05,
    x_range: tuple[float, float] = (-5.0, 5.0),
    act: str = "relu",
) -> tuple[np.ndarray, np.ndarray]:
    """A draw from a ReLU BNN prior plus Gaussian noise, at ``x ~ U(x_range)``."""
    f = draw_bnn_function(rng, hidden, act=act)
    x = _column(rng.uniform(*x_range, n))
    return x, f(x) + noise * rng.standard_normal((n, 1))


def exact_gp_predictive(
    xc: np.ndarray, yc: np.ndarray, xt: np.ndarray, *, lengthscale: float, variance: float = 1.0, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact GP posterior predictive of *observations* at ``xt``: mean and variance ``(Nt,)`` each."""
    k_cc = se_kernel(xc, xc, lengthscale, variance) + noise**2 * np.eye(len(xc))
    k_tc = se_kernel(xt, xc, lengthscale, variance)
    chol = np.linalg.cholesky(k_cc)
    alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, yc.reshape(-1)))
    v = np.linalg.solve(chol, k_tc.T)
    mean = k_tc @ alpha
    var = variance - (v**2).sum(0) + noise**2
    return mean, var


FAMILIES = {"sawtooth": sawtooth, "gp": gp, "bnn": bnn, "heaviside": heaviside}


def family_source(family: str, *, min_points: int, max_points: int, **options) -> TaskSource:
    """A :data:`TaskSource` drawing tasks of ``N ~ U{min_points, ..., max_points}`` points."""
    if family not in FAMILIES:
        raise ValueError(f"unknown toy family {family!r}; choose one of {sorted(FAMILIES)}.")
    draw = partial(FAMILIES[family], **options)

    def source(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return draw(rng, int(rng.integers(min_points, max_points + 1)))

    return source
