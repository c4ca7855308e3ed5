"""A user's config stands alone: applied over the code's defaults, never over the demo config, checked at
parse time, and its differences from the defaults listed at the start of a run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from climate_bnnp.config import (
    ConfigError,
    ExperimentConfig,
    config_changes,
    config_from_dict,
    config_to_dict,
    merge_config,
    resolve_workflow_config,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "sample.yaml"

# The user: an ERA5-Land-like config with tp_transform none and a model section written before the
# `likelihood` key existed. Over the demo it inherited bernoulli_gamma; over the defaults it is gaussian.
USER = {
    "data": {"name": "mine", "tp_transform": "none", "features": ["lon", "lat", "t2m"], "tile_size": None},
    "model": {"kind": "bnnp", "dim_x": 3, "hidden_dims": [16]},
    "tasks": {"family": "era5"},
    "train": {"steps": 10, "device": "cpu"},
}


def test_a_users_file_inherits_nothing_from_the_demo(tmp_path):
    user = tmp_path / "mine.yaml"
    config = resolve_workflow_config(USER, configfiles=[user], demo=DEMO)
    demo = yaml.safe_load(DEMO.read_text())
    assert config.model.likelihood == "gaussian" != demo["model"]["likelihood"]
    assert (
        config.model.inf_hidden_dims
        == ExperimentConfig().model.inf_hidden_dims
        != tuple(demo["model"]["inf_hidden_dims"])
    )
    assert config.data.held_out_country == ExperimentConfig().data.held_out_country
    assert config.data.held_out_country != demo["data"]["held_out_country"]
    # what the old merge did (the demo under the user's file) gives the trap the issue describes
    with pytest.raises(ConfigError, match=r"bernoulli_gamma' predicts tp >= 0.*tp_transform 'none'"):
        config_from_dict(ExperimentConfig, merge_config(demo, USER))


def test_without_a_users_file_the_demo_runs_with_overrides_on_top():
    config = resolve_workflow_config({"train": {"steps": 7}}, configfiles=[], demo=DEMO)
    demo = config_from_dict(ExperimentConfig, yaml.safe_load(DEMO.read_text()))
    assert config.train.steps == 7 and config.model == demo.model and config.data == demo.data


def test_incompatible_settings_fail_naming_the_users_file(tmp_path):
    user = tmp_path / "mine.yaml"
    bad = merge_config(USER, {"model": {"likelihood": "bernoulli_gamma"}})
    with pytest.raises(
        ConfigError, match=r"^\S*mine\.yaml: model\.likelihood 'bernoulli_gamma'.*tp_transform"
    ):
        resolve_workflow_config(bad, configfiles=[user], demo=DEMO)


def test_merge_and_changes_against_the_defaults():
    assert merge_config({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}, "e": 6}) == {
        "a": {"b": 5, "c": 2},
        "d": 3,
        "e": 6,
    }
    assert config_changes(ExperimentConfig()) == []
    changes = config_changes(config_from_dict(ExperimentConfig, USER))
    assert "model.likelihood" not in " ".join(changes)  # the default, so not listed
    assert "data.tp_transform: 'none'" not in " ".join(changes)  # 'none' is the default too
    assert "model.dim_x: 3 (default: 1)" in changes and "data.name: 'mine' (default: 'sample')" in changes


def _dry_run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    return subprocess.run([*command, "-n", "-p", "all", *args], capture_output=True, text=True, cwd=workdir)


def test_the_snakefile_applies_a_users_file_over_the_defaults(tmp_path):
    """A dry run prints the config rule's command, whose --json is the resolved config."""
    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump(USER))
    result = _dry_run(tmp_path, "--configfile", str(user))
    assert result.returncode == 0, result.stderr[-3000:]
    resolved = json.loads(re.search(r"--json '(\{.*?\})' --out", result.stdout + result.stderr).group(1))
    assert resolved["model"]["likelihood"] == "gaussian" and resolved["data"]["name"] == "mine"
    assert resolved == config_to_dict(config_from_dict(ExperimentConfig, USER))
    user.write_text(yaml.safe_dump(merge_config(USER, {"model": {"likelihood": "bernoulli_gamma"}})))
    failed = _dry_run(tmp_path, "--configfile", str(user))
    assert failed.returncode != 0
    assert "mine.yaml: model.likelihood 'bernoulli_gamma' predicts tp >= 0" in failed.stdout + failed.stderr
