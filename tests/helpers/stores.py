"""The ERA5 pipeline's stores for tests: download -> standardise -> build_tasks on a crop of the sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pipeline_steps import pipeline_step

__all__ = ["ROOT", "CROP", "task_store"]

ROOT = Path(__file__).resolve().parents[2]
CROP = [52.0, -6.0, 40.0, 12.0]
"""The area (N, W, S, E) of the crop of the bundled sample the stores cover."""


def task_store(tmp: Path, **sections: dict[str, Any]) -> tuple[Path, Path, Path]:
    """Run the first pipeline steps in ``tmp`` with ``configs/test.yaml`` cropped to :data:`CROP`.

    Args:
        tmp: the folder for the config, the raw download and the stores.
        sections: updates of the config's sections, e.g. ``train={"steps": 4}``.

    Returns:
        The resolved config file, the standardised store and the task store.
    """
    config = yaml.safe_load((ROOT / "configs" / "test.yaml").read_text())
    config["data"]["area"] = CROP
    for section, update in sections.items():
        config[section].update(update)
    path = tmp / "config.yaml"
    assert pipeline_step("resolve_config")(["--json", json.dumps(config), "--out", str(path)]) == 0
    manifest, std, store = tmp / "raw" / "manifest.json", tmp / "std.zarr", tmp / "tasks.zarr"
    assert pipeline_step("download")(["--config", str(path), "--out", str(manifest)]) == 0
    standardise = ["--config", str(path), "--manifest", str(manifest), "--out", str(std)]
    assert pipeline_step("standardise")(standardise) == 0
    build = ["--config", str(path), "--input", str(std), "--out", str(store)]
    assert pipeline_step("build_tasks")(build) == 0
    return path, std, store
