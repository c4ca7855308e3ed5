"""Each pipelines/ step's main([...]) in-process on tiny data, chained as Snakemake would chain them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from fake_cds import FakeCDSClient
from pipeline_steps import pipeline_step  # noqa: E402  (tests/ is on sys.path, see tests/conftest.py)

from climate_bnnp.config import ConfigError
from climate_bnnp.data import (
    ERA5_ATTRIBUTION,
    ERA5_LAND_ATTRIBUTION,
    CDSCredentialsError,
    InputSchema,
    open_task_store,
)

ROOT = Path(__file__).resolve().parents[2]


def _tiny_config(tmp_path: Path, dim_x: int = 4, **data) -> Path:
    config = yaml.safe_load((ROOT / "configs" / "test.yaml").read_text())
    config["data"].update({
        "area": [52.0, -6.0, 40.0, 12.0], "num_eval_samples": 8, "sparse_context_fraction": [0.005, 0.025],
        "gap_size": 8, **data,
    })  # fmt: skip
    config["train"].update({"steps": 3, "log_every": 1})
    config["model"].update({"hidden_dims": [8], "inf_hidden_dims": [8], "dim_x": dim_x})
    path = tmp_path / "config.yaml"
    assert pipeline_step("resolve_config")(["--json", json.dumps(config), "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Run download -> ... -> maps once on a crop of the bundled sample (13 x 19 cells)."""
    tmp = tmp_path_factory.mktemp("chain")
    config = _tiny_config(tmp)
    out = {"config": config, "tmp": tmp}
    assert (
        pipeline_step("download")(["--config", str(config), "--out", str(tmp / "raw" / "manifest.json")]) == 0
    )
    std, store = tmp / "std.zarr", tmp / "tasks.zarr"
    assert (
        pipeline_step("standardise")(
            ["--config", str(config), "--manifest", str(tmp / "raw" / "manifest.json"), "--out", str(std)]
        )
        == 0
    )
    assert (
        pipeline_step("build_tasks")(["--config", str(config), "--input", str(std), "--out", str(store)]) == 0
    )
    for prior in ("learned", "standard"):
        ckpt, pred = tmp / f"{prior}.pt", tmp / f"{prior}.zarr"
        args = [
            "--config",
            str(config),
            "--store",
            str(store),
            "--prior",
            prior,
            "--out",
            str(ckpt),
            "--log",
            str(tmp / f"{prior}.jsonl"),
        ]
        assert pipeline_step("train")(args) == 0
        args = ["--config", str(config), "--store", str(store), "--checkpoint", str(ckpt), "--out", str(pred)]
        assert pipeline_step("predict")(args) == 0
    for method in ("kriging", "kriging_cov", "idw", "context_mean"):
        args = [
            "--config",
            str(config),
            "--store",
            str(store),
            "--method",
            method,
            "--out",
            str(tmp / f"{method}.zarr"),
        ]
        assert pipeline_step("baseline")(args) == 0
    methods = ("learned", "standard", "kriging", "kriging_cov", "idw", "context_mean")
    pairs = [f"{p}={tmp / p}.zarr" for p in methods]
    metrics = {k: tmp / f"metrics.{k}" for k in ("json", "nc", "md")}
    args = ["--config", str(config), "--predictions", *pairs, "--json", str(metrics["json"])]
    assert (
        pipeline_step("evaluate")(args + ["--netcdf", str(metrics["nc"]), "--markdown", str(metrics["md"])])
        == 0
    )
    out.update(std=std, store=store, metrics=metrics)
    return out


def test_config_step_rejects_unknown_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['tile'\] for DataConfig"):
        pipeline_step("resolve_config")(
            ["--json", json.dumps({"data": {"tile": 3}}), "--out", str(tmp_path / "c.yaml")]
        )
    assert not (tmp_path / "c.yaml").exists()


def test_standardised_and_store_carry_attribution(chain):
    std = xr.open_zarr(chain["std"], consolidated=False)
    assert std.sizes["latitude"] == 13 and std.sizes["longitude"] == 19
    assert std.attrs["attribution"] == ERA5_ATTRIBUTION
    store = open_task_store(chain["store"])
    assert store.attrs["attribution"] == ERA5_ATTRIBUTION and store.attrs["experiment"] == "test"
    assert store.attrs["split"]["test"] == [20, 21, 22, 23]
    schema = InputSchema.from_dict(store.attrs["input_schema"])
    assert schema.features == ("xyz", "t2m") and schema.dim_x == 4 and schema.tp_period_hours == 1
    assert set(schema.normaliser.mean) == {"t2m", "tp"} and schema.units == {"t2m": "degC", "tp": "mm"}


