"""Checks and repairs of downloaded monthly CDS files (completeness, ZIP archives named ``.nc``)."""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from climate_bnnp.data.cds_request import CDSRequest

__all__ = [
    "NETCDF_LOCK",
    "ZIP_MAGIC",
    "is_zip",
    "merge_zip_to_netcdf",
    "month_file_problem",
    "open_cds_files",
]

ZIP_MAGIC = b"PK\x03\x04"

NETCDF_LOCK = threading.RLock()
"""Serialises netCDF/HDF5 reads and writes: the netCDF4 library is not thread-safe (concurrent use from the
download worker threads segfaults). Anything writing netCDF from those threads (e.g. a fake client)
takes it too."""


def is_zip(path: Path) -> bool:
    """True when the file starts with the ZIP magic bytes ``PK\\x03\\x04`` (whatever its name)."""
    with open(path, "rb") as f:
        return f.read(4) == ZIP_MAGIC


def merge_zip_to_netcdf(path: Path) -> None:
    """If ``path`` is a ZIP archive, replace it in place by one netCDF merging all its ``.nc`` members.

    The new CDS returns a ZIP (still named ``.nc``) when accumulated and instantaneous variables are
    requested together: one netCDF per kind of variable. A plain netCDF is left untouched.

    Raises:
        ValueError: if the archive holds no ``.nc`` member.
    """
    if not is_zip(path):
        return
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".unzip-") as tmpdir:
        with zipfile.ZipFile(path) as archive:
            members = sorted(n for n in archive.namelist() if n.endswith(".nc") and not n.endswith("/"))
            if not members:
                raise ValueError(
                    f"ZIP archive {path.name} holds no .nc file (members: {archive.namelist()}); expected "
                    "one netCDF per kind of variable. Delete it and download the month again (request format "
                    "'netcdf')."
                )
            extracted = [Path(archive.extract(m, tmpdir)) for m in members]
        out = path.with_name(f"{path.name}.merged-{uuid.uuid4().hex[:8]}")
        with NETCDF_LOCK:
            parts = []
            for member in extracted:
                with xr.open_dataset(member, cache=False) as part:
                    parts.append(part.load())
            merged = xr.merge(parts, compat="override", join="outer", combine_attrs="drop_conflicts")
            merged.to_netcdf(out)
        shutil.move(out, path)


def month_file_problem(path: Path, request: CDSRequest, year: int, month: int) -> str | None:
    """Why one month's file does not hold what was asked, or None when it is complete.

    Complete means: it opens as netCDF, holds every requested variable (by short name), and its time axis
    (``valid_time`` or ``time``) holds exactly the requested valid times of that month.
    """
    try:
        if is_zip(path):
            return "a ZIP archive that was never unpacked"
        with NETCDF_LOCK, xr.open_dataset(path, cache=False) as ds:
            names = {str(name) for name in ds.data_vars}
            tname = "valid_time" if "valid_time" in ds.coords else "time"
            if tname not in ds.coords:
                return f"no valid_time/time coordinate (coordinates: {sorted(map(str, ds.coords))})"
            times = np.unique(ds[tname].values.astype("datetime64[ns]"))
    except Exception as err:  # noqa: BLE001 - any unreadable file is simply incomplete
        return f"cannot be opened ({type(err).__name__})"
    missing = [v for v in request.short_names() if v not in names]
    if missing:
        return f"missing variables {missing} (has {sorted(names)})"
    expected = request.expected_times(year, month)
    if times.size != expected.size or not np.array_equal(times, expected):
        return f"holds {times.size} valid times, expected {expected.size} ({year:04d}-{month:02d})"
    return None


def open_cds_files(paths: Sequence[str | Path]) -> xr.Dataset:
    """Open downloaded monthly CDS files lazily as one dataset (dask chunks of one time step).

    The result is still in the raw CDS format; pass it to
    :func:`~climate_bnnp.data.standardise.standardise` with ``source=<the dataset name>``.

    Args:
        paths: monthly netCDF files (already unpacked, e.g. the output of ``download``), in time order.

    Raises:
        ValueError: if ``paths`` is empty, a file is still a ZIP archive or cannot be opened (truncated).
    """
    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("open_cds_files needs at least one file; run download() first.")
    zipped = [p.name for p in files if is_zip(p)]
    if zipped:
        raise ValueError(f"Files {zipped} are ZIP archives; download() unpacks them, rerun it.")
    for path in files:  # name the unreadable file (a truncated download) instead of a bare HDF error
        try:
            with NETCDF_LOCK, xr.open_dataset(path, cache=False):
                pass
        except Exception as err:  # noqa: BLE001 - any reader failure means the same to the user
            raise ValueError(
                f"{path} cannot be opened as netCDF ({type(err).__name__}: {err}); expected a complete "
                "downloaded month. It is probably truncated: delete it and rerun download() to fetch it "
                "again."
            ) from err
    with xr.open_dataset(files[0], cache=False) as first:
        tdim = "valid_time" if "valid_time" in first.dims else "time"
    return xr.open_mfdataset(
        [str(p) for p in files],
        combine="nested",
        concat_dim=tdim,
        chunks={tdim: 1},
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="exact",
        parallel=False,
    )
