"""Observation models p(y | f)."""

from .gaussian import GaussianLikelihood

__all__ = ["GaussianLikelihood"]
