"""The data attribution every figure carries (ERA5 is CC-BY 4.0)."""

from climate_bnnp.data import ERA5_ATTRIBUTION

__all__ = ["ERA5_ATTRIBUTION"]
