"""The input schema: round trip, dim_x, errors, and the random Fourier features against their identity."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from climate_bnnp import load_checkpoint, predict
from climate_bnnp.data import InputSchema, Normaliser, check_dim_x
from climate_bnnp.data import schema as schema_module
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


# ------------------------------------------------------------------------- frozen inputs (stored frequencies)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _fixture_module():
    spec = importlib.util.spec_from_file_location("make_rff_checkpoint", FIXTURES / "make_rff_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hand_rff(lat, lon, w):
    """(sin, cos)(ω · xyz) written out from the numbers, without the schema's code."""
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    xyz = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], -1)
    proj = xyz @ np.asarray(w).T
    return np.concatenate([np.sin(proj), np.cos(proj)], -1)


def test_the_frequencies_are_stored_as_numbers_and_read_back_exactly():
    schema = InputSchema(features=("xyz", "rff3", "rff10"), normaliser=NORM)
    stored = json.loads(json.dumps(schema.to_dict()))  # through text, as in a store's attributes
    assert sorted(stored["fourier_frequencies"]) == ["rff10", "rff3"]
    assert all(np.shape(v) == (12, 3) for v in stored["fourier_frequencies"].values())
    again = InputSchema.from_dict(stored)
    assert again == schema and again.fourier_frequencies == schema.fourier_frequencies
    lat, lon = np.array([10.0, -30.0]), np.array([20.0, 150.0])
    np.testing.assert_array_equal(
        again(lat=lat, lon=lon, time=None, values={})[:, 3:27],
        _hand_rff(lat, lon, stored["fourier_frequencies"]["rff3"]),
    )


def test_a_committed_checkpoint_gives_the_same_inputs_and_predictions(monkeypatch):
    """The fixture was written by the version that began storing the frequencies. Drawing them is made to
    fail, as a NumPy whose random stream changed would: the checkpoint's own numbers must serve."""
    module, expected = _fixture_module(), json.loads((FIXTURES / "rff_checkpoint.json").read_text())

    def changed_stream(name):
        raise AssertionError("the frequencies were drawn again instead of read from the checkpoint")

    monkeypatch.setattr(schema_module, "_fourier_frequencies", changed_stream)
    checkpoint = load_checkpoint(FIXTURES / "rff_checkpoint.pt")
    schema = checkpoint.schema
    assert {k: [list(r) for r in v] for k, v in schema.fourier_frequencies.items()} == expected[
        "fourier_frequencies"
    ]
    ds = module.fixture_grid()
    lat, lon = np.meshgrid(ds.latitude.values, ds.longitude.values, indexing="ij")
    x = schema(lat=lat, lon=lon, time=ds.time.values[0], values={"t2m": ds.t2m.values[0].ravel()})
    np.testing.assert_allclose(x, expected["inputs"], rtol=0, atol=1e-12)
    hand = _hand_rff(lat.ravel(), lon.ravel(), expected["fourier_frequencies"]["rff3"])
    np.testing.assert_allclose(x[:, 3:27], hand, rtol=0, atol=1e-12)
    out = predict(checkpoint, ds, **expected["predict"])
    f = out["f_normalised"].values.reshape(8, -1)  # the network's draws, in model units
    np.testing.assert_allclose(f, expected["f_normalised"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["mean"].values.ravel(), expected["mean"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["std"].values.ravel(), expected["std"], rtol=0, atol=1e-12)


def test_an_old_schema_without_frequencies_draws_them_again_with_a_warning():
    schema = InputSchema(features=("xyz", "rff10"), normaliser=NORM)
    old = {k: v for k, v in schema.to_dict().items() if k != "fourier_frequencies"}
    with pytest.warns(UserWarning, match=r"without its random-Fourier-feature frequencies.*Rebuild the task"):
        again = InputSchema.from_dict(old, where="old.pt:input_schema")
    assert again == schema  # the same NumPy stream here; the warning says when that may not hold
    plain = {
        k: v
        for k, v in InputSchema(features=("xyz",), normaliser=NORM).to_dict().items()
        if k != "fourier_frequencies"
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no random features, nothing to warn about
        InputSchema.from_dict(plain)


def test_malformed_stored_frequencies_are_refused():
    data = InputSchema(features=("rff3",), normaliser=NORM).to_dict()
    data["fourier_frequencies"]["rff3"] = data["fourier_frequencies"]["rff3"][:5]
    with pytest.raises(
        ValueError, match=r"x\.pt: fourier_frequencies\['rff3'\] must be 12 rows of 3 finite.*\(5, 3\)"
    ):
        InputSchema.from_dict(data, where="x.pt")
