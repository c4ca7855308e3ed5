"""Running the Snakefile from the tests: ``snakemake`` in a work folder, and one uninterrupted
``snakemake all --configfile configs/test.yaml`` per session (the fixture ``snakemake_test_run``, a few
minutes on 2 cores), which the Snakefile test checks and the kill-and-rerun test compares against, so the
suite pays for it once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
TEST_CONFIG = ROOT / "configs" / "test.yaml"


def snakemake(workdir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``snakemake --directory workdir args`` to completion (captured output)."""
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
    )


@pytest.fixture(scope="session")
def snakemake_test_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The work folder of an uninterrupted ``snakemake all`` on configs/test.yaml, and its process."""
    workdir = tmp_path_factory.mktemp("snakemake_test")
    result = snakemake(workdir, "all", "--configfile", str(TEST_CONFIG), timeout=600)
    return workdir, result
