"""Prior and posterior function samples of a small meta-trained BNNP on 1-D tasks.

The paper's 1-D showcase in miniature (docs/results/no_free_lunch.md).

The paper trains 50k steps per family; :func:`train_toy_model` trains a few hundred so the notebook runs in a
minute: the samples show the idea (prior draws look like the family; posterior draws pin down as context
points arrive), not the paper's quality. ``python -m climate_bnnp.studies.demo_toy --out OUT.png`` draws it;
``--checkpoints DIR --out FOLDER`` draws ``showcase_<family>.png`` for every family meta-trained by the
no-free-lunch study in ``DIR`` (:func:`climate_bnnp.studies.no_free_lunch.load_meta_trained`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..config import TrainConfig
from ..models import BNNP
from ..tasks import FAMILIES, TaskSampler, family_source
from ..train import fit

__all__ = ["X_RANGES", "function_samples", "toy_samples_figure", "train_toy_model"]

X_RANGES = {"sawtooth": (-2.0, 2.0), "gp": (-5.0, 5.0), "bnn": (-5.0, 5.0), "heaviside": (-5.0, 5.0)}
"""Input range of each family's tasks (docs/results/no_free_lunch.md)."""


def train_toy_model(
    family: str = "sawtooth", *, steps: int = 300, seed: int = 0, progress: bool = False
) -> BNNP:
    """Meta-train a BNNP ([32, 32], learned prior, PP-AVI) on ``family`` tasks of 40..99 points."""
    torch.manual_seed(seed)
    model = BNNP(
        dim_x=1, dim_y=1, hidden_dims=(32, 32), inf_hidden_dims=(32, 32), noise_init=0.05, noise_bound=0.3
    )
    sampler = TaskSampler(
        family_source(family, min_points=40, max_points=99), context_fraction=(0.1, 0.5), seed=seed
    )
    config = TrainConfig(steps=steps, batch_size=8, num_samples=8, lr=3e-3, final_lr=1e-4, device="cpu",
                         dtype="float64", seed=seed, log_every=10**9, checkpoint_every=10**9)  # fmt: skip
    fit(model, sampler, config, progress=progress)
    return model.eval()


@torch.no_grad()
def function_samples(
    model: BNNP,
    xc: np.ndarray | None,
    yc: np.ndarray | None,
    x: np.ndarray,
    *,
    num_samples: int = 50,
    seed: int = 0,
) -> np.ndarray:
    """Function samples ``(S, N)`` at ``x (N,)`` given context ``xc, yc (Nc,)`` (None or empty: the prior)."""
    torch.manual_seed(seed)
    dtype = next(model.parameters()).dtype
    xt = torch.as_tensor(x, dtype=dtype).reshape(1, -1, 1)  # (1, N, 1)
    if xc is None or len(xc) == 0:
        out = model(None, None, xt, num_samples=num_samples)
    else:
        xc_t = torch.as_tensor(xc, dtype=dtype).reshape(1, -1, 1)  # (1, Nc, 1)
        yc_t = torch.as_tensor(yc, dtype=dtype).reshape(1, -1, 1)
        out = model(xc_t, yc_t, xt, num_samples=num_samples)
    return out.ft[:, 0, :, 0].double().numpy()


def toy_samples_figure(
    model: BNNP, family: str = "sawtooth", *, num_samples: int = 50, seed: int = 0, max_context: int = 4
) -> Figure:
    """One row: data-generating samples, prior samples, and posterior samples given 1..``max_context`` points.

    The context points are the first points of one 10-point test task drawn from ``family`` with ``seed``.
    """
    low, high = X_RANGES[family]
    grid = np.linspace(low, high, 300)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        1, max_context + 2, figsize=(3.0 * (max_context + 2), 2.8), sharey=True, layout="constrained"
    )
    for _ in range(5):  # DGP samples
        x, y = FAMILIES[family](rng, 200)
        order = np.argsort(x[:, 0])
        axes[0].plot(x[order, 0], y[order, 0], lw=1)
    axes[0].set_title(f"{family}: data samples")
    x_task, y_task = FAMILIES[family](np.random.default_rng(seed + 1), 10)
    for k, ax in enumerate(axes[1:]):
        f = function_samples(model, x_task[:k, 0], y_task[:k, 0], grid, num_samples=num_samples, seed=seed)
        ax.plot(grid, f.T, color="tab:blue", alpha=0.15, lw=0.8)
        ax.plot(grid, f.mean(0), color="navy", lw=1.5)
        if k:
            ax.scatter(x_task[:k, 0], y_task[:k, 0], color="black", zorder=5, s=18)
        ax.set_title("BNNP prior" if k == 0 else f"posterior | {k} point{'s' if k > 1 else ''}")
    for ax in axes:
        ax.set_xlabel("x")
    axes[0].set_ylabel("y")
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("toy_samples.png"), help="a PNG, or a folder")
    parser.add_argument(
        "--checkpoints", type=Path, default=None, help="the no-free-lunch study's checkpoints"
    )
    args = parser.parse_args(argv)
    if args.checkpoints is None:
        toy_samples_figure(train_toy_model(progress=True)).savefig(args.out, dpi=120)
        return 0
    from .no_free_lunch import FAMILIES, load_meta_trained

    args.out.mkdir(parents=True, exist_ok=True)
    for family in FAMILIES:
        try:
            model, steps = load_meta_trained(family, args.checkpoints)
        except FileNotFoundError:
            continue
        fig = toy_samples_figure(model, family)
        fig.suptitle(f"BNNP [48, 48] meta-trained on {family} tasks for {steps:,} steps (S = 8)")
        fig.savefig(args.out / f"showcase_{family}.png", dpi=100)
        print(f"wrote {args.out / f'showcase_{family}.png'} ({steps:,} steps)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
