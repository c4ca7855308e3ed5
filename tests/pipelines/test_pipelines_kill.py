"""``kill -9`` mid-way through `train` and `build_tasks`, then a bare rerun: the result equals the
uninterrupted run's (parameters and log; the store's bytes) and no temporary file is left.

Each step runs as its own process (``python pipelines/<step>.py``), slowed down so that the kill lands
mid-way for sure: `train` sleeps before each objective call (the numbers are unchanged), `build_tasks` before
each dask task. The kill comes as soon as the first resume file / the first chunk of the temporary store is
on disk. The reruns are in-process (the steps' ``main``), as the resume tests run them.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from helpers.stores import ROOT  # tests/ is on sys.path, see tests/conftest.py

_spec = importlib.util.spec_from_file_location(
    "pipelines_resume", Path(__file__).with_name("test_pipelines_resume.py")
)
resume = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(resume)
store = resume.store  # the fixture: a 4-step config and its task store, built uninterrupted

_SLOW_TRAIN = """
import runpy, sys, time
from climate_bnnp.objectives import OBJECTIVES
fast = OBJECTIVES["pp_avi"]
def slow(*args, **kwargs):
    time.sleep(0.25)
    return fast(*args, **kwargs)
OBJECTIVES["pp_avi"] = slow
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

_SLOW_BUILD = """
import runpy, sys, time
from dask.callbacks import Callback
Callback(pretask=lambda key, dask, state: time.sleep(0.01)).register()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _kill_when(
    code: str, step: str, args: list[str], ready: Callable[[], bool], timeout_s: float = 60.0
) -> None:
    """Run ``pipelines/<step>.py args`` under ``code`` and SIGKILL it as soon as ``ready()``; assert it was
    still running then (the kill landed mid-way)."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "pipelines" / f"{step}.py")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, script, *args], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    try:
        while not ready():
            assert proc.poll() is None, f"{step} ended before the kill: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, f"{step}: nothing to kill after {timeout_s} s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_train_killed_mid_way_then_rerun_equals_the_uninterrupted_run(store, tmp_path):
    config_path, tasks = store
    config = yaml.safe_load(config_path.read_text())
    config["train"].update({"steps": 8, "checkpoint_every": 2})
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    longer = (config_path, tasks)
    assert resume._train(longer, tmp_path / "straight.pt") == 0

    out = tmp_path / "killed.pt"
    args = ["--config", str(config_path), "--store", str(tasks), "--prior", "learned", "--out", str(out)]
    args += ["--log", str(out.with_suffix(".jsonl")), "--threads", "1"]
    resume_file = tmp_path / "killed.resume.pt"
    _kill_when(_SLOW_TRAIN, "train", args, resume_file.exists)
    assert not out.exists()  # no checkpoint that looks complete
    assert resume._train(longer, out) == 0  # the bare rerun continues from the resume file
    assert resume._equal(resume._state(out), resume._state(tmp_path / "straight.pt"))
    assert resume._log(out) == resume._log(tmp_path / "straight.pt") and len(resume._log(out)) == 8
    assert not resume_file.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["config.yaml", "straight.pt", "straight.jsonl", "killed.pt", "killed.jsonl"]
    )  # no temporary files


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_tasks_killed_mid_way_then_rerun_equals_the_uninterrupted_store(store, tmp_path):
    config_path, tasks = store  # tasks: the uninterrupted store
    std = config_path.parent / "std.zarr"
    out = tmp_path / "tasks.zarr"

    def chunk_written() -> bool:
        return any(p.is_file() for tmp in tmp_path.glob(".tasks.zarr.tmp-*") for p in tmp.glob("*/c/**/*"))

    args = ["--config", str(config_path), "--input", str(std), "--out", str(out)]
    _kill_when(_SLOW_BUILD, "build_tasks", args, chunk_written)
    assert not out.exists() and list(tmp_path.glob(".tasks.zarr.tmp-*"))  # killed mid-write: only the temp
    assert resume.pipeline_step("build_tasks")(args) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.zarr"]  # the killed run's temporary folder is gone
    assert _files(out) == _files(tasks)
