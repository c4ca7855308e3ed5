"""The Snakefile: a dry run for every config, and one real `snakemake all` on configs/test.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from snakemake_runs import snakemake  # tests/ is on sys.path (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    p.name
    for p in (ROOT / "configs").glob("*.yaml")
    if p.name in {"sample.yaml", "test.yaml", "era5land_ceurope.yaml"}
)


@pytest.mark.parametrize("config", CONFIGS)
def test_dry_run_every_config(tmp_path, config):
    assert len(CONFIGS) == 3
    args = (
        ["-n", "all"]
        if config == "sample.yaml"
        else ["-n", "all", "--configfile", str(ROOT / "configs" / config)]
    )
    result = snakemake(tmp_path, *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout + result.stderr
    for rule in ("download", "standardise", "build_tasks", "train", "predict", "evaluate", "maps"):
        assert f"rule {rule}:" in out
    name = config.removesuffix(".yaml")
    assert f"results/{name}/metrics.json" in out and f"logs/{name}/train_learned.log" in out
    assert (tmp_path / ".snakemake").is_dir()  # the dry run's bookkeeping landed in the temp folder


def test_unknown_config_key_fails_at_parse_time(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  tile: 3\n")
    result = snakemake(tmp_path, "-n", "all", "--configfile", str(bad))
    assert (
        result.returncode != 0 and "unknown key(s) ['tile'] for DataConfig" in result.stdout + result.stderr
    )


@pytest.mark.slow
def test_snakemake_all_on_test_config(snakemake_test_run):
    tmp_path, result = snakemake_test_run  # the session's run (tests/snakemake_runs.py)
    logs = "\n".join(p.read_text()[-2000:] for p in sorted((tmp_path / "logs" / "test").glob("*.log")))
    assert result.returncode == 0, result.stderr[-3000:] + logs
    res = tmp_path / "results" / "test"
    for path in (
        "metrics.json",
        "metrics.nc",
        "metrics.md",
        "checkpoints/learned.pt",
        "checkpoints/standard.pt",
    ):
        assert (res / path).is_file(), path
    for prior in ("learned", "standard"):
        assert (res / "predictions" / f"{prior}.zarr" / "zarr.json").is_file()
        for protocol in ("random", "held_out"):
            png = res / "maps" / f"{prior}_{protocol}.png"
            assert png.stat().st_size > 50_000
    report = json.loads((res / "metrics.json").read_text())
    assert report["num_samples"] == 16 and "ECMWF" in report["attribution"]
    assert sorted(p.name for p in (tmp_path / "logs" / "test").glob("*.log")) == sorted(
        f"{r}.log"
        for r in ["config", "download", "standardise", "build_tasks", "evaluate"]
        + [f"{s}_{p}" for s in ("train", "predict", "maps") for p in ("learned", "standard")]
        + [f"baseline_{m}" for m in ("kriging", "kriging_cov", "idw", "context_mean")]
    )
    table = (res / "metrics.md").read_text()
    methods = ("learned", "standard", "kriging", "kriging_cov", "idw", "context_mean")
    assert all(f"| {m} | random |" in table for m in methods)
