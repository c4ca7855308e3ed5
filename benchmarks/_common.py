"""Shared helpers of the benchmark scripts: machine description, peak RSS, atomic JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["RESULTS", "machine", "median", "peak_rss_mb", "write_json", "run_child", "large_gemm_gflops"]

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """CPU model, core count, memory, Python/torch versions and torch's thread count."""
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gb,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
    }


def median(values: Iterable[float]) -> float:
    """The median: the middle value of an odd count, the mean of the two middle values of an even one.

    Raises:
        ValueError: for no values (a benchmark that timed nothing has no median).
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("the median of no values is undefined; time at least one step.")
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def large_gemm_gflops(size: int = 2048, repeats: int = 3) -> dict[str, float]:
    """FLOP rate of a plain ``size × size`` float64 GEMM in this process (median of ``repeats``).

    Measured in the same process, with the same torch threads, as the benchmark it normalises: a step time
    times this rate is the step's cost in "large-GEMM GFLOP", which compares across machines and loads.
    Returns ``{"wall": GFLOP/s by wall clock, "cpu": GFLOP/s by process CPU time}``; on a loaded shared
    machine with one torch thread, CPU time divided by the CPU-time rate is the robust pair.
    """
    import time

    import torch

    a, b = torch.randn(size, size, dtype=torch.float64), torch.randn(size, size, dtype=torch.float64)
    a @ b  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        tick, tock = time.perf_counter(), time.process_time()
        a @ b
        wall.append(time.perf_counter() - tick)
        cpu.append(time.process_time() - tock)
    flop = 2 * size**3 / 1e9
    return {"wall": flop / median(wall), "cpu": flop / median(cpu)}


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically (temporary file in the same folder, then rename)."""
    from climate_bnnp.data import write_json_atomic

    write_json_atomic(path, data)


def run_child(
    script: Path, args: list[str], timeout: float = 1800.0, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``python script args --json-stdout`` in a fresh process; parse the last stdout line as JSON.

    ``env``: variables added to this process's environment for the child (e.g. ``PYTHONPATH``).
    """
    proc = subprocess.run(
        [sys.executable, str(script), *args, "--json-stdout"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-5:], "returncode": proc.returncode, "args": args}
    return json.loads(proc.stdout.strip().splitlines()[-1])
