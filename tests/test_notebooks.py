"""The prediction notebooks run offline, write their PNG figures, and draw coastlines from the offline data.

Each notebook is executed with nbclient in a fresh kernel, from the notebooks folder, with two cells
injected: one first, turning Cartopy's ``DownloadWarning`` into an error inside the kernel (so a missing
Natural Earth asset fails the run), and one last, listing the Natural Earth features drawn on every open
map (recorded when each Natural Earth feature is actually drawn; the inline backend closes figures after
each cell). The PNGs must exist, be fresh, and not be blank, and the notebook must say which model it used.
The kernel runs with ``CLIMATE_BNNP_QUICK=1`` (quick sizes where a notebook trains a model) on one thread.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
from matplotlib.image import imread
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CASES = {
    "era5_uncertainty_maps.ipynb": (["era5_uncertainty_maps.png", "era5_held_out_std.png"], True),
    "toy_regression.ipynb": (["toy_regression.png"], False),
    "predict_your_own_data.ipynb": (["your_data_mean.png", "your_data_std.png"], True),
}
STRICT = """import warnings, cartopy.io
from cartopy.mpl.feature_artist import FeatureArtist
warnings.simplefilter('error', cartopy.io.DownloadWarning)
_DRAWN, _draw = set(), FeatureArtist.draw


def _record(self, renderer, *args, **kwargs):
    out = _draw(self, renderer, *args, **kwargs)
    _DRAWN.add(self._feature.name)  # reached only after the geometries were read and drawn
    return out


FeatureArtist.draw = _record"""
REPORT = 'import json\nprint("FEATURES=" + json.dumps(sorted(_DRAWN)))'


def _not_blank(path: Path) -> None:
    image = imread(path)[..., :3]  # (H, W, 3) floats in [0, 1]
    assert image.std() > 0.05, f"{path} looks blank (pixel std {image.std():.3f})"
    assert (image.mean(-1) < 0.9).mean() > 0.02, f"{path} has almost no non-white pixels"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_runs_and_writes_figures(name, monkeypatch):
    monkeypatch.setenv("CLIMATE_BNNP_QUICK", "1")  # inherited by the kernel (as is conftest's one thread)
    figures, maps = CASES[name]
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(STRICT))
    notebook.cells.append(nbformat.v4.new_code_cell(REPORT))
    start = time.time()
    NotebookClient(
        notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    for figure in figures:
        path = NOTEBOOKS / "figures" / figure
        assert path.is_file(), f"{name} did not write {path}"
        assert path.stat().st_mtime >= start - 1, f"{path} is stale"
        _not_blank(path)
    printed = "".join(o.get("text", "") for cell in notebook.cells[:-1] for o in cell.get("outputs", []))
    assert "Model: " in printed, f"{name} does not say which model it used"
    text = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    drawn = json.loads(text.split("FEATURES=", 1)[1].strip())
    if maps:
        assert "coastline" in drawn, f"{name}: no coastlines drawn (features drawn: {drawn})"
