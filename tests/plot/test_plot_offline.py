"""The package's own configuration finds the offline Natural Earth data in a FRESH process.

Each test runs a script in a new interpreter (cwd = an empty temporary folder, XDG_DATA_HOME = an empty
folder, no CARTOPY_DATA_DIR/MPLBACKEND), with ``cartopy.io.DownloadWarning`` turned into an error before
anything else is imported: whatever finds the shapefiles there is ``import climate_bnnp.plot`` itself.
A negative control shows the same drawing fails without it, so the positive test can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

PRELUDE = """
import json, sys, warnings
import cartopy.io
warnings.simplefilter("error", cartopy.io.DownloadWarning)
import numpy as np
import xarray as xr

def field(lat, lon):
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    values = np.abs(np.sin(np.radians(3 * la)) * np.cos(np.radians(2 * lo)))
    return xr.DataArray(values, dims=("latitude", "longitude"),
                        coords={"latitude": lat, "longitude": lon}, attrs={"units": "mm"})
"""


def run_fresh(tmp_path: Path, body: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k not in ("CARTOPY_DATA_DIR", "MPLBACKEND", "DISPLAY")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")  # Cartopy's default data_dir: empty here
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )


def grey(path: Path) -> np.ndarray:
    img = mpimg.imread(path)  # PNG -> float RGBA in [0, 1]
    return img[..., :3].mean(axis=-1)


def test_fresh_process_draws_and_saves_maps_offline(tmp_path):
    out = tmp_path / "figs"
    result = run_fresh(
        tmp_path,
        f"""
        import matplotlib
        import climate_bnnp.plot as P
        import cartopy
        out = {str(out)!r}
        # global grid as ERA5 ships it: latitude descending, longitude 0..358
        g = field(np.arange(90.0, -90.1, -2.0), np.arange(0.0, 360.0, 2.0))
        for coast in (True, False):
            ax = P.plot_map(None, g, kind="truth", coastlines=coast, borders=False, title="t")
            P.save_figure(ax.figure, f"{{out}}/global_coast{{int(coast)}}.png", dpi=60, close=True)
        # regional: Central Europe at 0.25 deg with the Swiss held-out region
        r = field(np.arange(44.0, 52.01, 0.25), np.arange(2.0, 14.01, 0.25))
        fig = P.uncertainty_figure(r, 0.9 * r, 0.1 * r + 0.01, [1.1 * r, 0.8 * r],
                                   [46.0, 47.5], [6.0, 11.0], held_out_region="Switzerland")
        P.save_figure(fig, f"{{out}}/uncertainty.png", dpi=50)
        print(json.dumps({{
            "backend": matplotlib.get_backend().lower(),
            "pre_existing": str(cartopy.config["pre_existing_data_dir"]),
            "data_dir": str(cartopy.config["data_dir"]),
            "texts": [t.get_text() for t in fig.texts],
        }}))
        """,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["backend"] == "agg"
    assert (Path(info["pre_existing"]) / "shapefiles" / "natural_earth" / "physical").is_dir()
    assert info["data_dir"] == info["pre_existing"]
    assert any("ERA5" in t and "ECMWF" in t for t in info["texts"])

    with_coast, without_coast = grey(out / "global_coast1.png"), grey(out / "global_coast0.png")
    unc = grey(out / "uncertainty.png")
    for img in (with_coast, without_coast, unc):
        assert img.std() > 0.05  # not blank
    assert with_coast.shape == without_coast.shape
    changed = np.abs(with_coast - without_coast) > 0.1
    # 110m coastlines of the whole globe change well over 1 % of the pixels at this size
    assert changed.mean() > 0.01, changed.mean()
    # and the changed pixels are darker (black lines drawn over the field)
    assert (with_coast[changed] < without_coast[changed]).mean() > 0.9
    assert not list(out.glob(".*.tmp")), "save_figure left a temporary file"


def test_negative_control_without_package_configuration_cartopy_would_download(tmp_path):
    result = run_fresh(
        tmp_path,
        """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import cartopy.crs as ccrs
        ax = plt.figure().add_subplot(projection=ccrs.PlateCarree())
        ax.coastlines("110m")
        plt.savefig("x.png")
        """,
    )
    assert result.returncode != 0
    assert "DownloadWarning" in result.stderr


@pytest.mark.parametrize("shipped", [("physical", "coastline"), ("cultural", "admin_0_boundary_lines_land")])
def test_shipped_assets_resolve_inside_the_configured_folder(shipped):
    import cartopy.io.shapereader as shpreader

    import climate_bnnp.plot as P

    category, name = shipped
    for res in ("110m", "50m"):
        path = Path(shpreader.natural_earth(resolution=res, category=category, name=name))
        assert P.natural_earth_dir() in path.parents
        assert len(list(shpreader.Reader(path).geometries())) > 0
