"""benchmarks/gpu.py: a clean no-op without CUDA, and a CPU smoke run of every measurement at tiny sizes."""

from __future__ import annotations

import json

import pytest
import torch
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def gpu():
    return load_benchmark("gpu.py")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only answer")
def test_without_cuda_it_measures_nothing(gpu, capsys, tmp_path):
    assert gpu.main(["--out", str(tmp_path / "gpu.json")]) == 0
    assert "no CUDA device; nothing measured" in capsys.readouterr().out
    assert not (tmp_path / "gpu.json").exists()


def test_allow_cpu_runs_every_measurement(gpu, capsys, tmp_path):
    out = tmp_path / "gpu.json"
    args = ["--allow-cpu", "--scale", "0.0005", "--hidden", "4", "--out", str(out)]
    if torch.cuda.is_available():
        pytest.skip("on CUDA the script runs the full sizes")
    assert gpu.main(args) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert set(result["paper_step"]) == {"float64", "mixed"}
    for step in (*result["paper_step"].values(), *result["minibatched"]):
        assert step["median_step_seconds"] > 0 and step["peak_memory_mb"] > 0
        assert torch.isfinite(torch.tensor(step["loss"]))
    assert [r["nc"] for r in result["minibatched"]] == [500, 2000]
    size = round(1000 * 0.0005**0.5)  # 22
    assert result["predict"]["mean_finite"] and result["predict"]["cells"] == size * size
    for line in (
        "paper-size step (float64",
        "paper-size step (mixed",
        "minibatched",
        f"on a {size} x {size}",
    ):
        assert line in printed
