"""The SLURM profile: `snakemake --profile profiles/slurm -n all` for every shipped ERA5 config (no sbatch
needed for a dry run), with the per-rule resources it asks SLURM for."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ERA5_CONFIGS = [
    "sample.yaml",
    "sample_global.yaml",
    "sample_gpu.yaml",
    "test.yaml",
    "era5land_ceurope.yaml",
]

pytest.importorskip("snakemake_executor_plugin_slurm", reason="the `cluster` extra is not installed")


def _dry_run(workdir: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir)]
        + ["--profile", str(ROOT / "profiles" / "slurm"), "-n", "-p", "all", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def _rule_block(out: str, rule: str) -> str:
    return out[out.index(f"rule {rule}:") :].split("\n\n")[0]


def _resources(block: str) -> dict[str, str]:
    line = next(line for line in block.splitlines() if line.strip().startswith("resources:"))
    return dict(item.split("=", 1) for item in re.split(r",\s*", line.split(":", 1)[1].strip()))


@pytest.mark.parametrize("config", ERA5_CONFIGS)
def test_slurm_profile_dry_runs_every_era5_config(tmp_path, config):
    assert sorted(ERA5_CONFIGS) == sorted(
        p.name for p in (ROOT / "configs").glob("*.yaml") if not p.name.startswith("mnist")
    )  # a new ERA5 config joins this test
    out = _dry_run(tmp_path, "--configfile", str(ROOT / "configs" / config))
    for rule in ("download", "standardise", "build_tasks", "train", "predict", "evaluate", "maps"):
        assert f"rule {rule}:" in out
    device = yaml.safe_load((ROOT / "configs" / config).read_text())["train"]["device"]
    train = _resources(_rule_block(out, "train"))
    assert train["mem_mb"] == "64000" and train["runtime"] == "2880"
    assert train["gpu"] == ("0" if device == "cpu" else "1")  # one process: one GPU unless on CPU
    assert _resources(_rule_block(out, "standardise"))["mem_mb"] == "16000"
    assert "python " in _rule_block(out, "train") and "torchrun" not in out  # one process: as before


def test_slurm_profile_asks_for_one_gpu_per_process_and_launches_torchrun(tmp_path):
    config = yaml.safe_load((ROOT / "configs" / "era5land_ceurope.yaml").read_text())
    config["train"]["distributed"] = {"nproc": 4}
    path = tmp_path / "four_gpus.yaml"
    path.write_text(yaml.safe_dump(config))
    block = _rule_block(_dry_run(tmp_path, "--configfile", str(path)), "train")
    assert _resources(block)["gpu"] == "4"
    assert "torchrun --standalone --nproc-per-node 4 -- " in block and "/pipelines/train.py" in block


def test_profile_names_the_slurm_executor_and_only_rules_of_the_snakefile():
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    rules = set(re.findall(r"^rule (\w+):", (ROOT / "Snakefile").read_text(), flags=re.M))
    assert profile["executor"] == "slurm"
    assert set(profile["set-resources"]) <= rules and set(profile["set-threads"]) <= rules
