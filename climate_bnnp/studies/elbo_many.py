"""The ELBO study on many fresh datasets from the BNN prior, against an AIS marginal likelihood.

Results and discussion: docs/results/elbo.md.

Each dataset is drawn like the shared one (:func:`~.elbo.make_dataset` with seeds ``first_seed + i``). For
each dataset and σ_y it records the AIS LML (± s.e. over chains, ESS of the final weights; a stochastic lower
bound of the LML, see :mod:`climate_bnnp.inference.ais`), the naive Monte-Carlo LML from ``mc_samples`` prior
draws with its ESS, the ELBO of a BNNP fitted to that dataset alone and the ELBO of a BNNP meta-trained once
per σ_y on the prior (both ± MC s.e.). ``gap = LML_AIS − ELBO`` estimates ``KL[q ‖ p(W | D)] ≥ 0``; the
summary gives its median over datasets with a bootstrap 95 % interval and the worst (largest) gap with its
s.e. Results are rewritten after every dataset, and a rerun with the same ``--out`` and ``--name`` resumes
from them.

    nice -n 15 climate-bnnp study elbo_many --threads 1 --out benchmarks/results --checkpoints ckpt
    climate-bnnp study elbo_many --set ais_temps=4000 --set ais_chains=64  # a longer AIS (its bias)
"""

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .driver import Study, write_results
from .driver import main as driver_main
from .elbo import (
    ElboSize,
    ais_lml,
    bnnp_elbo,
    build_bnnp,
    fit_single_task,
    make_dataset,
    mc_log_marginal,
    meta_train,
    prior_residuals,
)

__all__ = ["ManySize", "STUDY", "dataset_row", "summarise", "run"]


@dataclass(frozen=True, kw_only=True)
class ManySize:
    """How big a run is (``configs/studies/elbo_many_*.yaml``): datasets and their first seed, σ_y values,
    AIS (chains, temperatures, leapfrog steps) and the BNNP and Monte-Carlo sizes (``training``)."""

    num_datasets: int
    noise_values: tuple[float, ...]
    ais_chains: int
    ais_temps: int
    ais_leapfrog: int
    training: ElboSize  # a real class, not a string annotation: the config engine builds it from YAML
    first_seed: int


def dataset_row(
    x: np.ndarray, y: np.ndarray, noise: float, size: ManySize, rss: np.ndarray, meta=None, *, seed: int = 0
) -> dict:
    """All estimates for one dataset and σ_y (``rss``: the naive MC's prior residuals; ``meta``: a BNNP)."""
    tick = time.perf_counter()
    mc, mc_ess = mc_log_marginal(rss, len(x), noise)
    ais = ais_lml(
        x,
        y,
        noise,
        num_chains=size.ais_chains,
        num_temps=size.ais_temps,
        leapfrog=size.ais_leapfrog,
        seed=seed,
    )
    model = build_bnnp(noise, seed=seed)
    fit_single_task(model, x, y, size.training, seed=seed)
    b_elbo, b_se = bnnp_elbo(model, x, y, size.training.eval_samples)
    row = {
        "noise_std": noise,
        "num_points": len(x),
        "ais_lml": ais.log_z,
        "ais_se": ais.se,
        "ais_ess": ais.ess,
        "ais_acceptance": ais.acceptance,
        "ais_evaluations": ais.evaluations,
        "mc_lml": mc,
        "mc_ess": mc_ess,
        "bnnp_elbo": b_elbo,
        "bnnp_se": b_se,
        "gap": ais.log_z - b_elbo,
        "gap_se": math.hypot(ais.se, b_se),
    }
    if meta is not None:
        m_elbo, m_se = bnnp_elbo(meta, x, y, size.training.eval_samples)
        row.update(
            meta_elbo=m_elbo, meta_se=m_se, meta_gap=ais.log_z - m_elbo, meta_gap_se=math.hypot(ais.se, m_se)
        )
    row["seconds"] = time.perf_counter() - tick
    return row


def summarise(rows: list[dict], key: str = "gap", *, resamples: int = 4000, seed: int = 0) -> dict:
    """Median gap with a bootstrap-over-datasets 95 % interval; worst (largest) and smallest gap with s.e."""
    gaps = np.array([r[key] for r in rows])
    ses = np.array([r[f"{key}_se"] for r in rows])
    rng = np.random.default_rng(seed)
    boot = np.median(gaps[rng.integers(0, len(gaps), (resamples, len(gaps)))], axis=1)
    worst, best = int(np.argmax(gaps)), int(np.argmin(gaps))
    return {
        "median": float(np.median(gaps)),
        "median_ci95": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
        "worst": float(gaps[worst]),
        "worst_se": float(ses[worst]),
        "worst_seed": rows[worst]["seed"],
        "smallest": float(gaps[best]),
        "smallest_se": float(ses[best]),
        "num_datasets": len(gaps),
    }


