"""Seeded ``climate_bnnp.predict`` outputs, saved to compare the package's numbers before and after a change.

Writes one netCDF file per case (Gaussian models with the identity and log1p tp transforms, a Gaussian
baseline prediction, a Bernoulli–Gamma model) into ``--out``; ``--compare OTHER`` then reports, per case
and variable, whether the arrays and attributes are bit-identical to those in ``OTHER`` and, where not, the
largest difference and whether the new values are the old ones clipped at 0 mm (quantiles: the empirical
quantiles of the old predictive samples clipped at 0 mm).

Usage::

    PYTHONPATH=. python benchmarks/seeded_predictions.py --out /tmp/before
    PYTHONPATH=. python benchmarks/seeded_predictions.py --out /tmp/after --compare /tmp/before
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "prediction"))

from pred_helpers import make_grid, schema_of  # noqa: E402

from climate_bnnp import BNNP, predict  # noqa: E402
from climate_bnnp.data import Normaliser  # noqa: E402
from climate_bnnp.prediction.gaussian import gaussian_prediction  # noqa: E402


def _model(likelihood: str) -> BNNP:
    torch.manual_seed(0)
    kw = {"noise_init": 0.3} if likelihood == "gaussian" else {}
    model = BNNP(dim_x=4, dim_y=1, hidden_dims=(12, 12), inf_hidden_dims=(16,), likelihood=likelihood, **kw)
    return model.double().eval()


def cases() -> dict[str, xr.Dataset]:
    """The seeded outputs, by case name."""
    grid = make_grid(observed=0.4)
    wet_dry = grid.assign(tp=grid.tp.where(~(grid.tp < 0.4), 0.0))
    norms = {
        "none": Normaliser(mean={"tp": 0.8, "t2m": 15.0}, std={"tp": 1.1, "t2m": 5.0}),
        "log1p": Normaliser(mean={"tp": 0.3, "t2m": 15.0}, std={"tp": 0.5, "t2m": 5.0}, tp_transform="log1p"),
        "scale": Normaliser(mean={"tp": 0.0, "t2m": 15.0}, std={"tp": 1.3, "t2m": 5.0}, tp_transform="scale"),
    }
    kw = {"num_samples": 32, "return_samples": True, "predict_at": "all", "seed": 7}
    out = {
        f"gaussian_{name}": predict(_model("gaussian"), grid, schema=schema_of(norms[name]), **kw)
        for name in ("none", "log1p")
    }
    out["bernoulli_gamma"] = predict(
        _model("bernoulli_gamma"), wet_dry, schema=schema_of(norms["scale"]), **kw
    )
    rng = np.random.default_rng(3)
    n = 200
    out["baseline_log1p"] = gaussian_prediction(
        rng.normal(-0.5, 1.0, n), rng.uniform(0.2, 1.5, n), rng.uniform(30, 60, n), rng.uniform(-20, 20, n),
        schema=schema_of(norms["log1p"]), num_samples=32, seed=5, quantiles=(0.05, 0.5, 0.95),
        attrs={"method": "test"},
    )  # fmt: skip
    return out


def compare(new: xr.Dataset, old: xr.Dataset) -> list[str]:
    """One line per variable that differs (empty when bit-identical, attributes included)."""
    lines = []
    for name in sorted(set(new.variables) | set(old.variables)):
        if name not in new or name not in old:
            lines.append(f"  {name}: only in the {'new' if name in new else 'old'} output")
            continue
        a, b = new[name].values, old[name].values
        same = a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        if new[name].attrs != old[name].attrs:
            lines.append(f"  {name}: attributes differ")
        if same:
            continue
        if a.shape != b.shape:
            lines.append(f"  {name}: shape {a.shape} vs {b.shape}")
            continue
        clipped = np.where(b < 0, 0.0, b)
        if name == "quantiles":  # empirical quantiles of the clipped old predictive samples
            samples = np.maximum(old["predictive_samples"].transpose("sample", ...).values, 0.0)
            clipped = np.quantile(samples, old["quantile"].values, axis=0)
        clipped = np.array_equal(a, clipped, equal_nan=True)
        diff = np.nanmax(np.abs(a - b))
        lines.append(
            f"  {name}: {int(np.sum(a != b))} of {a.size} values differ (max |diff| {diff:.3g}); "
            f"{'exactly the old values clipped at 0 mm' if clipped else 'NOT a clipping of the old values'}"
        )
    if new.attrs != old.attrs:
        keys = sorted(k for k in set(new.attrs) | set(old.attrs) if new.attrs.get(k) != old.attrs.get(k))
        lines.append(f"  global attributes differ: {keys}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the netCDF files")
    parser.add_argument("--compare", type=Path, help="folder of an earlier run to compare with")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, ds in cases().items():
        ds.to_netcdf(args.out / f"{name}.nc")
        if args.compare is not None:
            with (
                xr.open_dataset(args.compare / f"{name}.nc") as old,
                xr.open_dataset(args.out / f"{name}.nc") as new,
            ):
                lines = compare(new.load(), old.load())
            print(f"{name}: {'bit-identical' if not lines else 'differs'}", *lines, sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