def test_train_and_predict_outputs(chain):
    tmp = chain["tmp"]
    lines = (tmp / "learned.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    pred = xr.open_zarr(tmp / "learned.zarr", consolidated=False).load()
    assert list(pred["protocol"].values) == [
        p for p in ("random", "sparse", "gap", "held_out") for _ in range(4)
    ]
    assert pred.attrs["attribution"] == ERA5_ATTRIBUTION and pred.attrs["num_samples"] == 8
    assert pred["mean"].dims == ("task", "latitude", "longitude")  # the test grid, as the store's
    assert pred.sizes["latitude"] == 13 and pred.sizes["longitude"] == 19
    held = pred.isel(task=pred["protocol"].values == "held_out")
    assert not (held["is_context"] & held["in_held_out_region"]).any()  # no context inside France
    assert int(held["in_held_out_region"].sum()) > 20
    for name in ("mean", "std", "predictive_samples", "f_normalised"):
        assert np.isfinite(pred[name].values).all()  # one tile = the whole crop: every cell predicted


def test_pipeline_and_predict_give_the_same_numbers(chain):
    """The pipeline's predictions of a test field equal a user's climate_bnnp.predict call on the grid."""
    import climate_bnnp

    tmp = chain["tmp"]
    pred = xr.open_zarr(tmp / "learned.zarr", consolidated=False).load()
    field = pred.isel(task=0)
    std = xr.open_zarr(chain["std"], consolidated=False)
    grid = std.sel(time=field["time"].values)[["tp", "t2m"]].load()  # a user's map of one time step
    user = climate_bnnp.predict(
        tmp / "learned.pt", grid.assign(tp=grid["tp"].where(field["is_context"])), num_samples=8,
        predict_at="all", seed=int(pred.attrs["eval_seed"]), context_chunk_size=4096,
    )  # fmt: skip
    np.testing.assert_allclose(user["mean"].values, field["mean"].values, rtol=1e-6)  # float32 store
    np.testing.assert_allclose(user["quantiles"].values, field["quantiles"].values, rtol=1e-6)


def test_evaluate_report(chain):
    report = json.loads(chain["metrics"]["json"].read_text())
    assert report["num_samples"] == 8 and "50k" in report["note"]
    assert set(report["methods"]) == {"learned", "standard", "kriging", "kriging_cov", "idw", "context_mean"}
    kriging = xr.open_zarr(chain["tmp"] / "kriging.zarr", consolidated=False)
    assert kriging.attrs["tp_transform"] == "log1p" and kriging["mean"].dims == (
        "task",
        "latitude",
        "longitude",
    )
    assert float(kriging["predictive_samples"].min()) >= 0.0 and float(kriging["quantiles"].min()) >= 0.0
    nc = xr.open_dataset(chain["metrics"]["nc"])
    assert set(nc["group"].values) == {"random", "sparse", "gap", "held_out"}
    assert float(nc["num_tasks"].sel(model="learned", group="held_out")) == 4
    assert np.isnan(nc["nll_mean"].sel(model="kriging")).all()  # another likelihood: no NLL side by side
    assert np.isfinite(nc["nll_mean"].sel(model="standard")).all()
    inside, outside = report["std_inside_outside_region_mm"]["learned"]["held_out"]
    assert inside > 0 and outside > 0
    pred = xr.open_zarr(chain["tmp"] / "learned.zarr", consolidated=False).load()
    first = pred.isel(task=0).where(pred["is_target"].isel(task=0))
    mae = float(np.abs(first["mean"] - first["tp_truth"]).mean())  # MAE of the predictive mean
    assert float(nc["mae"].sel(model="learned").isel(unit=0)) == pytest.approx(mae, rel=1e-6)
    assert float(nc["crps_fair_diff_mean"].sel(model="learned", group="random")) == 0.0
    assert ERA5_ATTRIBUTION in nc.attrs["attribution"]
    text = chain["metrics"]["md"].read_text()
    assert "| learned | held_out | 4 |" in text and ERA5_ATTRIBUTION in text


def test_maps_drawn_offline_with_coastlines(chain, monkeypatch):
    import cartopy.io
    from cartopy.mpl.geoaxes import GeoAxes
    from matplotlib.image import imread

    added = []
    original = GeoAxes.add_feature

    def spy(self, feature, **kwargs):
        added.append(getattr(feature, "name", type(feature).__name__))
        return original(self, feature, **kwargs)

    monkeypatch.setattr(GeoAxes, "add_feature", spy)
    tmp = chain["tmp"]
    outs = [tmp / "maps" / "random.png", tmp / "maps" / "held_out.png"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", cartopy.io.DownloadWarning)
        args = ["--config", str(chain["config"]), "--predictions", str(tmp / "learned.zarr")]
        assert (
            pipeline_step("maps")(args + ["--out-random", str(outs[0]), "--out-held-out", str(outs[1])]) == 0
        )
    assert "coastline" in added
    for path in outs:
        image = imread(path)
        assert image.shape[0] > 300 and float(image[..., :3].std()) > 0.05  # not blank


def test_download_cds_with_fake_client_then_standardise(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("CDSAPI_URL", "CDSAPI_KEY", "CDSAPI_RC"):
        monkeypatch.delenv(var, raising=False)
    request = {
        "years": [2019],
        "months": [12],
        "days": ["01", "02"],
        "area": [47, 6, 46, 8],
        "grid": [0.5, 0.5],
    }
    config = _tiny_config(tmp_path, source="cds", request=request, area=None)
    manifest = tmp_path / "raw" / "manifest.json"
    with pytest.raises(CDSCredentialsError, match="CDSAPI_URL"):
        pipeline_step("download")(["--config", str(config), "--out", str(manifest)])
    fake = FakeCDSClient()
    monkeypatch.setattr("climate_bnnp.data.cds.make_cds_client", lambda: fake)
    assert pipeline_step("download")(["--config", str(config), "--out", str(manifest)]) == 0
    assert fake.calls[0][0] == "reanalysis-era5-land" and fake.calls[0][1]["day"] == ["01", "02"]
    info = json.loads(manifest.read_text())
    assert info["attribution"] == ERA5_LAND_ATTRIBUTION and len(info["files"]) == 1
    out = tmp_path / "std.zarr"
    assert (
        pipeline_step("standardise")(
            ["--config", str(config), "--manifest", str(manifest), "--out", str(out)]
        )
        == 0
    )
    std = xr.open_zarr(out, consolidated=False)
    # 00Z/12Z on 1-2 Dec: 12-hour totals; the first 00Z (no preceding 12Z in the data) is dropped
    assert std.sizes["time"] == 3 and list(std["tp_period_hours"].values) == [12, 12, 12]
    assert std.attrs["tp_period_hours"] == 12 and std.attrs["tp_dropped_times"] == "2019-12-01T00:00:00"
    assert std.attrs["attribution"] == ERA5_LAND_ATTRIBUTION


def test_train_rejects_wrong_dim_x(chain, tmp_path):
    config = yaml.safe_load(chain["config"].read_text())
    config["model"]["dim_x"] = 3
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="set model.dim_x: 4"):
        pipeline_step("train")(
            [
                "--config",
                str(path),
                "--store",
                str(chain["store"]),
                "--prior",
                "learned",
                "--out",
                str(tmp_path / "x.pt"),
            ]
        )


def test_era5land_lon_lat_t2m_end_to_end_then_predict_from_the_checkpoint(tmp_path, monkeypatch):
    """The paper's features on ERA5-Land-format files (fake CDS client): every step, then a user's predict."""
    import climate_bnnp

    fake = FakeCDSClient()
    monkeypatch.setattr("climate_bnnp.data.cds.make_cds_client", lambda: fake)
    request = {"years": [2019], "months": [12], "days": [f"{d:02d}" for d in range(1, 9)],
               "area": [48, 5, 45, 11], "grid": [0.5, 0.5]}  # fmt: skip
    config = _tiny_config(
        tmp_path, source="cds", request=request, area=None, features=["lon", "lat", "t2m"], n_val=2, n_test=3,
        held_out_country="Switzerland", held_out_bbox=None, tp_transform="none", fine_tune_steps=1, dim_x=3,
    )  # fmt: skip
    raw, std, store = tmp_path / "raw" / "manifest.json", tmp_path / "std.zarr", tmp_path / "tasks.zarr"
    ckpt, pred = tmp_path / "learned.pt", tmp_path / "learned.zarr"
    c = ["--config", str(config)]
    assert pipeline_step("download")(c + ["--out", str(raw)]) == 0
    assert pipeline_step("standardise")(c + ["--manifest", str(raw), "--out", str(std)]) == 0
    assert pipeline_step("build_tasks")(c + ["--input", str(std), "--out", str(store)]) == 0
    assert pipeline_step("train")(c + ["--store", str(store), "--prior", "learned", "--out", str(ckpt)]) == 0
    assert (
        pipeline_step("predict")(c + ["--store", str(store), "--checkpoint", str(ckpt), "--out", str(pred)])
        == 0
    )
    metrics = [f"--{k}={tmp_path / ('m.' + k)}" for k in ("json", "netcdf", "markdown")]
    assert pipeline_step("evaluate")(c + ["--predictions", f"learned={pred}", *metrics]) == 0
    schema = climate_bnnp.load_checkpoint(ckpt).schema
    assert schema.features == ("lon", "lat", "t2m") and schema.tp_period_hours == 12
    assert set(schema.coord_stats) == {"lat", "lon"}
    # A user's own map: the last time step, tp observed on the western half only (t2m in degC as stored).
    user = xr.open_zarr(std, consolidated=False).isel(time=-1)[["tp", "t2m"]].load()
    user["tp"] = user["tp"].where(user["longitude"] < 8.0)
    out = climate_bnnp.predict(ckpt, user, num_samples=8)
    east = (user["longitude"] >= 8.0) & user["t2m"].notnull()
    assert (
        bool(np.isfinite(out["mean"].where(east)).sum() == int(east.sum()))
        and out["mean"].attrs["units"] == "mm"
    )
    assert out.attrs["features"] == "lon,lat,t2m"
    assert (
        "Fine-tuned prediction" in xr.open_zarr(pred, consolidated=False).attrs["note"]
    )  # the paper's protocol