def _markdown(result: dict) -> str:
    size = result["size"]
    lines = [
        "# ELBO vs AIS log marginal likelihood on many BNN-prior datasets (issue 14)",
        "",
        f"{len(result['rows'])} datasets (make_dataset seeds {size['first_seed']}…), ReLU BNN prior "
        f"[20, 20]. AIS: {size['ais_chains']} chains × {size['ais_temps']} temperatures × "
        f"{size['ais_leapfrog']} leapfrog steps, log-uniform β, pilot-tuned HMC step sizes (log Ẑ is a "
        "stochastic lower bound; ± s.e. over chains, ESS of the final weights). "
        f"Naive MC: {size['training']['mc_samples']:.0e} prior draws. "
        f"BNNP single-task: {size['training']['fit_steps']} steps; meta-trained: "
        f"{size['training']['meta_steps']} steps on the prior (B = 5); ELBOs from "
        f"{size['training']['eval_samples']} samples. gap = LML_AIS − ELBO.",
        "",
        "| seed | N | σ_y | AIS LML ± s.e. (ESS) | naive MC LML (ESS) | BNNP ELBO ± s.e. | gap ± s.e. "
        "| meta ELBO | meta gap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        meta = (
            f"{r['meta_elbo']:.2f} ± {r['meta_se']:.2f} | {r['meta_gap']:.2f}"
            if "meta_elbo" in r
            else "– | –"
        )
        lines.append(
            f"| {r['seed']} | {r['num_points']} | {r['noise_std']:g} "
            f"| {r['ais_lml']:.2f} ± {r['ais_se']:.2f} ({r['ais_ess']:.1f}) "
            f"| {r['mc_lml']:.2f} ({r['mc_ess']:.1f}) | {r['bnnp_elbo']:.2f} ± {r['bnnp_se']:.2f} "
            f"| {r['gap']:.2f} ± {r['gap_se']:.2f} | {meta} |"
        )
    lines += [
        "",
        "| σ_y | model | median gap [bootstrap 95 %] | worst gap ± s.e. (seed) | smallest gap ± s.e. |",
    ]
    lines.append("|---|---|---|---|---|")
    for noise, models in result["summary"].items():
        for model, s in models.items():
            low, high = s["median_ci95"]
            lines.append(
                f"| {noise} | {model} | {s['median']:.2f} [{low:.2f}, {high:.2f}] "
                f"| {s['worst']:.2f} ± {s['worst_se']:.2f} ({s['worst_seed']}) "
                f"| {s['smallest']:.2f} ± {s['smallest_se']:.2f} |"
            )
    total = sum(r["seconds"] for r in result["rows"]) / 60
    lines.append(
        f"\nWall time {total:.1f} min over the rows (shared 2-core machine; meta-training not included)."
    )
    return "\n".join(lines) + "\n"


def _load_rows(out: Path | None, name: str, size: ManySize) -> list[dict]:
    """Rows of an earlier run with the same settings (resume; ``num_datasets`` may grow), or none."""
    path = None if out is None else Path(out) / f"{name}.json"
    if path is None or not path.exists():
        return []
    earlier = json.loads(path.read_text())
    settings = json.loads(json.dumps(asdict(replace(size, num_datasets=0))))
    if {**earlier.get("size", {}), "num_datasets": 0} != settings:
        raise ValueError(
            f"{path} holds a run with other settings than {size}; pass another --name or --out to start over"
        )
    return earlier["rows"]


def run(
    size: ManySize,
    out: Path | None = None,
    *,
    checkpoint_dir: Path | None = None,
    seed: int = 0,
    name: str = "elbo_many",
    log=print,
) -> dict:
    """Run the study; with ``out``, write ``out/<name>.{json,md}`` after every dataset, resuming from them."""
    tick = time.perf_counter()
    rows = _load_rows(out, name, size)
    done = {(r["seed"], r["noise_std"]) for r in rows}
    metas = {}  # meta-trained BNNP per σ_y, trained when a row first needs it

    def meta_for(noise: float):
        if size.training.meta_steps > 0 and noise not in metas:
            ckpt = (
                None if checkpoint_dir is None else Path(checkpoint_dir) / f"elbo_many_meta_sigma{noise:g}.pt"
            )
            metas[noise] = meta_train(noise, size.training, checkpoint=ckpt, seed=seed)
        return metas.get(noise)

    result = {"size": asdict(size)}
    for data_seed in range(size.first_seed, size.first_seed + size.num_datasets):
        x, y = make_dataset(data_seed)
        todo = [noise for noise in size.noise_values if (data_seed, noise) not in done]
        rss = (
            prior_residuals(x, y, size.training.mc_samples, batch=size.training.mc_batch, seed=seed)
            if todo
            else None
        )
        for noise in todo:
            row = {"seed": data_seed, **dataset_row(x, y, noise, size, rss, meta_for(noise), seed=seed)}
            rows.append(row)
            log(
                f"seed {data_seed} σ_y={noise:g} N={len(x)}: AIS {row['ais_lml']:.2f} ± {row['ais_se']:.2f} "
                f"(ESS {row['ais_ess']:.1f}), MC {row['mc_lml']:.2f} (ESS {row['mc_ess']:.1f}), "
                f"BNNP {row['bnnp_elbo']:.2f}, gap {row['gap']:.2f} [{row['seconds']:.0f} s]"
            )
        result.update(rows=rows, seconds=time.perf_counter() - tick, summary=_summaries(rows, size))
        if out is not None:
            write_results(Path(out), name, result, _markdown(result))
    return result


def _summaries(rows: list[dict], size: ManySize) -> dict:
    table = {}
    for noise in size.noise_values:
        mine = [r for r in rows if r["noise_std"] == noise]
        keys = ["gap"] + (["meta_gap"] if mine and "meta_gap" in mine[0] else [])
        if mine:
            table[f"{noise:g}"] = {
                {"gap": "single-task", "meta_gap": "meta-trained"}[k]: summarise(mine, k) for k in keys
            }
    return table


STUDY = Study(name="elbo_many", size_type=ManySize, run=run, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(driver_main(STUDY))
