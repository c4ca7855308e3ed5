"""Goldilocks: the prior-flexibility knob ρ under data starvation, on the bundled ERA5 sample.

Results and discussion: docs/results/goldilocks.md.

The paper's abalone data cannot be installed offline, so the data-starvation protocol is rebuilt on the ERA5
sample (global 1°, 24 hourly snapshots): three disjoint 30° × 30° tropical tiles (900 cells each),

* training regions (the only 2 training datasets, as abalone's 2 sexes): Indian Ocean
  (15° S–15° N, 60–90° E) and the Maritime Continent (15° S–15° N, 90–120° E), time steps 0–15;
* test region: West Pacific (15° S–15° N, 150–180° E) at ``num_test_tasks`` time steps drawn (seed 69)
  from 16–23, each split like the paper's cube split in input space (:func:`cube_split`).

Inputs are the covariates ``t2m, msl, u10, v10`` (no position, so the regions share one input space, as the
abalone tasks do); the target is ``log1p(tp [mm/h])``. Inputs and target are z-scored with the two training
regions' statistics (their training times). Gaussian likelihood, σ_y learned (init 0.3, bound 2).

Each training step draws B tasks, each one of the two regions at a random training time, ``points_per_task``
random cells of it, split with context proportion U(0.1, 0.5). BNNP: BNN and inference nets ``hidden``, ReLU
(MFVI here supports ReLU/tanh only, and all three methods share the network), full unit-wise prior with a
fraction ρ learnable (:meth:`~climate_bnnp.models.BNNP.set_prior_learnable_fraction`, counted from the
input layer), PP-AVI. Baselines fitted on each test context alone: MFVI
(:class:`~climate_bnnp.inference.MeanFieldBNN`, σ_y fixed at GIVI's fitted value for that task) and GIVI
(:mod:`climate_bnnp.inference.givi`). Metrics on the test targets (:mod:`climate_bnnp.metrics`): PPD and MAE
per task, averaged over the test tasks of a seed; tables give mean ± s.e. over seeds, and paired differences
(per seed, same test tasks) of each ρ against ρ = 0 and ρ = 1.

    climate-bnnp study goldilocks [--quick] --out results/studies/goldilocks

Every (ρ, seed) model and every seed's baselines are saved under ``<out>/runs/`` as they finish, so an
interrupted run continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig
from ..data import open_sample, standardise
from ..inference import MeanFieldBNN, fit_givi
from ..metrics import mae, ppd, summarise
from ..models import BNNP
from ..tasks import TaskSampler
from ..train import fit
from .driver import Study, cached_json, check_runs_size, write_results
from .driver import main as driver_main

__all__ = [
    "REGIONS",
    "TRAIN_REGIONS",
    "TEST_REGION",
    "FEATURES",
    "GoldilocksSize",
    "STUDY",
    "RegionData",
    "load_regions",
    "cube_split",
    "test_tasks",
    "training_source",
    "build_model",
    "train_model",
    "evaluate_bnnp",
    "fit_mfvi",
    "evaluate_baselines",
    "aggregate",
    "run",
]

# (lat_min, lat_max, lon_min, lon_max), inclusive, degrees: 30 × 30 cells each on the sample's 1° grid.
REGIONS = {
    "Indian Ocean": (-15, 14, 60, 89),
    "Maritime Continent": (-15, 14, 90, 119),
    "West Pacific": (-15, 14, 150, 179),
}
TRAIN_REGIONS = ("Indian Ocean", "Maritime Continent")
TEST_REGION = "West Pacific"
FEATURES = ("t2m", "msl", "u10", "v10")
TRAIN_TIMES = range(0, 16)
TEST_TIMES = range(16, 24)
TEST_SEED = 69


@dataclass(frozen=True, kw_only=True)
class GoldilocksSize:
    """How big a run is (``configs/studies/goldilocks_*.yaml``): training (steps, S, B, cells per task,
    widths, learning rates), the sweep (ρ values, seeds) and the evaluation sizes."""

    steps: int
    num_samples: int
    batch_size: int
    points_per_task: int
    hidden: tuple[int, ...]
    rhos: tuple[float, ...]
    seeds: tuple[int, ...]
    num_test_tasks: int
    eval_samples: int
    baseline_steps: int
    lr: float
    final_lr: float


@dataclass(frozen=True)
class RegionData:
    """One region's z-scored inputs ``x (T, N, Dx)`` and target ``y (T, N, 1)`` (all 24 time steps)."""

    x: np.ndarray
    y: np.ndarray


