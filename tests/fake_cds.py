"""Test helpers shared by the data and pipeline tests: a fake cdsapi client that writes real files.

:class:`FakeCDSClient` stands in for ``cdsapi.Client``: ``retrieve(name, request, target)`` writes a real
netCDF file in the new CDS format (``valid_time``, scalar ``number``, ``expver`` along time; latitude
descending; NaN over a "sea" corner) covering exactly the requested days, hours, area and grid. It can
check each request against an expected one, deliver a ZIP archive under the ``.nc`` name, and fail on
chosen months. Thread-safe.
"""

from __future__ import annotations

import calendar
import tempfile
import threading
import zipfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from climate_bnnp.data.cds_files import NETCDF_LOCK
from climate_bnnp.data.cds_request import CDS_SHORT_NAMES
from climate_bnnp.data.mock import mock_era5

__all__ = ["FakeCDSClient", "FakeCDSError"]


class FakeCDSError(RuntimeError):
    """The simulated failure raised by :class:`FakeCDSClient` for months in ``fail_on``."""


class FakeCDSClient:
    """A fake ``cdsapi.Client``.

    Args:
        expected: ``(year, month) -> (dataset, request body)`` the fake asserts each call equals; None skips.
        fail_on: (year, month) pairs whose retrieval raises :class:`FakeCDSError` (after writing a partial
            file at the target, as an interrupted transfer would).
        zip_on: (year, month) pairs delivered as a ZIP archive (one netCDF per variable) under the
            ``.nc`` name.
        error_text: extra text in the failure message (e.g. to check that a key in it is scrubbed).
        seed: seed of the synthetic values.

    Attributes:
        calls: ``(dataset, request)`` of every call, in call order.
        mismatches: human-readable differences from ``expected`` (should stay empty).
    """

    def __init__(
        self,
        *,
        expected: Callable[[int, int], tuple[str, dict[str, Any]]] | None = None,
        fail_on: Collection[tuple[int, int]] = (),
        zip_on: Collection[tuple[int, int]] = (),
        error_text: str = "",
        seed: int = 0,
    ) -> None:
        self.expected = expected
        self.fail_on = set(fail_on)
        self.zip_on = set(zip_on)
        self.error_text = error_text
        self.seed = seed
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.mismatches: list[str] = []
        self._lock = threading.Lock()

    def retrieve(self, name: str, request: dict[str, Any], target: str) -> str:
        """Write the requested month to ``target`` as the new CDS would (or fail, as configured)."""
        year, month = int(request["year"]), int(request["month"])
        with self._lock:
            self.calls.append((name, request))
        if self.expected is not None:
            want = self.expected(year, month)
            if (name, request) != want:
                msg = f"{year}-{month:02d}: got {(name, request)!r}, expected {want!r}"
                with self._lock:
                    self.mismatches.append(msg)
                raise AssertionError(msg)
        if (year, month) in self.fail_on:
            Path(target).write_bytes(b"CDF\x01 truncated")
            raise FakeCDSError(f"simulated CDS failure for {year}-{month:02d} {self.error_text}".strip())
        ds = self.dataset(request)
        if (year, month) in self.zip_on:
            with tempfile.TemporaryDirectory() as tmpdir, zipfile.ZipFile(target, "w") as archive:
                for var in ds.data_vars:
                    kind = "accum" if var == "tp" else "instant"
                    part = Path(tmpdir) / f"{var}.nc"
                    with NETCDF_LOCK:
                        ds[[var]].to_netcdf(part)
                    archive.write(part, f"data_stream-oper_stepType-{kind}.nc")
        else:
            with NETCDF_LOCK:
                ds.to_netcdf(target)
        return target

    def dataset(self, request: dict[str, Any]):
        """The synthetic new-CDS dataset answering ``request`` (xarray.Dataset)."""
        year, month = int(request["year"]), int(request["month"])
        n_days = calendar.monthrange(year, month)[1]
        times = [
            np.datetime64(f"{year:04d}-{month:02d}-{int(d):02d}T{t}", "ns")
            for d in request["day"]
            if int(d) <= n_days
            for t in request["time"]
        ]
        north, west, south, east = (float(a) for a in request["area"])
        dlat, dlon = (float(g) for g in request["grid"])
        n_lat = int(round((north - south) / dlat)) + 1
        n_lon = int(round((east - west) / dlon)) + 1
        short = [CDS_SHORT_NAMES[v] for v in request["variable"]]
        return mock_era5(
            n_time=len(times),
            n_lat=n_lat,
            n_lon=n_lon,
            source="cds",
            seed=self.seed + 100 * year + month,
            times=times,
            area=(north, west, south, east),
            variables=short,
        )
