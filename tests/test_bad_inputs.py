# ruff: noqa: E501 - the catalogue keeps one case per row
"""The bad-input catalogue: each bad input gets a clear error naming the problem (and the fix), and nothing
written before is corrupted or lost.

One table (:data:`CASES`), one test. A case's ``setup(tmp)`` prepares its inputs under ``tmp`` and returns
the failing call and the paths that existed before it (files or folders); the test asserts the error type and
message, then that every such path keeps its bytes and that no temporary file (``.*part-*``, ``.*tmp-*``) is
left beside them. The closing note of issue 11 lists these cases with the error each one gets.
"""

from __future__ import annotations

import copy
import hashlib
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "prediction"))  # --import-mode=importlib

from fake_cds import FakeCDSClient  # noqa: E402
from pred_helpers import make_grid, make_model, schema_of  # noqa: E402

from climate_bnnp import load_checkpoint, predict, save_checkpoint  # noqa: E402
from climate_bnnp.config import ConfigError, ExperimentConfig, config_from_dict, load_config  # noqa: E402
from climate_bnnp.data import (  # noqa: E402
    CDSCredentialsError,
    CDSDownloadError,
    CDSRequest,
    Normaliser,
    build_task_store,
    check_dim_x,
    download,
    fit_input_schema,
    mock_era5,
    open_cds_files,
    open_task_store,
    read_task,
    split_times,
    standardise,
)
from climate_bnnp.data.cds_files import merge_zip_to_netcdf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = yaml.safe_load((ROOT / "configs" / "test.yaml").read_text())
NORMALISER = Normaliser(mean={"tp": 0.8, "t2m": 15.0}, std={"tp": 1.1, "t2m": 5.0})

Setup = Callable[[Path], tuple[Callable[[], Any], list[Path]]]


@dataclass(frozen=True)
class Case:
    id: str
    error: type[BaseException]
    match: str
    setup: Setup


# ---------------------------------------------------------------------------------------------- configs


def _config(section: str, key: str, value: Any) -> Setup:
    def setup(tmp: Path):
        data = copy.deepcopy(BASE_CONFIG)
        data[section][key] = value
        return (lambda: config_from_dict(ExperimentConfig, data)), []

    return setup


def _yaml_config(text_edit: Callable[[dict], None]) -> Setup:
    def setup(tmp: Path):
        data = copy.deepcopy(BASE_CONFIG)
        text_edit(data)
        path = tmp / "config.yaml"
        path.write_text(yaml.safe_dump(data))
        return (lambda: load_config(path)), [path]

    return setup


def _dim_x(features: list[str], dim_x: int) -> Setup:
    return lambda tmp: ((lambda: check_dim_x(features, dim_x)), [])


