"""Scores of a prediction Dataset against the truth: one table per task, the same for every method.

:func:`score_predictions` takes what :func:`climate_bnnp.predict` returns with ``return_samples=True``
(``mean``, ``predictive_samples`` and, for the density scores, ``f_normalised`` with the noise std) — or a
baseline's prediction in the same layout — plus the truth, and returns an ``xr.Dataset`` of scores per
task (the values of the ``by`` coordinate along ``dim``):

* ``ppd``, ``nll``: the paper's PPD and the mean negative log predictive density per point, in the model's
  normalised units (needs ``truth_normalised``), of the mixture ``(1/S) Σ_s p(y | θ_s)`` of the likelihood
  the prediction's ``likelihood`` attribute names (default ``"gaussian"``), with the per-draw parameters
  from the variables (or attributes) that likelihood lists: Gaussian ``f_normalised`` and
  ``noise_std_normalised``, Bernoulli–Gamma ``bg_prob``, ``bg_shape``, ``bg_scale`` (and ``bg_logit``)
  (:mod:`climate_bnnp.metrics.density`); comparable between models of one likelihood and target transform
  only (a probability at 0 is no density);
* ``mae``: |truth − predictive mean|; ``mae_median``: |truth − predictive median| (the median of the
  predictive samples: the point forecast of least expected absolute error);
* ``crps``: the standard sample CRPS of ``predictive_samples`` (physical units; biased high for a finite
  ensemble); ``crps_fair``: the fair (unbiased) ensemble CRPS, the one to compare methods by;
* ``twcrps``: the fair threshold-weighted CRPS of heavy rain, weight on amounts above
  :data:`HEAVY_RAIN_MM` (chaining function ``max(x, t)``);
* ``spread``, ``skill``: the ensemble spread with the ``(S+1)/S`` correction and the RMSE of the ensemble
  mean (WeatherBench 2's spread–skill; :func:`compare_methods` pools them into the ratio
  ``sqrt(Σ n spread² / Σ n skill²)`` over the tasks' targets, ≈ 1 when calibrated);
* ``coverage90``: the probability that the randomised PIT lies in the central 90 % interval: ties at the
  interval ends (e.g. a dry truth among zero draws) count only in proportion, so a calibrated S-member
  ensemble gives 0.90 for every S, point mass at 0 mm or not;
* ``brier_rain``, ``brier_1mm``, ``brier_5mm``: Brier scores of "truth > t" for the wet threshold
  ``rain_threshold`` and :data:`BRIER_THRESHOLDS_MM`, the probability estimated by the fraction of
  predictive samples above ``t``;
* ``pit`` ``(task, pit_bin)``: the expected histogram of the randomised PIT (flat when calibrated; the many
  exact zeros of dry cells spread over the bins below the dry probability);
* ``num_targets``.

Targets are the cells where ``where`` is True (e.g. ``~is_context``) and the truth is not NaN; a NaN in a
prediction at a target propagates to that task's scores (never skipped silently).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np
import xarray as xr

from climate_bnnp.likelihoods.predictive import PredictiveLikelihood, get_likelihood
from climate_bnnp.metrics.calibration import central_coverage_from_pit, pit_histogram, pit_interval
from climate_bnnp.metrics.density import nll_mixture, ppd_mixture
from climate_bnnp.metrics.ensemble import (
    brier_score_ensemble,
    mae_of_median,
    pooled_spread_skill_ratio,
    spread_skill,
    twcrps_samples,
)
from climate_bnnp.metrics.scores import crps_samples, summarise

__all__ = [
    "RAIN_THRESHOLD_MM",
    "compare_methods",
    "methods_markdown",
    "score_predictions",
]

RAIN_THRESHOLD_MM = 0.1
"""Threshold of the "rain" event of the Brier score ``brier_rain`` (mm per accumulation period): above
storage round-off traces, whatever wet threshold a model was trained with."""
BRIER_THRESHOLDS_MM = (1.0, 5.0)
"""Further Brier-score events ``tp > t`` (mm), reported as ``brier_1mm`` and ``brier_5mm``."""
BRIER_NAMES = tuple(f"brier_{t:g}mm" for t in BRIER_THRESHOLDS_MM)
HEAVY_RAIN_MM = 1.0
"""Threshold of the heavy-rain threshold-weighted CRPS (``twcrps``: weight on amounts above it)."""


def _task_scores(
    y: np.ndarray, pred: dict[str, np.ndarray], z: np.ndarray | None, density, wet: float, bins: int
) -> dict[str, float | np.ndarray]:
    samples = pred["predictive_samples"]  # (S, N)
    out: dict[str, float | np.ndarray] = {"num_targets": float(y.size)}
    if z is not None and density is not None:
        likelihood, params = density
        out["ppd"] = float(ppd_mixture(z, likelihood, params))
        out["nll"] = float(nll_mixture(z, likelihood, params))
    out["mae"] = float(np.mean(np.abs(y - pred["mean"])))
    out["mae_median"] = float(mae_of_median(y, samples))
    out["crps"] = float(np.mean(crps_samples(y, samples)))
    out["crps_fair"] = float(np.mean(crps_samples(y, samples, fair=True)))
    out["twcrps"] = float(np.mean(twcrps_samples(y, samples, HEAVY_RAIN_MM, fair=True)))
    out["spread"], out["skill"] = (float(v) for v in spread_skill(y, samples))
    lo, hi = pit_interval(y, samples)
    out["coverage90"] = float(central_coverage_from_pit(lo, hi, 0.9))
    briers = brier_score_ensemble(y, samples, (wet, *BRIER_THRESHOLDS_MM))  # (T,)
    for name, value in zip(("brier_rain", *BRIER_NAMES), briers, strict=True):
        out[name] = float(value)
    out["pit"] = pit_histogram(lo, hi, bins)
    return out


def _density_params(
    prediction: xr.Dataset, likelihood: PredictiveLikelihood, points: Callable[[xr.DataArray], np.ndarray]
) -> dict[str, np.ndarray] | None:
    """The likelihood's parameters from the prediction's variables (``(S, N)`` or ``(N,)`` via ``points``) or
    attributes (scalars); None when it holds none of them."""

    def get(name: str) -> np.ndarray | None:
        if name in prediction:
            return points(prediction[name])
        return None if name not in prediction.attrs else np.asarray(float(prediction.attrs[name]))

    return likelihood.params_from_variables(get)


def score_predictions(
    prediction: xr.Dataset,
    truth: xr.DataArray,
    *,
    truth_normalised: xr.DataArray | None = None,
    where: xr.DataArray | None = None,
    dim: Hashable | Sequence[Hashable] = "cell",
    by: Hashable | xr.DataArray | None = "task",
    sample_dim: Hashable = "sample",
    rain_threshold: float = RAIN_THRESHOLD_MM,
    pit_bins: int = 10,
) -> xr.Dataset:
    """Scores per task of a prediction Dataset (see the module docstring).

    Args:
        prediction: ``mean (dim)``, ``predictive_samples (sample_dim, dim)`` in the truth's units and,
            optionally, the per-draw parameters of the likelihood its ``likelihood`` attribute names (model
            units; see the module docstring), e.g. ``f_normalised (sample_dim, dim)`` with the noise std as
            the variable or attribute ``noise_std_normalised``.
        truth: the observed values along ``dim`` (physical units).
        truth_normalised: the truth in the model's normalised units (enables ``ppd`` and ``nll``).
        where: boolean along ``dim``: the cells to score (default: every cell with a truth).
        dim: the points dimension, or several (e.g. ``("task", "latitude", "longitude")`` of a gridded
            prediction store), read as one points axis in C order.
        by: a coordinate along ``dim`` naming the task of each point, or such a DataArray over ``dim``
            (None: one task). Integer labels below 0 mark points of no task (not scored).
        rain_threshold: the Brier score's event "truth > rain_threshold".
        pit_bins: bins of the PIT histogram.

    Returns:
        Dataset over ``by`` (a dimension named like the coordinate) with the scores.

    Raises:
        ValueError: missing variables (some but not all of the likelihood's parameters, too), an unknown
            likelihood, or a task with no target.
    """
    missing = [v for v in ("mean", "predictive_samples") if v not in prediction]
    if missing:
        raise ValueError(
            f"prediction lacks {missing}; call climate_bnnp.predict(..., return_samples=True), which adds "
            f"predictive_samples (it has {sorted(map(str, prediction.data_vars))})."
        )
    keep = truth.notnull()
    if where is not None:
        keep = keep & where.astype(bool)
    dims = (dim,) if isinstance(dim, str) or not isinstance(dim, Sequence) else tuple(dim)

    def points(a: xr.DataArray) -> np.ndarray:  # (..., N): the dims of ``dims`` as one points axis
        a = a.transpose(..., *dims)
        return a.values.reshape(*a.shape[: a.ndim - len(dims)], -1)

    n_points = int(np.prod([truth.sizes[d] for d in dims]))
    if by is None:
        groups = np.zeros(n_points, dtype=np.int64)
    else:
        groups = points(by if isinstance(by, xr.DataArray) else truth[by])
    labels = np.unique(groups)
    labels = labels[labels >= 0] if np.issubdtype(labels.dtype, np.integer) else labels  # < 0: no task
    likelihood = get_likelihood(prediction.attrs.get("likelihood", "gaussian"))
    params = _density_params(prediction, likelihood, points)  # None: no density to score
    arrays = {n: points(prediction[n]) for n in ("mean", "predictive_samples")}  # (S, N) or (N,)
    y_all, keep_all = points(truth), points(keep)
    z_all = None if truth_normalised is None else points(truth_normalised)
    rows = []
    for label in labels:
        index = np.flatnonzero((groups == label) & keep_all)
        if index.size == 0:
            raise ValueError(f"task {label} has no target cell to score (all masked or NaN truth).")
        pred = {n: a[..., index] for n, a in arrays.items()}
        density = None
        if params is not None:  # per-point parameters sliced to the task; attributes (scalars) as they are
            density = likelihood, {n: a if np.ndim(a) == 0 else a[..., index] for n, a in params.items()}
        z = None if z_all is None else z_all[index]
        rows.append(_task_scores(y_all[index], pred, z, density, rain_threshold, pit_bins))
    task_dim = "task" if by is None else str(by.name if isinstance(by, xr.DataArray) else by)
    out = xr.Dataset(
        {k: ((task_dim,), np.array([r[k] for r in rows])) for k in rows[0] if k != "pit"},
        coords={task_dim: labels},
    )
    out["pit"] = ((task_dim, "pit_bin"), np.stack([r["pit"] for r in rows]))
    out = out.assign_coords(pit_bin=("pit_bin", (np.arange(pit_bins) + 0.5) / pit_bins))
    units = str(truth.attrs.get("units", ""))
    for name, text in (("mae", units), ("crps", units), ("ppd", "normalised"), ("nll", "normalised")):
        if name in out:
            out[name].attrs["units"] = text
    out.attrs["rain_threshold"] = float(rain_threshold)
    return out


SUMMARY_SCORES = (
    "ppd", "nll", "mae", "mae_median", "crps", "crps_fair", "twcrps", "coverage90", "brier_rain", *BRIER_NAMES
)  # fmt: skip
PAIRED_SCORES = ("crps_fair", "mae_median")


def compare_methods(
    scores: Mapping[str, xr.Dataset], groups: xr.DataArray, *, reference: str, task_dim: Hashable = "task"
) -> xr.Dataset:
    """Mean ± standard error over tasks of each method's scores per group (e.g. protocol), the pooled
    spread–skill ratio ``sqrt(Σ_n spread² / Σ_n skill²)`` over the group's target points, and the paired
    difference ``method − reference`` (± its standard error over tasks) of :data:`PAIRED_SCORES` (the fair
    CRPS and the MAE of the predictive median).

    Args:
        scores: method name -> :func:`score_predictions` output (the same tasks for every method).
        groups: the group of each task, along ``task_dim``.
        reference: the method the paired differences are taken against.

    Raises:
        ValueError: an unknown reference, or methods scored on different tasks or target counts.
    """
    if reference not in scores:
        raise ValueError(f"reference {reference!r} is not among the methods {list(scores)}.")
    ref = scores[reference]
    for name, ds in scores.items():
        same = ds.sizes == ref.sizes and all(np.array_equal(ds[c].values, ref[c].values) for c in ref.coords)
        if not (same and np.array_equal(ds["num_targets"].values, ref["num_targets"].values)):
            raise ValueError(
                f"{name!r} was scored on other tasks or cells than {reference!r}; pair like with like."
            )
    labels = list(dict.fromkeys(np.asarray(groups.values).tolist()))
    shape = (len(scores), len(labels))
    table: dict[str, np.ndarray] = {}
    for i, ds in enumerate(scores.values()):
        for j, label in enumerate(labels):
            tasks = np.asarray(groups.values) == label
            table.setdefault("num_tasks", np.full(shape, np.nan))[i, j] = tasks.sum()
            for name in SUMMARY_SCORES:
                if name in ds:
                    mean, se = summarise(ds[name].values[tasks])
                    table.setdefault(f"{name}_mean", np.full(shape, np.nan))[i, j] = mean
                    table.setdefault(f"{name}_se", np.full(shape, np.nan))[i, j] = se
            if "spread" in ds:  # pooled over the group's tasks, weighted by their targets
                ratio = pooled_spread_skill_ratio(
                    ds["spread"].values[tasks], ds["skill"].values[tasks], ds["num_targets"].values[tasks]
                )
                table.setdefault("spread_skill_mean", np.full(shape, np.nan))[i, j] = ratio
                table.setdefault("spread_skill_se", np.full(shape, np.nan))[i, j] = np.nan
            for name in PAIRED_SCORES:
                mean, se = summarise(ds[name].values[tasks] - ref[name].values[tasks])
                table.setdefault(f"{name}_diff_mean", np.full(shape, np.nan))[i, j] = mean
                table.setdefault(f"{name}_diff_se", np.full(shape, np.nan))[i, j] = se
    out = xr.Dataset(
        {k: (("model", "group"), v) for k, v in table.items()},
        coords={"model": list(scores), "group": labels},
    )
    out.attrs["reference"] = reference
    return out


def _mean_se(mean: float, se: float) -> str:
    if np.isnan(mean):
        return "—"  # not scored for this method (e.g. a density of another likelihood family)
    return f"{mean:.4f}" if np.isnan(se) else f"{mean:.4f} ± {se:.4f}"


def methods_markdown(summary: xr.Dataset, *, units: str = "mm") -> list[str]:
    """Markdown table lines of :func:`compare_methods` output (one row per method and group); scores in
    ``units`` except PPD/NLL (the likelihood's normalised units), coverage, the ratio and Brier scores."""
    ref = summary.attrs["reference"]
    heads = {"ppd": "PPD ↑", "nll": "NLL ↓", "mae": "MAE mean ↓", "mae_median": "MAE median ↓",
             "crps": "CRPS ↓", "crps_fair": "fair CRPS ↓", "twcrps": f"twCRPS >{HEAVY_RAIN_MM:g} ↓",
             "spread_skill": "spread/skill", "coverage90": "90% cov.",
             "brier_rain": f"Brier >{RAIN_THRESHOLD_MM:g} ↓",
             **{n: f"Brier >{t:g} ↓" for n, t in zip(BRIER_NAMES, BRIER_THRESHOLDS_MM, strict=True)}
             }  # fmt: skip
    names = [n for n in (*SUMMARY_SCORES, "spread_skill") if f"{n}_mean" in summary]
    diffs = [f"Δ {heads[n].removesuffix(' ↓')} vs {ref}" for n in PAIRED_SCORES]
    lines = [
        "| method | group | tasks | "
        + " | ".join(heads[n] for n in names)
        + " | "
        + " | ".join(diffs)
        + " |",
        "|---" * (3 + len(names) + len(diffs)) + "|",
    ]
    for method in summary["model"].values:
        for group in summary["group"].values:
            row = summary.sel(model=method, group=group)
            cells = [_mean_se(float(row[f"{n}_mean"]), float(row[f"{n}_se"])) for n in names]
            cells += [
                "—"
                if method == ref
                else f"{float(row[f'{n}_diff_mean']):+.4f} ± {float(row[f'{n}_diff_se']):.4f}"
                for n in PAIRED_SCORES
            ]
            lines.append(f"| {method} | {group} | {int(row['num_tasks'])} | " + " | ".join(cells) + " |")
    return lines
