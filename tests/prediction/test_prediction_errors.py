"""Each bad input gives its own message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from pred_helpers import schema_of

from climate_bnnp import BNAM, predict, save_checkpoint
from climate_bnnp.data import Normaliser
from climate_bnnp.likelihoods import get_likelihood
from climate_bnnp.prediction.points import point_prediction


def _run(model, normaliser, ds, **kw):
    return predict(model, ds, schema=schema_of(normaliser), num_samples=4, **kw)


def test_missing_covariate(model, normaliser, grid):
    with pytest.raises(ValueError, match=r"lacks the covariate 't2m' the model needs"):
        _run(model, normaliser, grid.drop_vars("t2m"))


def test_missing_target(model, normaliser, grid):
    with pytest.raises(ValueError, match=r"lacks the target variable 'tp'"):
        _run(model, normaliser, grid.drop_vars("tp"))


def test_tp_in_metres(model, normaliser, grid):
    metres = grid.assign(tp=(grid.tp / 1000).assign_attrs(units="m"))
    with pytest.raises(ValueError, match=r"has units 'm', but the model expects 'mm'.*\* 1000"):
        _run(model, normaliser, metres)


def test_t2m_in_kelvin_and_missing_units(model, normaliser, grid):
    kelvin = grid.assign(t2m=(grid.t2m + 273.15).assign_attrs(units="K"))
    with pytest.raises(
        ValueError, match=r"\['t2m'\] has units 'K', but the model expects 'degC'.*\+ -273.15"
    ):
        _run(model, normaliser, kelvin)
    bare = grid.copy()
    bare["tp"].attrs = {}
    with pytest.raises(ValueError, match=r"\['tp'\] has no 'units' attribute; expected 'mm'"):
        _run(model, normaliser, bare)


def test_mismatched_grids(model, normaliser, grid):
    other = grid.assign(t2m=grid.t2m.rename(latitude="lat2"))
    with pytest.raises(ValueError, match=r"mismatched grids: ds\['t2m'\] has dims"):
        _run(model, normaliser, other)
    stations = xr.Dataset(
        {"t2m": (("day", "station"), np.zeros((3, 2)), {"units": "degC"})},
        coords={"latitude": ("station", [40.0, 50.0]), "longitude": ("station", [0.0, 10.0])},
    )
    with pytest.raises(ValueError, match=r"mismatched grids: targets\['t2m'\] has dim 'day'"):
        _run(model, normaliser, grid, targets=stations)


def test_no_coordinates(model, normaliser, grid):
    with pytest.raises(ValueError, match=r"expected a latitude coordinate named one of"):
        _run(model, normaliser, grid.rename(latitude="y"))


def test_all_nan_target_needs_allow_prior(model, normaliser, grid):
    empty = grid.assign(tp=grid.tp * np.nan)
    with pytest.raises(ValueError, match=r"no observed value .* pass allow_prior=True"):
        _run(model, normaliser, empty)
    lazy = _run(model, normaliser, empty.chunk({"time": 1}))  # lazy: the check runs at compute time
    with pytest.raises(ValueError, match=r"allow_prior=True"):
        lazy.compute()
    assert np.isfinite(_run(model, normaliser, empty, allow_prior=True)["mean"].values).all()


def test_warning_outside_training_range(model, normaliser, grid):
    hot = grid.assign(t2m=(grid.t2m + 60.0).assign_attrs(units="degC"))
    with pytest.warns(UserWarning, match=r"t2m reaches .* training standard deviations"):
        _run(model, normaliser, hot)


def test_bnam_is_refused(normaliser, grid):
    bnam = BNAM(dim_x=4, dim_y=1).double()
    with pytest.raises(TypeError, match=r"does not support BNAM .* chunking nor station targets"):
        _run(bnam, normaliser, grid)


def test_bad_options_and_missing_spec(model, normaliser, grid):
    with pytest.raises(ValueError, match=r"quantiles must lie strictly between 0 and 1"):
        _run(model, normaliser, grid, quantiles=(0.0, 0.5))
    with pytest.raises(ValueError, match=r"predict_at must be 'missing' or 'all'"):
        _run(model, normaliser, grid, predict_at="everywhere")
    with pytest.raises(ValueError, match=r"a bare model needs schema="):
        predict(model, grid)


def test_checkpoint_schema_errors(tmp_path, model, normaliser, grid):
    path = save_checkpoint(tmp_path / "m.pt", model, schema=schema_of(normaliser))
    with pytest.raises(ValueError, match=r"the input schema always comes from the checkpoint"):
        predict(path, grid, schema=schema_of(normaliser))
    bare = save_checkpoint(tmp_path / "bare.pt", model)
    with pytest.raises(ValueError, match=r"records no input schema"):
        predict(bare, grid)
    state = torch.load(path, weights_only=True)
    state["format"] = "climate_bnnp.checkpoint/1"
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"earlier format 'climate_bnnp.checkpoint/1'.*Retrain"):
        predict(tmp_path / "old.pt", grid)
    message = r"the model's dim_x = 4, but the features \['xyz', 't2m', 'hour'\] give dim_x = 6"
    with pytest.raises(ValueError, match=message):
        predict(model, grid, schema=schema_of(normaliser, ("xyz", "t2m", "hour")))


def test_point_predictions_refuse_bad_parameters():
    norm = Normaliser(mean={"tp": 0.0, "t2m": 15.0}, std={"tp": 1.3, "t2m": 5.0}, tp_transform="scale")
    kw = {"schema": schema_of(norm), "num_samples": 4, "seed": 0, "quantiles": (0.5,)}
    lat, lon = np.zeros(3), np.arange(3.0)
    bg = get_likelihood("bernoulli_gamma")
    good = {"prob": np.full(3, 0.5), "shape": np.ones(3), "scale": np.ones(3)}
    with pytest.raises(ValueError, match=r"every parameter must be \(N,\) = \(3,\) like lat"):
        point_prediction(bg, good | {"shape": np.ones(2)}, lat, lon, **kw)
    with pytest.raises(ValueError, match=r"need 0 <= prob <= 1, shape > 0 and scale > 0; 1 entries"):
        point_prediction(bg, good | {"prob": np.array([0.5, 1.5, 0.5])}, lat, lon, **kw)