CONFIG_CASES = [
    Case("config-unknown-key", ConfigError, r"unknown key\(s\) \['stpes'\].*did you mean 'steps'",
         _config("train", "stpes", 3)),
    Case("config-unknown-key-yaml-file", ConfigError, r"config\.yaml\.model: unknown key\(s\) \['hiden_dims'\]",
         _yaml_config(lambda d: d["model"].update(hiden_dims=[8]))),
    Case("config-section-not-mapping", ConfigError, r"config\.train: expected a mapping for TrainConfig, got list",
         lambda tmp: ((lambda: config_from_dict(ExperimentConfig, {**BASE_CONFIG, "train": [1]})), [])),
    Case("config-steps-text", ConfigError, r"train\.steps: got 'abc' \(str\); expected an integer",
         _config("train", "steps", "abc")),
    Case("config-steps-float", ConfigError, r"train\.steps: got 2\.5 \(float\); expected an integer",
         _config("train", "steps", 2.5)),
    Case("config-steps-zero", ConfigError, r"train\.steps: got 0; expected a positive integer",
         _config("train", "steps", 0)),
    Case("config-lr-negative", ConfigError, r"train\.lr: got -1\.0; expected a finite number > 0, e\.g\. 0\.001",
         _config("train", "lr", -1.0)),
    Case("config-hidden-dims-string", ConfigError, r"model\.hidden_dims: got '64' \(str\); expected a list of integers",
         _config("model", "hidden_dims", "64")),
    Case("config-learn-noise-string", ConfigError, r"model\.learn_noise: got 'yes' \(str\); expected true or false",
         _config("model", "learn_noise", "yes")),
    Case("config-objective-choice", ConfigError, r"train\.objective: got 'foo'.*expected one of \['pp_avi'",
         _config("train", "objective", "foo")),
    Case("config-device-choice", ConfigError, r"train\.device: got 'tpu'; expected 'cpu', 'cuda'",
         _config("train", "device", "tpu")),
    Case("config-model-kind-choice", ConfigError, r"model\.kind: got 'xyz'.*expected one of \['bnnp', 'attn_bnnp'",
         _config("model", "kind", "xyz")),
    Case("config-dtype-choice", ConfigError, r"train\.dtype: got 'float16'.*expected one of \['float64', 'float32', 'mixed'\]",
         _config("train", "dtype", "float16")),
    Case("config-activation-choice", ConfigError, r"model\.activation: got 'swish'; expected 'relu', 'tanh'",
         _config("model", "activation", "swish")),
    Case("config-area-north-below-south", ConfigError, r"data\.area: got \[40\.0, 0\.0, 50\.0, 10\.0\]; expected \[north, west, south, east\].*south < north",
         _config("data", "area", [40.0, 0.0, 50.0, 10.0])),
    Case("config-area-latitude-out-of-range", ConfigError, r"data\.area: got \[95\.0, 0\.0, 50\.0, 10\.0\].*-90 <= south < north <= 90",
         _config("data", "area", [95.0, 0.0, 50.0, 10.0])),
    Case("config-tp-transform-choice", ConfigError, r"data\.tp_transform: got 'sqrt'.*expected one of",
         _config("data", "tp_transform", "sqrt")),
    Case("config-fraction-zero", ConfigError, r"data\.subsample_fraction: got 0\.0; expected a number in \(0, 1\]",
         _config("data", "subsample_fraction", 0.0)),
    Case("config-fraction-above-one", ConfigError, r"data\.subsample_fraction: got 1\.5; expected a number in \(0, 1\]",
         _config("data", "subsample_fraction", 1.5)),
    Case("config-prior-fraction-above-one", ConfigError, r"model\.prior_learnable_fraction: got 1\.5; expected a number in \[0, 1\]",
         _config("model", "prior_learnable_fraction", 1.5)),
    Case("config-fraction-range-reversed", ConfigError, r"tasks\.context_fraction: got \[0\.5, 0\.2\]; expected \[a, b\]",
         _config("tasks", "context_fraction", [0.5, 0.2])),
    Case("config-fraction-range-length", ConfigError, r"context_fraction: got \[0\.1, 0\.2, 0\.3\].*list of 2 items",
         _config("tasks", "context_fraction", [0.1, 0.2, 0.3])),
    Case("config-tile-size-zero", ConfigError, r"data\.tile_size: got 0; expected a positive integer \(>= 1\), or null",
         _config("data", "tile_size", 0)),
    Case("config-dim-x-vs-features", ValueError, r"model\.dim_x = 3, but the features \['xyz', 't2m'\] give dim_x = 4; "
         r"set model\.dim_x: 4", _dim_x(["xyz", "t2m"], 3)),
]  # fmt: skip


# ------------------------------------------------------------------------------- datasets for predict()


def _predict(edit: Callable[[xr.Dataset], xr.Dataset], **kw: Any) -> Setup:
    def setup(tmp: Path):
        model, ds = make_model(), edit(make_grid(n_lat=5, n_lon=6))
        return (lambda: predict(model, ds, schema=schema_of(NORMALISER), num_samples=2, **kw)), []

    return setup


def _with_lat(ds: xr.Dataset, index: int, value: float) -> xr.Dataset:
    lat = ds.latitude.values.copy()
    lat[index] = value
    return ds.assign_coords(latitude=lat)


