"""The training-range warning: once per call with a count; heavy rain is no extrapolation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pred_helpers import make_grid, schema_of

from climate_bnnp import predict
from climate_bnnp.likelihoods.predictive import LIKELIHOODS
from climate_bnnp.prediction.inputs import RANGE_SIGMAS, range_excess


def _warnings(model, normaliser, ds):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict(model, ds, schema=schema_of(normaliser), num_samples=2)
    return [str(w.message) for w in caught if "training standard deviations" in str(w.message)]


def test_one_warning_per_call_counting_the_tasks(model, normaliser):
    grid = make_grid()  # 2 time steps: 2 tasks
    grid["t2m"][0] += 60.0  # task 0 only: (12..18 + 60 - 15) / 5 > 6 training s.d.
    (message,) = _warnings(model, normaliser, grid)
    assert "t2m reaches" in message and "in 1 of 2 tasks" in message
    grid["t2m"][1] += 60.0  # both tasks
    (message,) = _warnings(model, normaliser, grid)
    assert "in 2 of 2 tasks" in message


def test_heavy_rain_is_not_flagged_but_values_below_training_are(normaliser):
    schema = schema_of(normaliser)
    heavy = {"tp": np.array([0.0, 1.0, 500.0])}  # (500 - 0.8) / 1.1 >> 6 s.d. above the mean
    for likelihood in LIKELIHOODS.values():  # every registered support is unbounded above
        assert likelihood.unbounded_above
        assert range_excess(schema, heavy, unbounded_above=likelihood.unbounded_above) == {}
    assert "tp" in range_excess(schema, heavy, unbounded_above=False)  # a bounded likelihood would flag it
    low = {"tp": np.array([-10.0])}  # (−10 − 0.8) / 1.1 = −9.8 s.d.: below what training saw
    assert range_excess(schema, low, unbounded_above=True)["tp"] == pytest.approx(10.8 / 1.1)
    assert range_excess(schema, {"t2m": np.array([15.0 + 5.0 * (RANGE_SIGMAS + 1)])}, unbounded_above=True)
    inside = {"t2m": np.array([15.0 - 5.0 * (RANGE_SIGMAS - 1)])}
    assert range_excess(schema, inside, unbounded_above=True) == {}


def test_heavy_rain_in_the_context_gives_no_warning(model, normaliser):
    grid = make_grid()
    grid = grid.assign(tp=grid.tp.where(~np.isfinite(grid.tp), grid.tp * 100.0))  # up to hundreds of mm
    assert _warnings(model, normaliser, grid) == []
