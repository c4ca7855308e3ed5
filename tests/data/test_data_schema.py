"""The input schema: round trip, dim_x, errors, and the random Fourier features against their identity."""

from __future__ import annotations

import numpy as np
import pytest

from climate_bnnp.data import InputSchema, Normaliser, check_dim_x
from climate_bnnp.data.schema import _fourier_frequencies

NORM = Normaliser(mean={"tp": 0.5, "t2m": 10.0}, std={"tp": 2.0, "t2m": 4.0}, tp_transform="log1p")


def test_round_trip_dim_x_and_errors():
    schema = InputSchema(
        features=("lon", "lat", "t2m", "hour"), normaliser=NORM, coord_stats={"lat": (45, 2), "lon": (8, 3)},
        units={"t2m": "degC", "tp": "mm"}, tp_period_hours=12,
    )  # fmt: skip
    assert InputSchema.from_dict(schema.to_dict()) == schema and schema.dim_x == 5
    assert schema.covariates == ("t2m",) and schema.needs_time
    x = schema(
        lat=np.array([47.0]), lon=np.array([368.0]), time="2019-12-01T06:00", values={"t2m": np.array([14.0])}
    )
    np.testing.assert_allclose(x[0], [0.0, 1.0, 1.0, 1.0, np.cos(np.pi / 2)], atol=1e-12)  # lon 368 -> 8
    with pytest.raises(ValueError, match=r"set model.dim_x: 5"):
        schema.check_dim_x(4)
    with pytest.raises(ValueError, match=r"coord_stats has only \[\]"):
        InputSchema(features=("lat",), normaliser=NORM)
    with pytest.raises(ValueError, match=r"no statistics for \['msl'\]"):
        InputSchema(features=("xyz", "msl"), normaliser=NORM)
    with pytest.raises(ValueError, match=r"version"):
        InputSchema.from_dict({"features": ["xyz"]})
    with pytest.raises(ValueError, match=r"needs a time stamp"):
        schema(lat=np.array([47.0]), lon=np.array([8.0]), time=None, values={"t2m": np.array([1.0])})
    check_dim_x(("xyz", "rff3"), 27)


def test_random_fourier_features_are_fixed_and_give_the_cosine_kernel():
    schema = InputSchema(features=("rff3", "rff10"), normaliser=NORM)
    lat, lon = np.array([10.0, 11.0, -30.0]), np.array([20.0, 21.5, 150.0])
    x = schema(lat=lat, lon=lon, time=None, values={})
    assert x.shape == (3, 48)
    np.testing.assert_array_equal(x, schema(lat=lat, lon=lon, time=None, values={}))  # same every call
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    xyz = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], -1)
    for block, name in ((x[:, :24], "rff3"), (x[:, 24:], "rff10")):
        w = _fourier_frequencies(name)
        inner = block[:, :12] @ block[:, :12].T + block[:, 12:] @ block[:, 12:].T  # sin·sin + cos·cos
        np.testing.assert_allclose(inner, np.cos((xyz[:, None] - xyz[None]) @ w.T).sum(-1), atol=1e-12)
    spread = [np.std(_fourier_frequencies(n)) * np.deg2rad(d) for n, d in (("rff3", 3), ("rff10", 10))]
    np.testing.assert_allclose(spread, 1.0, rtol=0.35)  # ω ~ N(0, I/ℓ²)