PREDICT_CASES = [
    Case("predict-tp-in-metres", ValueError, r"\['tp'\] has units 'm', but the model expects 'mm'.*\* 1000",
         _predict(lambda g: g.assign(tp=(g.tp / 1000).assign_attrs(units="m")))),
    Case("predict-t2m-in-kelvin", ValueError, r"\['t2m'\] has units 'K', but the model expects 'degC'.*\+ -273\.15",
         _predict(lambda g: g.assign(t2m=(g.t2m + 273.15).assign_attrs(units="K")))),
    Case("predict-no-units", ValueError, r"\['t2m'\] has no 'units' attribute; expected 'degC'.*Set it",
         _predict(lambda g: g.assign(t2m=(g.t2m.dims, g.t2m.values)))),
    Case("predict-missing-target", ValueError, r"lacks the target variable 'tp'.*it has \['t2m'\]\. Add it in 'mm' units",
         _predict(lambda g: g.drop_vars("tp"))),
    Case("predict-missing-covariate", ValueError, r"lacks the covariate 't2m' the model needs.*Add 't2m' \(in degC",
         _predict(lambda g: g.drop_vars("t2m"))),
    Case("predict-covariate-extra-dim", ValueError, r"ds\['t2m'\] has dims \['member'\] that the target 'tp' lacks.*isel\(member=0\)",
         _predict(lambda g: g.assign(t2m=g.t2m.expand_dims(member=2)))),
    Case("predict-no-coordinates", ValueError, r"expected a latitude coordinate named one of.*rename yours",
         _predict(lambda g: g.rename(latitude="y", longitude="x"))),
    Case("predict-all-nan-target", ValueError, r"the target 'tp' has no observed value.*pass allow_prior=True",
         _predict(lambda g: g.assign(tp=g.tp * np.nan))),
    Case("predict-empty-region", ValueError, r"the region is empty \('latitude' has size 0\).*Check the crop",
         _predict(lambda g: g.sel(latitude=slice(62.0, 30.0)))),  # descending slice on an ascending axis
    Case("predict-latitude-out-of-range", ValueError, r"'latitude' has values outside \[-90, 90\] \(e\.g\. 94\.0\).*units",
         _predict(lambda g: g.assign_coords(latitude=g.latitude.values + 40.0))),
    Case("predict-latitude-nan", ValueError, r"'latitude' has values outside \[-90, 90\] \(e\.g\. nan\)",
         _predict(lambda g: _with_lat(g, 2, np.nan))),
    Case("predict-longitude-out-of-range", ValueError, r"'longitude' has values outside \[-180, 360\] \(e\.g\. 375\.0\)",
         _predict(lambda g: g.assign_coords(longitude=g.longitude.values + 400.0))),
    Case("predict-duplicated-latitude", ValueError, r"'latitude' has duplicated values.*drop_duplicates\('latitude'\)",
         _predict(lambda g: _with_lat(g, 4, float(g.latitude[3])))),
    Case("predict-duplicated-times", ValueError, r"'time' has duplicated values; expected each time once.*drop_duplicates",
         _predict(lambda g: xr.concat([g, g.isel(time=[0])], "time"))),
]  # fmt: skip


# ------------------------------------------------------------------- datasets for the data layer


def _raw(**kw: Any) -> xr.Dataset:
    return mock_era5(n_time=4, n_lat=5, n_lon=6, seed=0, **kw)


def _standardise(edit: Callable[[xr.Dataset], xr.Dataset], **kw: Any) -> Setup:
    def setup(tmp: Path):
        ds = edit(_raw())
        return (lambda: standardise(ds, source=kw.pop("source", "sample"), **kw)), []

    return setup


def _std_grid() -> xr.Dataset:
    return standardise(mock_era5(n_time=8, n_lat=6, n_lon=6, seed=0), source="sample")


def _fit_all_nan(tmp: Path):
    ds = _std_grid()
    ds = ds.assign(tp=ds.tp.where(ds.time > ds.time[5]))  # NaN over the whole train split
    split = split_times(ds.time.values, n_val=1, n_test=1)
    return (lambda: fit_input_schema(ds, ["xyz", "t2m"], times=split["train"])), []


