"""Snakemake itself killed: ``kill -9`` of its whole process group during `build_tasks`, then (after
``snakemake --unlock``) during `train`, then ``snakemake --unlock`` and ``snakemake all`` to the end.

The metrics must be byte-identical to the session's uninterrupted run (``snakemake_test_run`` of
tests/snakemake_runs.py: the same configs/test.yaml, the same relative layout), with no temporary file, no
lock and no incomplete marker left. The kills land mid-step: the first when the temporary task store has a
chunk on disk and the store is not there yet, the second when training has opened its log and the
checkpoint is not there yet; each time the whole group (Snakemake and the step it runs) is gone afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from snakemake_runs import SNAKEMAKE, TEST_CONFIG, snakemake  # tests/ is on sys.path (tests/conftest.py)

METRICS = ("metrics.json", "metrics.nc", "metrics.md")


def _kill_group_when(workdir: Path, ready: Callable[[], bool], done: Path, timeout_s: float = 400) -> None:
    """Start ``snakemake all`` in its own process group, ``kill -9`` the group as soon as ``ready()``; assert
    that ``done`` (the step's output) did not exist then and that no process of the group survives."""
    proc = subprocess.Popen(
        [*SNAKEMAKE, "--directory", str(workdir), "all", "--configfile", str(TEST_CONFIG)],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    try:
        while not ready():
            assert proc.poll() is None, (
                f"snakemake ended before the kill: {proc.stderr.read().decode()[-3000:]}"
            )
            assert time.monotonic() < deadline, f"nothing to kill after {timeout_s} s"
            time.sleep(0.02)
        assert not done.exists(), f"{done} was complete before the kill"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert _live_members(proc.pid) == [], "a process of the killed group survived"  # the step included
    assert not done.exists()


def _live_members(group: int, wait_s: float = 5.0) -> list[int]:
    """Processes of group ``group`` that still run (zombies, dead but not yet reaped, do not count)."""
    deadline = time.monotonic() + wait_s
    while True:
        live = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[2]) == group and fields[0] != "Z":
                live.append(int(stat.parent.name))
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


def _leftovers(workdir: Path) -> list[str]:
    """Temporary files or folders of the atomic writers, Snakemake locks and incomplete markers."""
    temporary = [
        str(p.relative_to(workdir))
        for folder in (workdir / "data", workdir / "results")
        for p in folder.rglob("*")
        if p.name.startswith(".") and ("tmp" in p.name or "part" in p.name)
    ]
    meta = workdir / ".snakemake"
    markers = [str(p) for sub in ("locks", "incomplete") for p in (meta / sub).rglob("*") if p.is_file()]
    return temporary + markers


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc (Linux)")
def test_snakemake_killed_during_build_tasks_and_train_then_rerun_gives_the_same_metrics(
    snakemake_test_run, tmp_path
):
    reference, straight = snakemake_test_run
    assert straight.returncode == 0, straight.stderr[-3000:]
    data, res = tmp_path / "data" / "test", tmp_path / "results" / "test"

    def store_half_written() -> bool:
        return any(p.is_file() for tmp in data.glob(".tasks.zarr.tmp-*") for p in tmp.glob("*/c/**/*"))

    _kill_group_when(tmp_path, store_half_written, data / "tasks.zarr" / "zarr.json")
    assert snakemake(tmp_path, "--unlock", "--configfile", str(TEST_CONFIG)).returncode == 0

    def training() -> bool:
        return any((res / f"train_{prior}.jsonl").exists() for prior in ("learned", "standard"))

    _kill_group_when(tmp_path, training, res / "checkpoints" / "learned.pt")
    assert snakemake(tmp_path, "--unlock", "--configfile", str(TEST_CONFIG)).returncode == 0

    rerun = snakemake(tmp_path, "all", "--configfile", str(TEST_CONFIG), timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for name in METRICS:
        assert (res / name).read_bytes() == (reference / "results" / "test" / name).read_bytes(), name
    assert _leftovers(tmp_path) == []
