"""Fault injection: an objective that kills a training run during a chosen step."""

from __future__ import annotations

from collections.abc import Callable

from climate_bnnp.objectives import pp_avi

__all__ = ["crashing"]


def crashing(at_call: int) -> Callable[..., object]:
    """PP-AVI, except that call ``at_call`` raises ``KeyboardInterrupt`` (the job is killed in that step, on
    every rank of a distributed run)."""
    calls = 0

    def objective(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == at_call:
            raise KeyboardInterrupt
        return pp_avi(*args, **kwargs)

    return objective