DATA_CASES = [
    Case("standardise-tp-units", ValueError, r"Variable 'tp' has units 'kg m-2'; expected one of \['m', 'mm'\]\. Fix",
         _standardise(lambda r: r.assign(tp=r.tp.assign_attrs(units="kg m-2")))),
    Case("standardise-missing-variable", ValueError, r"Missing variables \['tp'\]: expected \['t2m', 'tp'\].*request them",
         _standardise(lambda r: r.drop_vars("tp"))),
    Case("standardise-unexpected-dim", ValueError, r"Variable 't2m' has dims .*'level'.*Select or reduce the extra dims",
         _standardise(lambda r: r.assign(t2m=r.t2m.expand_dims(level=2)))),
    Case("standardise-ensemble-members", ValueError, r"Expected one ensemble member.*got 3.*isel\(number=0\)",
         _standardise(lambda r: r.expand_dims(number=3))),
    Case("standardise-unknown-source", ValueError, r"Unknown source 'era6': expected one of",
         _standardise(lambda r: r, source="era6")),
    Case("standardise-duplicated-times", ValueError, r"'time' coordinate has duplicate values; drop them",
         _standardise(lambda r: r.assign_coords(time_index=np.r_[r.time_index.values[:3], r.time_index.values[2]]))),
    Case("standardise-empty-region", ValueError, r"The region is empty \('latitude' has size 0\).*Check the crop",
         _standardise(lambda r: r.sel(latitude=slice(-10.0, 10.0)))),  # the sample's latitudes descend
    Case("standardise-latitude-out-of-range", ValueError, r"'latitude' has values outside \[-90, 90\].*degrees",
         _standardise(lambda r: r.assign_coords(latitude=np.deg2rad(r.latitude.values) * 100.0))),
    Case("split-unsorted-times", ValueError, r"Times must be strictly increasing.*sort them first",
         lambda tmp: ((lambda: split_times(_std_grid().time.values[::-1], n_val=1, n_test=1)), [])),
    Case("split-too-few-times", ValueError, r"Too few time steps: got 2, need at least.*lower n_val/n_test",
         lambda tmp: ((lambda: split_times(_std_grid().time.values[:2], n_val=1, n_test=1)), [])),
    Case("fit-all-nan-train-split", ValueError, r"No finite values to fit \['tp'\]; check the train split is not all NaN",
         _fit_all_nan),
]  # fmt: skip


# ---------------------------------------------------------------------------------- files on disk


def _store(tmp: Path) -> Path:
    ds = _std_grid()
    split = split_times(ds.time.values, n_val=2, n_test=2)
    schema = fit_input_schema(ds, ["xyz", "t2m"], times=split["train"])
    return build_task_store(ds, tmp / "tasks.zarr", tile_size=3, split=split, schema=schema, attrs={})


def _corrupt_chunk(tmp: Path):
    path = _store(tmp)
    (path / "tp" / "c" / "0" / "0" / "0").write_bytes(b"not a zstd frame")
    store = open_task_store(path)
    return (lambda: read_task(store, (0, 0, 0))), [path]


def _not_a_store(tmp: Path):
    path = tmp / "other.zarr"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_zarr(path, zarr_format=3, consolidated=False)
    return (lambda: open_task_store(path)), [path]


def _truncated_netcdf(tmp: Path):
    good, bad = tmp / "era5_2019_01.nc", tmp / "era5_2019_02.nc"
    mock_era5(n_time=4, n_lat=5, n_lon=6, source="cds", seed=0).to_netcdf(good)
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return (lambda: open_cds_files([good, bad])), [good, bad]


def _empty_zip(tmp: Path):
    path = tmp / "era5_2019_01.nc"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "no data")
    return path


def _zip_opened(tmp: Path):
    path = _empty_zip(tmp)
    return (lambda: open_cds_files([path])), [path]


def _zip_unpacked(tmp: Path):
    path = _empty_zip(tmp)
    return (lambda: merge_zip_to_netcdf(path)), [path]


