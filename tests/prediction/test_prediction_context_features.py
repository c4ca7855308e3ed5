"""A BNNP with context features through ``climate_bnnp.predict``: the blocks decode against the task's whole
context, so eager and block-wise (dask) predictions agree, and the context matters."""

from __future__ import annotations

import numpy as np
import torch
from pred_helpers import make_grid, schema_of

from climate_bnnp import BNNP, predict
from climate_bnnp.config import ContextFeaturesConfig
from climate_bnnp.data import Normaliser

TOL = {"rtol": 1e-9, "atol": 1e-11}  # float64 model: only summation order differs


def test_context_features_predict_the_same_eagerly_and_blockwise():
    torch.manual_seed(0)
    features = ContextFeaturesConfig(position_dims=3, scales=(0.05, 0.15))  # on xyz; the grid step is 0.07
    model = BNNP(
        dim_x=4, dim_y=1, hidden_dims=(8,), inf_hidden_dims=(8,), likelihood="bernoulli_gamma",
        context_features=features,
    ).double().eval()  # fmt: skip
    schema = schema_of(
        Normaliser(mean={"tp": 0.0, "t2m": 15.0}, std={"tp": 1.3, "t2m": 5.0}, tp_transform="scale")
    )
    grid = make_grid(observed=0.4)
    eager = predict(model, grid, schema=schema, num_samples=6)
    lazy = predict(
        model, grid.chunk({"time": 1, "latitude": 3, "longitude": 4}), schema=schema, num_samples=6
    ).compute()
    for name in ("mean", "std", "prob_rain", "quantiles"):
        np.testing.assert_allclose(lazy[name].values, eager[name].values, **TOL)
    # another context (the observed values halved) changes the prediction at the same cells
    other = predict(model, grid.assign(tp=grid.tp * 0.5), schema=schema, num_samples=6)
    assert not np.allclose(other["mean"].values, eager["mean"].values, equal_nan=True)