def load_regions(ds=None) -> dict[str, RegionData]:
    """The three regions of the ERA5 sample, z-scored with the training regions' training-time statistics."""
    if ds is None:
        ds = standardise(open_sample(), source="sample")
    raw = {}
    for name, (lat0, lat1, lon0, lon1) in REGIONS.items():
        box = ds.sel(latitude=slice(lat0, lat1), longitude=slice(lon0, lon1))
        flat = {v: box[v].values.astype(np.float64).reshape(box.sizes["time"], -1) for v in (*FEATURES, "tp")}
        x = np.stack([flat[v] for v in FEATURES], -1)  # (T, N, Dx)
        y = np.log1p(np.clip(flat["tp"], 0.0, None))[..., None]  # (T, N, 1)
        raw[name] = (x, y)
    train = [raw[r] for r in TRAIN_REGIONS]
    x_fit = np.concatenate([x[list(TRAIN_TIMES)].reshape(-1, len(FEATURES)) for x, _ in train])
    y_fit = np.concatenate([y[list(TRAIN_TIMES)].ravel() for _, y in train])
    x_mean, x_std, y_mean, y_std = x_fit.mean(0), x_fit.std(0), y_fit.mean(), y_fit.std()
    return {k: RegionData((x - x_mean) / x_std, (y - y_mean) / y_std) for k, (x, y) in raw.items()}


def cube_split(
    x: np.ndarray, rng: np.random.Generator, *, cube_fraction: float = 0.2, target_fraction: float = 0.75
) -> tuple[np.ndarray, np.ndarray]:
    """Context and target indices of the cube split (the paper's, adapted to a shifted test region).

    All points inside an axis-aligned cube around the task's mean input (half-width: the ``cube_fraction``
    quantile of the points' max-norm distance to it) are targets, so the targets include an input region
    the context never sees; random outside points are added until ``target_fraction`` of all are targets.
    The paper centres the cube at the origin of the training-normalised space; the test region here is
    shifted away from it, so the cube is centred on the test task itself.
    """
    if not (0.0 < cube_fraction <= target_fraction < 1.0):
        raise ValueError(
            f"need 0 < cube_fraction <= target_fraction < 1, got {cube_fraction} and {target_fraction}."
        )
    distance = np.abs(x - x.mean(0)).max(-1)
    half_width = np.quantile(distance, cube_fraction)
    inside = np.flatnonzero(distance <= half_width)
    outside = rng.permutation(np.flatnonzero(distance > half_width))
    extra = max(int(round(target_fraction * len(x))) - len(inside), 0)
    target = np.sort(np.concatenate([inside, outside[:extra]]))
    return np.sort(outside[extra:]), target


def test_tasks(data: dict[str, RegionData], num_tasks: int, *, seed: int = TEST_SEED):
    """``num_tasks`` test tasks of the test region (time steps drawn from ``TEST_TIMES``), cube-split.

    Returns:
        A list of ``(xc, yc, xt, yt)`` with ``x (N, Dx)``, ``y (N, 1)``.
    """
    rng = np.random.default_rng(seed)
    region = data[TEST_REGION]
    times = rng.choice(list(TEST_TIMES), size=num_tasks, replace=False)
    tasks = []
    for t in sorted(times):
        context, target = cube_split(region.x[t], rng)
        tasks.append((region.x[t, context], region.y[t, context], region.x[t, target], region.y[t, target]))
    return tasks