def _checkpoint(tmp: Path) -> Path:
    return save_checkpoint(tmp / "model.pt", make_model(), schema=schema_of(NORMALISER))


class _Payload:
    """An object whose unpickling would run code: it creates the marker file ``_Payload.marker``."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _code_checkpoint(tmp: Path):
    path = _checkpoint(tmp)
    _Payload.marker = tmp / "PWNED"
    state = torch.load(path, weights_only=True) | {"extra": _Payload()}
    evil = tmp / "evil.pt"
    torch.save(state, evil)
    assert not _Payload.marker.exists()

    def call():
        try:
            load_checkpoint(evil)
        finally:
            assert not _Payload.marker.exists(), "loading the checkpoint ran its code"

    return call, [path, evil]


def _truncated_checkpoint(tmp: Path):
    path = _checkpoint(tmp)
    bad = tmp / "truncated.pt"
    bad.write_bytes(path.read_bytes()[:1000])
    return (lambda: load_checkpoint(bad)), [path, bad]


def _foreign_checkpoint(tmp: Path):
    path = tmp / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    return (lambda: load_checkpoint(path)), [path]


FILE_CASES = [
    Case("store-corrupt-chunk", ValueError, r"Task \(0, 0, 0\): a chunk of the task store .*tasks\.zarr cannot be read "
         r"\(RuntimeError: Zstd.*The store is corrupt: delete it and rebuild it", _corrupt_chunk),
    Case("store-missing", FileNotFoundError, r"No task store at .*; build it with build_task_store\(\) first",
         lambda tmp: ((lambda: open_task_store(tmp / "nowhere.zarr")), [])),
    Case("store-not-a-task-store", ValueError, r"not a climate_bnnp task store of version 2 \(got None\); rebuild it",
         _not_a_store),
    Case("netcdf-truncated", ValueError, r"era5_2019_02\.nc cannot be opened as netCDF \(OSError.*probably truncated: "
         r"delete it and rerun download\(\)", _truncated_netcdf),
    Case("zip-without-netcdf-opened", ValueError, r"Files \['era5_2019_01\.nc'\] are ZIP archives; download\(\) unpacks "
         r"them, rerun it", _zip_opened),
    Case("zip-without-netcdf-unpacked", ValueError, r"ZIP archive era5_2019_01\.nc holds no \.nc file \(members: "
         r"\['README\.txt'\]\).*download the month again",
         _zip_unpacked),
    Case("checkpoint-with-code", ValueError, r"evil\.pt cannot be loaded as a checkpoint: .*carries objects \(code\).*"
         r"UnpicklingError: .*GLOBAL.*Do not load it with weights_only=False", _code_checkpoint),
    Case("checkpoint-truncated", ValueError, r"truncated\.pt cannot be loaded as a checkpoint: .*truncated, corrupt",
         _truncated_checkpoint),
    Case("checkpoint-foreign", ValueError, r"foreign\.pt is not a climate_bnnp checkpoint \(expected format",
         _foreign_checkpoint),
    Case("checkpoint-missing", FileNotFoundError, r"no checkpoint at .*; train a model first",
         lambda tmp: ((lambda: load_checkpoint(tmp / "none.pt")), [])),
]  # fmt: skip


# ------------------------------------------------------------------------------------ CDS failures

TWO_MONTHS = CDSRequest(years=(2019,), months=(1, 2))


class FailingClient(FakeCDSClient):
    """A fake CDS that delivers January and fails every February attempt with ``error`` (after writing half a
    file at the target, as an interrupted transfer does); ``error=None``: February "succeeds" with half a file."""

    def __init__(self, error: BaseException | None):
        super().__init__()
        self.error = error

    def retrieve(self, name, request, target):
        if request["month"] != "02":
            return super().retrieve(name, request, target)
        super().retrieve(name, request, target)
        Path(target).write_bytes(Path(target).read_bytes()[:500])
        if self.error is not None:
            raise self.error
        return target


class HTTPError(OSError):
    """Stands in for requests.HTTPError (what cdsapi raises once its own retries are spent)."""


def _cds(error: BaseException | None) -> Setup:
    def setup(tmp: Path):
        out = tmp / "raw"
        january = download(CDSRequest(years=(2019,), months=(1,)), out, client=FakeCDSClient(), retries=0)[0]
        client = FailingClient(error)

        def call():
            download(TWO_MONTHS, out, client=client, retries=2, backoff_s=0.0)

        return call, [january]

    return setup


def _no_credentials(tmp: Path):
    def call():
        start = time.perf_counter()
        try:
            download(TWO_MONTHS, tmp / "raw")  # default client factory: checks the credentials first
        finally:
            assert time.perf_counter() - start < 3.0

    return call, []


CDS_CASES = [
    Case("cds-429-too-many-requests", CDSDownloadError, r"1 of 1 months failed after 3 attempts each: 2019-02: "
         r"HTTPError: 429 Client Error: Too Many Requests.*Completed months are kept in .*; rerun to resume",
         _cds(HTTPError("429 Client Error: Too Many Requests for url: https://cds.invalid/api/retrieve"))),
    Case("cds-503-unavailable", CDSDownloadError, r"2019-02: HTTPError: 503 Server Error: Service Unavailable.*"
         r"rerun to resume", _cds(HTTPError("503 Server Error: Service Unavailable"))),
    Case("cds-500-internal", CDSDownloadError, r"2019-02: HTTPError: 500 Server Error.*rerun to resume",
         _cds(HTTPError("500 Server Error: Internal Server Error"))),
    Case("cds-timeout", CDSDownloadError, r"2019-02: TimeoutError: read timed out after 120 s.*rerun to resume",
         _cds(TimeoutError("read timed out after 120 s"))),
    Case("cds-half-written-file", CDSDownloadError, r"2019-02: ValueError: downloaded file is incomplete: cannot be "
         r"opened.*rerun to resume", _cds(None)),
    Case("cds-missing-credentials", CDSCredentialsError, r"Missing CDS credentials \(no CDS API URL, no valid CDS API "
         r"key; .* does not exist.*Create ~/\.cdsapirc", _no_credentials),
]  # fmt: skip


CASES = CONFIG_CASES + PREDICT_CASES + DATA_CASES + FILE_CASES + CDS_CASES


# ------------------------------------------------------------------------------------------- the test


def _snapshot(paths: list[Path]) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (relative names), so a changed byte, a lost or an added file shows."""
    digests = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            digests[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return digests


@pytest.fixture(autouse=True)
def _no_real_credentials(tmp_path, monkeypatch):
    """No real ~/.cdsapirc or CDSAPI_* is ever read: HOME and CDSAPI_RC point at an empty folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CDSAPI_RC", str(tmp_path / "home" / "no-such-cdsapirc"))
    monkeypatch.delenv("CDSAPI_URL", raising=False)
    monkeypatch.delenv("CDSAPI_KEY", raising=False)


def test_the_code_checkpoint_really_carries_code(tmp_path):
    """The oracle of ``checkpoint-with-code``: unpickled without weights_only, the file runs its payload."""
    call, (_, evil) = _code_checkpoint(tmp_path)
    torch.load(evil, weights_only=False)
    assert _Payload.marker.exists()


def test_config_activations_are_the_layers_activations():
    from climate_bnnp.config import ACTIVATIONS as NAMES
    from climate_bnnp.layers.networks import ACTIVATIONS

    assert set(NAMES) == set(ACTIVATIONS)


def test_catalogue_has_at_least_40_distinct_cases():
    ids = [c.id for c in CASES]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input(case: Case, tmp_path):
    call, written = case.setup(tmp_path)
    before = _snapshot(written)
    folders = {p if p.is_dir() else p.parent for p in written}
    with pytest.raises(case.error, match=case.match):
        call()
    assert _snapshot(written) == before, "a file written before the failure was changed or lost"
    leftovers = [p.name for d in folders for p in d.iterdir() if p.name.startswith(".") and "-" in p.name]
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    assert not (tmp_path / "PWNED").exists()
