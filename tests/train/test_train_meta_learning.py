"""Meta-training works: on GP tasks (known kernel, so the exact GP predictive is the oracle) a learned
prior (ρ = 1) beats the standard prior (ρ = 0) and approaches the exact GP's log predictive density, with
thresholds that the standard prior fails."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from climate_bnnp import BNNP
from climate_bnnp.config import TrainConfig
from climate_bnnp.metrics import mean_log_predictive_density
from climate_bnnp.tasks import TaskSampler, exact_gp_predictive, family_source
from climate_bnnp.train import fit

# Measured (300 steps, 24 held-out tasks, S = 500), nats per point, mean ± s.e. over the tasks:
#                                  seed 0         seed 1         seed 2
#   learned − standard (paired)    +0.40 ± 0.11   +0.54 ± 0.16   +1.27 ± 0.77
#   exact GP − learned             +0.78 ± 0.17   +0.80 ± 0.23   +0.70 ± 0.18
#   exact GP − standard            +1.18 ± 0.25   +1.34 ± 0.36   +1.97 ± 0.90
# (`python tests/train/test_train_meta_learning.py 0 1 2` prints these). Seed 0 is asserted; the thresholds
# hold for all three seeds, except that seed 2's gain is only 1.6 s.e. (one task where the standard prior
# fails).
MARGIN = 0.2  # mean paired gain of the learned prior, nats per point (measured: at least 0.40)
SIGNIFICANCE = 2.0  # ... and in standard errors of that mean (seed 0: 3.7)
GAP = 1.0  # the learned prior trails the exact GP by less than this (≤ 0.80), the standard by more (≥ 1.18)

STEPS = 300  # meta-training steps per prior
SAMPLES = 500  # weight samples per held-out task (at S = 200, exact GP − learned is 1.01 on seed 2)
GP = dict(lengthscale=1.0, noise=0.1, x_range=(-2.0, 2.0))
NOISE = GP["noise"]


def _meta_train(fraction: float, seed: int, steps: int) -> BNNP:
    torch.manual_seed(seed)
    model = BNNP(
        hidden_dims=(32, 32),
        inf_hidden_dims=(32, 32),
        activation="silu",
        prior_learnable_fraction=fraction,
        noise_init=NOISE,
        learn_noise=False,
    )
    sampler = TaskSampler(
        family_source("gp", min_points=10, max_points=30, **GP), context_fraction=(0.1, 0.7)
    )
    fit(
        model,
        sampler,
        TrainConfig(steps=steps, num_samples=8, lr=3e-3, final_lr=3e-4, seed=seed, device="cpu"),
        progress=False,
    )
    return model.eval()


def _held_out_scores(
    model: BNNP, seed: int, num_tasks: int = 24, num_samples: int = SAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """Per-task mean log predictive density per point: the BNNP and the exact GP, ``(num_tasks,)`` each."""
    rng = np.random.default_rng(10_000 + seed)
    source = family_source("gp", min_points=30, max_points=30, **GP)
    bnnp, exact = [], []
    for _ in range(num_tasks):
        x, y = source(rng)
        nc = int(rng.integers(3, 15))
        xc, yc, xt, yt = x[:nc], y[:nc], x[nc:], y[nc:]
        t = lambda a: torch.from_numpy(a)[None].to(torch.get_default_dtype())  # noqa: E731
        with torch.no_grad():
            f = model(t(xc).double(), t(yc).double(), t(xt).double(), num_samples=num_samples).ft[:, 0, :, 0]
        bnnp.append(mean_log_predictive_density(yt[:, 0], f.numpy(), NOISE))
        mean, var = exact_gp_predictive(xc, yc, xt, lengthscale=GP["lengthscale"], noise=NOISE)
        exact.append(np.mean(-0.5 * np.log(2 * np.pi * var) - 0.5 * (yt[:, 0] - mean) ** 2 / var))
    return np.asarray(bnnp), np.asarray(exact)


def _prior_scores(fraction: float, seed: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-task scores of a prior meta-trained with learnable ``fraction``, and of the exact GP (1 thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _held_out_scores(_meta_train(fraction, seed, steps), seed)
    finally:
        torch.set_num_threads(threads)


def _scores(seed: int, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-task scores of the learned prior, the standard prior and the exact GP.

    The two priors train side by side on one thread each: the standard one in a child process (this file
    run with ``--standard``), so the test takes half the wall time on two cores.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "standard.npy"
        child = subprocess.Popen(
            [sys.executable, __file__, "--standard", str(seed), str(steps), str(out)],
            env=os.environ | {"OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            learned, exact = _prior_scores(1.0, seed, steps)
        except BaseException:
            child.kill()
            raise
        finally:
            err = child.communicate()[1]
        assert child.returncode == 0, f"the standard prior's process failed: {err[-3000:]}"
        return learned, np.load(out), exact


@pytest.mark.slow
def test_learned_prior_beats_standard_prior_and_approaches_the_exact_gp():
    learned, standard, exact = _scores(seed=0)
    gain = learned - standard  # paired over the same held-out tasks
    se = gain.std(ddof=1) / np.sqrt(len(gain))
    assert gain.mean() > max(MARGIN, SIGNIFICANCE * se), (gain.mean(), se)
    assert (exact - learned).mean() < GAP < (exact - standard).mean(), (
        (exact - learned).mean(),
        (exact - standard).mean(),
    )


if __name__ == "__main__":
    if sys.argv[1] == "--standard":  # the child process of _scores: SEED STEPS OUT.npy
        np.save(sys.argv[4], _prior_scores(0.0, int(sys.argv[2]), int(sys.argv[3]))[0])
        sys.exit()
    for arg in sys.argv[1:]:  # the measurements quoted above, per seed
        scores = dict(zip(("learned", "standard", "exact"), _scores(int(arg)), strict=True))
        for name, a, b in (
            ("learned - standard", "learned", "standard"),
            ("exact - learned", "exact", "learned"),
            ("exact - standard", "exact", "standard"),
        ):
            d = scores[a] - scores[b]
            print(f"seed {arg}: {name}: {d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(len(d)):.2f}")
