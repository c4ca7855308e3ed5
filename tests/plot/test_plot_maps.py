"""Map helpers in-process (pytest turns cartopy's DownloadWarning into an error, see pyproject)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from cartopy.mpl.feature_artist import FeatureArtist
from matplotlib.collections import QuadMesh

import climate_bnnp.plot as P


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def field(lat, lon, scale=1.0):
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    values = scale * np.abs(np.sin(np.radians(5 * la)) * np.cos(np.radians(4 * lo)))
    return xr.DataArray(
        values,
        dims=("latitude", "longitude"),
        coords={"latitude": lat, "longitude": lon},
        attrs={"units": "mm"},
    )


@pytest.fixture
def region():
    return field(np.arange(52.0, 43.99, -0.5), np.arange(2.0, 14.01, 0.5))  # descending latitude


def test_canonical_grid_reorders_without_changing_values():
    da = field(np.array([10.0, 0.0, -10.0]), np.array([0.0, 90.0, 180.0, 270.0]))
    c = P.canonical_grid(da.expand_dims(time=1))
    assert c.dims == ("latitude", "longitude")
    np.testing.assert_array_equal(c.latitude, [-10.0, 0.0, 10.0])
    np.testing.assert_array_equal(c.longitude, [-180.0, -90.0, 0.0, 90.0])
    # the value at (lat 10, lon 270) is now at (lat 10, lon -90)
    assert float(c.sel(latitude=10, longitude=-90)) == float(da.sel(latitude=10, longitude=270))


def test_canonical_grid_errors():
    da = field(np.arange(3.0), np.arange(4.0))
    with pytest.raises(ValueError, match=r"select one first, e.g. da.isel\(time=0\)"):
        P.canonical_grid(da.expand_dims(time=2))
    with pytest.raises(ValueError, match="latitude dimension"):
        P.canonical_grid(da.rename(latitude="y"))
    with pytest.raises(ValueError, match="at least 2 x 2"):
        P.canonical_grid(da.isel(latitude=[0]))


def test_colour_limits():
    assert P.colour_limits(np.arange(101.0)) == (0.0, 99.0)
    lo, hi = P.colour_limits(np.arange(-50.0, 51.0))
    assert (lo, hi) == (-49.0, 49.0)
    assert P.colour_limits(np.zeros(5)) == (0.0, 1.0)
    assert P.colour_limits(np.arange(10.0), np.arange(100.0, 111.0), upper_percentile=100) == (0.0, 110.0)


def _meshes(fig):
    return {ax.get_title(): m for ax in fig.axes for m in ax.collections if isinstance(m, QuadMesh)}


def test_uncertainty_figure_panels_scales_and_footer(region, tmp_path):
    truth, mean, std = region, 0.7 * region, 0.05 * region + 0.01
    samples = xr.concat([1.3 * region, 0.5 * region, region], dim="sample")
    fig = P.uncertainty_figure(
        truth, mean, std, samples, [46.0, 47.0, 50.0], [6.0, 8.0, 12.0], held_out_region="Switzerland"
    )
    meshes = _meshes(fig)
    value_panels = ["Truth", "Predictive mean", "Posterior sample 1", "Posterior sample 2"]
    assert set(value_panels + ["Predictive std"]) <= set(meshes)
    expected = P.colour_limits(truth, mean)  # 0 .. 99th percentile of truth & mean
    for name in value_panels:
        assert meshes[name].get_clim() == pytest.approx(expected)
    assert meshes["Predictive std"].get_clim() == pytest.approx(P.colour_limits(std))
    assert meshes["Predictive std"].get_clim() != pytest.approx(expected)
    assert any(t.get_text() == P.ERA5_ATTRIBUTION for t in fig.texts)
    assert "Context locations (n = 3)" in [ax.get_title() for ax in fig.axes]
    path = P.save_figure(fig, tmp_path / "sub" / "u.png", dpi=40)
    assert path.is_file() and path.stat().st_size > 10_000


def test_uncertainty_figure_mask_outline_custom_attribution_and_no_context(region):
    mask = (region.latitude > 46) & (region.latitude < 48) & (region.longitude > 6) & (region.longitude < 10)
    mask = mask.transpose("latitude", "longitude")
    fig = P.uncertainty_figure(region, region, region, (), None, None, held_out_region=mask, attribution="X")
    assert [t.get_text() for t in fig.texts] == ["X"]
    assert "Context: none" in [ax.get_title() for ax in fig.axes]
    assert sum(ax.get_visible() for ax in fig.axes if ax.get_title().startswith("Posterior")) == 0


def test_held_out_country_outline_is_the_natural_earth_polygon(region):
    ax = P.plot_map(None, region, held_out_region="Switzerland", coastlines=False, borders=False)
    outlines = [a for a in ax.get_children() if isinstance(a, FeatureArtist)]
    assert len(outlines) == 1  # coastlines and borders are off: the only feature is the outline
    (geometry,) = outlines[0]._feature.geometries()
    lon_min, lat_min, lon_max, lat_max = geometry.bounds
    assert 5.8 < lon_min < 6.1 and 10.4 < lon_max < 10.6 and 45.7 < lat_min < 45.9 and 47.7 < lat_max < 47.9
    with pytest.raises(ValueError, match="Swizerland"):
        P.plot_map(None, region, held_out_region="Swizerland")


def test_plot_map_global_extent_and_errors(tmp_path):
    g = field(np.arange(-90.0, 90.1, 3.0), np.arange(0.0, 360.0, 3.0))
    ax = P.plot_map(None, g, kind="std", context=([0.0, 10.0], [20.0, 30.0]))
    assert ax.get_extent() == pytest.approx((-180, 180, -90, 90))
    assert any(t.get_text() == P.ERA5_ATTRIBUTION for t in ax.figure.texts)
    with pytest.raises(ValueError, match="kind"):
        P.plot_map(None, g, kind="median")
    _, plain = plt.subplots()
    with pytest.raises(TypeError, match="GeoAxes"):
        P.plot_map(plain, g)
    with pytest.raises(TypeError, match="country name"):
        P.outline_region(ax, np.ones((2, 2)))


def test_save_figure_is_atomic(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    target = tmp_path / "f.png"
    target.write_bytes(b"old")

    def broken_savefig(fname, **kwargs):
        Path(fname).write_bytes(b"partial")  # the temporary file, never the target
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="killed"):
        P.save_figure(fig, target)
    assert target.read_bytes() == b"old"  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]  # no temporary file left
    monkeypatch.undo()
    P.save_figure(fig, target, dpi=30)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_configure_natural_earth_rejects_incomplete_folder(tmp_path):
    import cartopy

    before = dict(cartopy.config)
    with pytest.raises(FileNotFoundError, match="lacks.*ne_110m_coastline"):
        P.configure_natural_earth(tmp_path)
    assert cartopy.config["pre_existing_data_dir"] == before["pre_existing_data_dir"]
    assert Path(P.configure_natural_earth()) == P.natural_earth_dir()


def test_map_extent():
    g = field(np.arange(-90.0, 90.1, 3.0), np.arange(0.0, 360.0, 3.0))
    r = field(np.arange(44.0, 52.01, 0.5), np.arange(2.0, 14.01, 0.5))
    assert P.map_extent(g) == (-180.0, 180.0, -90.0, 90.0)
    assert P.map_extent(r) == pytest.approx((1.75, 14.25, 43.75, 52.25))  # cell edges
    assert P.map_extent(g, (-10, 30, 35, 60)) == (-10.0, 30.0, 35.0, 60.0)
    with pytest.raises(ValueError, match="lon_min < lon_max"):
        P.map_extent(r, (30, -10, 35, 60))
    with pytest.raises(ValueError, match="'global'"):
        P.map_extent(r, "europe")
