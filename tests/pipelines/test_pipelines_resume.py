"""The `train` step is reproducible (two runs, identical bytes of parameters and log) and resumes after a
crash to the uninterrupted result, from a resume file that Snakemake's cleanup of failed outputs keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.stores import task_store  # tests/ is on sys.path, see tests/conftest.py
from pipeline_steps import pipeline_step

from climate_bnnp.objectives import OBJECTIVES


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """download -> standardise -> build_tasks on a crop of the bundled sample; a 4-step config."""
    path, _, store = task_store(
        tmp_path_factory.mktemp("resume"),
        train={"steps": 4, "log_every": 1, "checkpoint_every": 2},
        model={"hidden_dims": [8], "inf_hidden_dims": [8]},
    )
    return path, store


def _train(store, out: Path, prior: str = "learned") -> int:
    config, tasks = store
    args = ["--config", str(config), "--store", str(tasks), "--prior", prior]
    return pipeline_step("train")(
        args + ["--out", str(out), "--log", str(out.with_suffix(".jsonl")), "--threads", "1"]
    )


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)["model_state"]


def _log(path: Path) -> list[dict]:
    lines = path.with_suffix(".jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_runs_of_the_train_step_are_identical(store, tmp_path):
    torch.manual_seed(12345)  # whatever state the process is in, the step seeds itself
    assert _train(store, tmp_path / "a.pt") == 0
    torch.randn(100)
    assert _train(store, tmp_path / "b.pt") == 0
    assert _equal(_state(tmp_path / "a.pt"), _state(tmp_path / "b.pt"))
    assert _log(tmp_path / "a.pt") == _log(tmp_path / "b.pt") and len(_log(tmp_path / "a.pt")) == 4


def test_train_step_resumes_after_a_crash_to_the_uninterrupted_result(store, tmp_path, monkeypatch):
    assert _train(store, tmp_path / "straight.pt") == 0
    original, calls = OBJECTIVES["pp_avi"], 0

    def crash_in_step_4(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt  # as if killed: the resume state of step 2 is on disk
        return original(*args, **kwargs)

    monkeypatch.setitem(OBJECTIVES, "pp_avi", crash_in_step_4)
    out = tmp_path / "crashed.pt"
    with pytest.raises(KeyboardInterrupt):
        _train(store, out)
    monkeypatch.undo()
    resume = tmp_path / "crashed.resume.pt"
    assert not out.exists() and torch.load(resume, weights_only=True)["step"] == 2
    out.with_suffix(
        ".jsonl"
    ).unlink()  # Snakemake removes a failed job's declared outputs, not the resume file
    assert _train(store, out) == 0
    assert _equal(_state(out), _state(tmp_path / "straight.pt"))
    assert _log(out) == _log(tmp_path / "straight.pt") and not resume.exists()
