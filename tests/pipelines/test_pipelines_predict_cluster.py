"""The pipeline's predict-tasks step on a LocalCluster (``data.dask_scheduler``) writes the same predictions
as in this process, and the cluster's workers do the work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

distributed = pytest.importorskip("distributed", reason="the `cluster` extra is not installed")

from pipeline_steps import pipeline_step  # noqa: E402  (tests/ is on sys.path, see tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp: Path, scheduler: str | None) -> Path:
    config = yaml.safe_load((ROOT / "configs" / "test.yaml").read_text())
    config["data"].update(
        {"area": [52.0, -6.0, 40.0, 12.0], "tile_size": 6, "num_eval_samples": 4, "dask_scheduler": scheduler}
    )
    config["train"].update({"steps": 2, "log_every": 1})
    config["model"].update({"hidden_dims": [8], "inf_hidden_dims": [8]})
    path = tmp / f"config_{'cluster' if scheduler else 'local'}.yaml"
    assert pipeline_step("resolve_config")(["--json", json.dumps(config), "--out", str(path)]) == 0
    return path


def test_predict_tasks_on_a_local_cluster_matches_the_local_step(tmp_path):
    local = _config(tmp_path, None)
    manifest, std, store = tmp_path / "raw" / "manifest.json", tmp_path / "std.zarr", tmp_path / "tasks.zarr"
    assert pipeline_step("download")(["--config", str(local), "--out", str(manifest)]) == 0
    args = ["--config", str(local), "--manifest", str(manifest), "--out", str(std)]
    assert pipeline_step("standardise")(args) == 0
    args = ["--config", str(local), "--input", str(std), "--out", str(store)]
    assert pipeline_step("build_tasks")(args) == 0
    ckpt = tmp_path / "learned.pt"
    args = ["--config", str(local), "--store", str(store), "--prior", "learned", "--out", str(ckpt)]
    assert pipeline_step("train")([*args, "--log", str(tmp_path / "learned.jsonl")]) == 0

    def predict(config: Path, out: Path) -> xr.Dataset:
        args = ["--config", str(config), "--store", str(store), "--checkpoint", str(ckpt), "--out", str(out)]
        assert pipeline_step("predict")(args) == 0
        return xr.open_zarr(out, consolidated=False).load()

    here = predict(local, tmp_path / "local.zarr")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with (
        cluster as lc,
        distributed.Client(lc) as client,
        distributed.get_task_stream(client) as stream,
    ):
        there = predict(_config(tmp_path, lc.scheduler_address), tmp_path / "cluster.zarr")
        addresses = set(lc.scheduler_info["workers"])
    workers = {t["worker"] for t in stream.data}
    assert workers and workers <= addresses  # the cluster's workers did the work
    assert set(here.data_vars) == set(there.data_vars) and np.isfinite(here["mean"].values).any()
    xr.testing.assert_allclose(there, here, rtol=0, atol=1e-12)  # numbers to 1e-12, labels exactly
