"""The CDS request: defaults reproduce the paper's ERA5-Land request exactly .

See docs/pipeline.md, "The paper's setting".
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

__all__ = ["CDS_DATASETS", "CDS_SHORT_NAMES", "CDSRequest"]

CDS_DATASETS = ("reanalysis-era5-land", "reanalysis-era5-single-levels")

CDS_SHORT_NAMES = {
    "2m_temperature": "t2m",
    "total_precipitation": "tp",
    "10m_u_component_of_wind": "u10",
    "10m_v_component_of_wind": "v10",
    "mean_sea_level_pressure": "msl",
}
"""CDS variable names -> the short names in the delivered netCDF files."""

_TIME = re.compile(r"^([01]\d|2[0-3]):00$")


@dataclass(frozen=True, kw_only=True)
class CDSRequest:
    """A monthly-split CDS request. Every field is configurable; the defaults are the paper's.

    Attributes:
        dataset: ``"reanalysis-era5-land"`` or ``"reanalysis-era5-single-levels"``.
        variables: CDS variable names.
        years: calendar years.
        months: months 1..12.
        days: zero-padded day strings; days a month lacks (e.g. "31" in April) are ignored by the CDS.
        times: ``"HH:00"`` UTC hours.
        area: ``(north, west, south, east)`` in degrees.
        grid: ``(dlat, dlon)`` in degrees.
        format: delivery format; only ``"netcdf"`` is supported.
        product_type: for single levels (default ``("reanalysis",)`` there); must be None for ERA5-Land.
    """

    dataset: str = "reanalysis-era5-land"
    variables: tuple[str, ...] = ("2m_temperature", "total_precipitation")
    years: tuple[int, ...] = tuple(range(2010, 2020))
    months: tuple[int, ...] = tuple(range(1, 13))
    days: tuple[str, ...] = tuple(f"{d:02d}" for d in range(1, 32))
    times: tuple[str, ...] = ("00:00", "12:00")
    area: tuple[float, float, float, float] = (50, 5, 45, 12)
    grid: tuple[float, float] = (0.1, 0.1)
    format: str = "netcdf"
    product_type: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("variables", "years", "months", "days", "times", "area", "grid"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "days", tuple(f"{int(d):02d}" for d in self.days))
        if self.dataset not in CDS_DATASETS:
            raise ValueError(f"dataset must be one of {CDS_DATASETS}, got {self.dataset!r}.")
        if self.dataset == "reanalysis-era5-single-levels" and self.product_type is None:
            object.__setattr__(self, "product_type", ("reanalysis",))
        if self.product_type is not None:
            object.__setattr__(self, "product_type", tuple(self.product_type))
            if self.dataset == "reanalysis-era5-land":
                raise ValueError("reanalysis-era5-land takes no product_type; set product_type=None.")
        if not self.variables or not self.years or not self.days or not self.times:
            raise ValueError("variables, years, days and times must each be non-empty.")
        if any(not 1 <= int(m) <= 12 for m in self.months) or not self.months:
            raise ValueError(f"months must be non-empty and within 1..12, got {self.months}.")
        if any(not 1 <= int(d) <= 31 for d in self.days):
            raise ValueError(f"days must be within 01..31, got {self.days}.")
        bad = [t for t in self.times if not _TIME.match(t)]
        if bad:
            raise ValueError(f"times must look like 'HH:00' (e.g. '00:00', '12:00'), got {bad}.")
        if len(self.area) != 4 or not (self.area[0] > self.area[2] and self.area[1] < self.area[3]):
            raise ValueError(
                f"area must be (north, west, south, east) with north > south and west < east, "
                f"got {self.area}."
            )
        if len(self.grid) != 2 or min(self.grid) <= 0:
            raise ValueError(f"grid must be (dlat, dlon) with positive steps, got {self.grid}.")
        if self.format != "netcdf":
            raise ValueError(f"Only format='netcdf' is supported, got {self.format!r}.")

    def months_list(self) -> list[tuple[int, int]]:
        """All (year, month) pairs, chronologically."""
        return [(int(y), int(m)) for y in sorted(self.years) for m in sorted(self.months)]

    def filename(self, year: int, month: int) -> str:
        """File name of one month: ``<dataset>_<YYYY>_<MM>.nc``."""
        return f"{self.dataset}_{year:04d}_{month:02d}.nc"

    def month_request(self, year: int, month: int) -> dict[str, Any]:
        """The request body of one month, as passed to ``cdsapi.Client.retrieve``."""
        body: dict[str, Any] = {}
        if self.product_type is not None:
            body["product_type"] = list(self.product_type)
        body.update(
            {
                "variable": list(self.variables),
                "year": f"{year:04d}",
                "month": f"{month:02d}",
                "day": list(self.days),
                "time": list(self.times),
                "area": list(self.area),
                "grid": list(self.grid),
                "format": self.format,
            }
        )
        return body

    def month_requests(self) -> dict[tuple[int, int], dict[str, Any]]:
        """``{(year, month): request body}`` for every month, chronologically."""
        return {(y, m): self.month_request(y, m) for y, m in self.months_list()}

    def expected_times(self, year: int, month: int) -> np.ndarray:
        """Valid times (datetime64[ns]) one month's file must hold: existing days x requested hours."""
        n_days = calendar.monthrange(year, month)[1]
        days = sorted(int(d) for d in self.days if int(d) <= n_days)
        return np.array(
            [
                np.datetime64(f"{year:04d}-{month:02d}-{d:02d}T{t}", "ns")
                for d in days
                for t in sorted(self.times)
            ]
        )

    def short_names(self) -> list[str]:
        """Short names expected in the files (CDS names without a known short name are kept as is)."""
        return [CDS_SHORT_NAMES.get(v, v) for v in self.variables]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able plain data (lists instead of tuples), e.g. for store attributes."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CDSRequest:
        """Build from plain data (YAML/JSON), rejecting unknown keys.

        Raises:
            ValueError: naming unknown keys and the valid ones.
        """
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ValueError(f"Unknown CDS request keys {unknown}; valid keys are {sorted(valid)}.")
        return cls(**dict(data))