def training_source(data: dict[str, RegionData], points: int):
    """A task source: one training region at a random training time, ``points`` random cells of it."""

    def source(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        region = data[TRAIN_REGIONS[rng.integers(len(TRAIN_REGIONS))]]
        t = rng.choice(list(TRAIN_TIMES))
        cells = rng.choice(region.x.shape[1], size=points, replace=False)
        return region.x[t, cells], region.y[t, cells]

    return source


def build_model(rho: float, size: GoldilocksSize, *, seed: int = 0) -> BNNP:
    """BNN ``size.hidden`` (ReLU), inference nets of the same widths, full prior with fraction ρ learnable."""
    torch.manual_seed(seed)
    model = BNNP(
        dim_x=len(FEATURES), dim_y=1, hidden_dims=size.hidden, inf_hidden_dims=size.hidden, activation="relu",
        prior_type="full", noise_init=0.3, noise_bound=2.0,
    ).to(torch.float64)  # fmt: skip
    model.set_prior_learnable_fraction(rho, seed=seed)
    return model


def train_model(
    data: dict[str, RegionData],
    rho: float,
    size: GoldilocksSize,
    *,
    seed: int = 0,
    checkpoint: Path | None = None,
) -> BNNP:
    """Meta-train with PP-AVI on the two training regions (context U(0.1, 0.5)); resumes from checkpoint."""
    model = build_model(rho, size, seed=seed)
    sampler = TaskSampler(training_source(data, size.points_per_task), context_fraction=(0.1, 0.5), seed=seed)
    config = TrainConfig(
        objective="pp_avi", steps=size.steps, batch_size=size.batch_size, num_samples=size.num_samples,
        lr=size.lr, final_lr=size.final_lr, device="cpu", seed=seed,
        checkpoint_every=max(size.steps // 5, 1),
    )  # fmt: skip
    fit(model, sampler, config, checkpoint_path=checkpoint, progress=False)
    return model


def _as_batch(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64)[None]


def _scores(yt: np.ndarray, f: np.ndarray, sigma: float) -> tuple[float, float]:
    """The paper's PPD (log of the predictive density averaged over samples and target points) and the MAE
    of the predictive mean; ``f (S, Nt)``."""
    return float(ppd(yt[:, 0], f, sigma)), float(mae(yt[:, 0], f.mean(0)))


@torch.no_grad()
def evaluate_bnnp(model: BNNP, tasks, num_samples: int) -> dict[str, list[float]]:
    """Per test task PPD and MAE of a (meta-trained or GIVI) BNNP, with its learned σ_y."""
    model.eval()
    sigma = float(model.noise_std()[0])
    rows = []
    for xc, yc, xt, yt in tasks:
        out = model(_as_batch(xc), _as_batch(yc), _as_batch(xt), num_samples=num_samples)
        rows.append(_scores(yt, out.ft[:, 0, :, 0].numpy(), sigma))  # ft (S, 1, Nt, 1)
    return {"ppd": [r[0] for r in rows], "mae": [r[1] for r in rows], "noise_std": sigma}


def fit_mfvi(
    x: np.ndarray, y: np.ndarray, size: GoldilocksSize, *, noise_std: float, seed: int = 0
) -> MeanFieldBNN:
    """Mean-field VI on one context (``size.baseline_steps`` Adam steps, lr 10 × ``size.lr`` decayed linearly
    by the factor ``size.final_lr / size.lr``)."""
    torch.manual_seed(seed)
    model = MeanFieldBNN(size.hidden, noise_std=noise_std, dim_x=x.shape[1], activation="relu", seed=seed)
    xs, ys = torch.as_tensor(x), torch.as_tensor(y[:, 0])
    model.fit(
        xs,
        ys,
        steps=size.baseline_steps,
        lr=10 * size.lr,
        final_lr=10 * size.final_lr,
        num_samples=size.num_samples,
    )
    return model


def evaluate_baselines(tasks, size: GoldilocksSize, *, seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """GIVI and MFVI fitted on each test context alone; per-task PPD and MAE (MFVI with GIVI's σ_y).

    GIVI: ``size.baseline_steps`` Adam steps, lr 10 × ``size.lr`` → ``size.final_lr``, S = ``num_samples``.
    """
    out: dict[str, dict[str, list]] = {"GIVI": {"ppd": [], "mae": [], "noise_std": []}}
    out["MFVI"] = {"ppd": [], "mae": [], "noise_std": []}
    for xc, yc, xt, yt in tasks:
        givi = fit_givi(
            xc, yc, size.hidden, steps=size.baseline_steps, num_samples=size.num_samples,
            lr=10 * size.lr, final_lr=size.final_lr, seed=seed,
        )  # fmt: skip
        scores = evaluate_bnnp(givi, [(xc, yc, xt, yt)], size.eval_samples)
        sigma = scores["noise_std"]
        mfvi = fit_mfvi(xc, yc, size, noise_std=sigma, seed=seed)
        with torch.no_grad():
            f = mfvi.sample_functions(torch.as_tensor(xt), size.eval_samples).numpy()
        for name, (p, m) in (("GIVI", (scores["ppd"][0], scores["mae"][0])), ("MFVI", _scores(yt, f, sigma))):
            out[name]["ppd"].append(p)
            out[name]["mae"].append(m)
            out[name]["noise_std"].append(sigma)
    return out


def _over_seeds(values) -> dict[str, float]:
    mean, se = summarise(np.asarray(values, dtype=np.float64))
    return {"mean": mean, "se": se}


def aggregate(per_seed: dict[str, dict[int, dict]]) -> dict:
    """Per method: PPD and MAE averaged over test tasks per seed, then mean ± s.e. over seeds; and, for each
    ρ, the paired per-seed differences against ρ = 0 and ρ = 1 (PPD: ρ − ref, ↑ better; MAE: ρ − ref, ↓)."""
    seed_means = {
        method: {s: {k: float(np.mean(r[k])) for k in ("ppd", "mae")} for s, r in rows.items()}
        for method, rows in per_seed.items()
    }
    table = {
        method: {k: _over_seeds([v[k] for v in rows.values()]) for k in ("ppd", "mae")}
        for method, rows in seed_means.items()
    }
    paired = {}
    for method, rows in seed_means.items():
        if not method.startswith("rho="):
            continue
        for ref in ("rho=0", "rho=1"):
            if ref not in seed_means or ref == method:
                continue
            seeds = sorted(set(rows) & set(seed_means[ref]))
            paired.setdefault(method, {})[ref] = {
                k: _over_seeds([rows[s][k] - seed_means[ref][s][k] for s in seeds]) for k in ("ppd", "mae")
            }
    return {"table": table, "paired": paired, "seed_means": seed_means}


def _label(rho: float) -> str:
    return f"rho={rho:g}"


def _markdown(summary: dict, size: GoldilocksSize, seconds: float) -> str:
    table, paired = summary["table"], summary["paired"]
    lines = [
        "# Goldilocks: prior flexibility ρ under data starvation (ERA5-sample protocol)",
        "",
        f"2 training regions ({', '.join(TRAIN_REGIONS)}; times 0–15), test region {TEST_REGION} "
        f"({size.num_test_tasks} time steps from 16–23, cube split: 75 % targets incl. a 20 % input-space "
        f"cube). Inputs {', '.join(FEATURES)}; target log1p(tp), z-scored with the training regions. "
        f"BNNP {list(size.hidden)} ReLU, PP-AVI {size.steps} steps, S = {size.num_samples}, "
        f"B = {size.batch_size}, {size.points_per_task} cells per training task; GIVI/MFVI "
        f"{size.baseline_steps} steps on each test context. {len(size.seeds)} seeds; "
        f"{size.eval_samples} posterior samples. Mean ± s.e. over seeds of the per-seed mean over test "
        f"tasks; PPD = log of the predictive density averaged over samples and target points (↑), MAE of "
        f"the predictive mean (↓), in z-scored units. "
        f"Paired Δ: per seed, this row minus ρ = 0 (or ρ = 1), mean ± s.e. over seeds. "
        f"Wall time of this invocation (runs reused from `runs/` cost nothing) {seconds / 60:.1f} min.",
        "",
        "| method | PPD | MAE | ΔPPD vs ρ = 0 | ΔPPD vs ρ = 1 | ΔMAE vs ρ = 0 | ΔMAE vs ρ = 1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, row in table.items():
        deltas = []
        for k in ("ppd", "mae"):
            for ref in ("rho=0", "rho=1"):
                d = paired.get(method, {}).get(ref)
                deltas.append("" if d is None else f"{d[k]['mean']:+.3f} ± {d[k]['se']:.3f}")
        lines.append(
            f"| {method.replace('rho=', 'BNNP ρ = ')} | {row['ppd']['mean']:.3f} ± {row['ppd']['se']:.3f} | "
            f"{row['mae']['mean']:.3f} ± {row['mae']['se']:.3f} | " + " | ".join(deltas) + " |"
        )
    return "\n".join(lines) + "\n"


def _figure(summary: dict, path: Path) -> None:
    """PPD and MAE against ρ with the baselines as bands, and the paired ΔPPD against ρ = 0 (the signal)."""
    import matplotlib.pyplot as plt  # only when drawing

    from ..plot import save_figure

    table, paired = summary["table"], summary["paired"]
    rhos = sorted(float(m[4:]) for m in table if m.startswith("rho="))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    for ax, key, name in zip(axes, ("ppd", "mae"), ("PPD (↑)", "MAE (↓)"), strict=False):
        mean = np.array([table[_label(r)][key]["mean"] for r in rhos])
        se = np.array([table[_label(r)][key]["se"] for r in rhos])
        ax.errorbar(rhos, mean, yerr=se, marker="o", capsize=3, color="C0", label="BNNP (meta-trained)")
        for colour, method in (("C1", "GIVI"), ("C2", "MFVI")):
            if method in table:
                m, s = table[method][key]["mean"], table[method][key]["se"]
                ax.axhline(m, color=colour, label=f"{method} (test context only)")
                ax.axhspan(m - s, m + s, color=colour, alpha=0.2)
        ax.set_ylabel(name)
    deltas = [paired.get(_label(r), {}).get("rho=0", {"ppd": {"mean": 0.0, "se": 0.0}})["ppd"] for r in rhos]
    axes[2].errorbar(rhos, [d["mean"] for d in deltas], yerr=[d["se"] for d in deltas], marker="o", capsize=3)
    axes[2].axhline(0.0, color="k", lw=0.8)
    axes[2].set_ylabel("paired ΔPPD vs ρ = 0 (↑)")
    for ax in axes:
        ax.set_xlabel("fraction of learnable prior parameters ρ")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Goldilocks on ERA5 (2 training regions, test {TEST_REGION}); mean ± s.e. over seeds")
    save_figure(fig, path, close=True)


def run(size: GoldilocksSize, out: Path | None = None, *, name: str = "results", log=print) -> dict:
    """Train every (ρ, seed), fit the baselines per seed, write ``out/<name>.{json,md}`` and
    ``out/goldilocks.png``; return the results. Finished pieces are kept under ``out/runs`` and reused."""
    tick = time.perf_counter()
    data = load_regions()
    tasks = test_tasks(data, size.num_test_tasks)
    runs = None if out is None else Path(out) / "runs"
    if runs is not None:
        check_runs_size(runs, size)
    per_seed: dict[str, dict[int, dict]] = {}
    for seed in size.seeds:
        for rho in size.rhos:
            stem = None if runs is None else runs / f"rho{rho:.1f}_seed{seed}"  # no Path.with_suffix: "0.5"

            def bnnp_scores(rho=rho, seed=seed, stem=stem):
                ckpt = None if stem is None else Path(f"{stem}.pt")
                return evaluate_bnnp(train_model(data, rho, size, seed=seed, checkpoint=ckpt), tasks,
                                     size.eval_samples)  # fmt: skip

            row = cached_json(None if stem is None else Path(f"{stem}.json"), bnnp_scores)
            per_seed.setdefault(_label(rho), {})[seed] = row
            log(f"seed {seed} ρ {rho:.1f}: PPD {np.mean(row['ppd']):7.3f}  MAE {np.mean(row['mae']):.3f}  "
                f"σ_y {row['noise_std']:.3f}  [{time.perf_counter() - tick:.0f} s]")  # fmt: skip
        base = cached_json(
            None if runs is None else runs / f"baselines_seed{seed}.json",
            lambda seed=seed: evaluate_baselines(tasks, size, seed=seed),
        )
        for method, row in base.items():
            per_seed.setdefault(method, {})[seed] = row
            log(f"seed {seed} {method}: PPD {np.mean(row['ppd']):7.3f}  MAE {np.mean(row['mae']):.3f}")
    summary = aggregate(per_seed)
    seconds = time.perf_counter() - tick
    result = {
        "size": asdict(size),
        "regions": {k: list(v) for k, v in REGIONS.items()},
        "train_regions": list(TRAIN_REGIONS),
        "test_region": TEST_REGION,
        "features": list(FEATURES),
        "test_context_sizes": [len(t[0]) for t in tasks],
        "per_seed": {m: {str(s): r for s, r in rows.items()} for m, rows in per_seed.items()},
        **summary,
        "seed_means": {m: {str(s): r for s, r in rows.items()} for m, rows in summary["seed_means"].items()},
        "seconds": seconds,
    }
    if out is not None:
        write_results(Path(out), name, result, _markdown(summary, size, seconds))
        _figure(summary, Path(out) / "goldilocks.png")
    return result


STUDY = Study(
    name="goldilocks", size_type=GoldilocksSize, run=run, doc=__doc__, checkpoints=False, basename="results"
)


if __name__ == "__main__":
    raise SystemExit(driver_main(STUDY))
