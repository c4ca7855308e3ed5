"""The studies' shared driver: sizes from configs/studies through the config engine, overrides, the CLI."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import pytest

from climate_bnnp.cli import main as cli_main
from climate_bnnp.config import ConfigError, config_to_dict
from climate_bnnp.studies import STUDIES, run_study
from climate_bnnp.studies.driver import CONFIG_DIR, PRESETS, Study, load_size, main, with_overrides
from climate_bnnp.studies.elbo_many import ManySize

SIZED = [
    name for name in STUDIES if hasattr(importlib.import_module(f"climate_bnnp.studies.{name}"), "STUDY")
]


def _study(name: str) -> Study:
    return importlib.import_module(f"climate_bnnp.studies.{name}").STUDY


def test_every_sized_study_has_both_sizes_and_every_size_file_belongs_to_a_study():
    assert set(SIZED) == {"elbo", "elbo_many", "prior_transfer", "no_free_lunch", "goldilocks"}
    for name in SIZED:
        study = _study(name)
        assert study.name == name
        for preset in PRESETS:
            size = study.size(preset)
            assert type(size) is study.size_type
            fields = dataclasses.fields(size)
            assert study.size_type.__dataclass_params__.frozen and all(f.kw_only for f in fields)
            assert all(f.default is dataclasses.MISSING for f in fields)  # the size file is the one source
    stems = {p.stem for p in CONFIG_DIR.glob("*.yaml")}
    assert {f"{n}_{p}" for n in SIZED for p in PRESETS} <= stems
    assert all(any(s.startswith(f"{n}_") for n in SIZED) for s in stems), stems


def test_quick_is_smaller_than_full():
    for name in SIZED:
        quick, full = (config_to_dict(_study(name).size(p)) for p in PRESETS)
        assert quick != full
    assert _study("goldilocks").size("quick").steps < _study("goldilocks").size("full").steps


def test_a_bad_size_file_names_the_file_the_key_and_what_was_expected(tmp_path):
    good = (CONFIG_DIR / "prior_transfer_quick.yaml").read_text()
    size_type = _study("prior_transfer").size_type
    (tmp_path / "typo.yaml").write_text(good.replace("num_samples:", "num_sample:"))
    with pytest.raises(ConfigError, match=r"typo.yaml.*num_sample.*did you mean 'num_samples'"):
        load_size(size_type, tmp_path / "typo.yaml")
    (tmp_path / "type.yaml").write_text(good.replace("steps: 100", "steps: many"))
    with pytest.raises(ConfigError, match=r"type.yaml.steps: got 'many' .*expected an integer"):
        load_size(size_type, tmp_path / "type.yaml")
    (tmp_path / "short.yaml").write_text("steps: 3\n")
    with pytest.raises(ConfigError, match="short.yaml.*num_samples"):
        load_size(size_type, tmp_path / "short.yaml")
    with pytest.raises(FileNotFoundError, match="configs/studies"):
        load_size(size_type, tmp_path / "absent.yaml")


def test_overrides_are_yaml_values_checked_by_the_config_engine():
    size = _study("elbo_many").size("quick")
    changed = with_overrides(size, ["ais_temps=10", "noise_values=[0.1, 1]", "training.fit_steps=7"])
    assert isinstance(changed, ManySize)
    assert (changed.ais_temps, changed.noise_values, changed.training.fit_steps) == (10, (0.1, 1.0), 7)
    assert dataclasses.replace(changed, ais_temps=size.ais_temps, noise_values=size.noise_values,
                               training=size.training) == size  # fmt: skip
    with pytest.raises(ConfigError, match="unknown key.*'ais_temp'.*did you mean 'ais_temps'"):
        with_overrides(size, ["ais_temp=10"])
    with pytest.raises(ConfigError, match=r"--set.ais_temps: got 'ten'"):
        with_overrides(size, ["ais_temps=ten"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        with_overrides(size, ["ais_temps"])
    with pytest.raises(ConfigError, match="'ais_temps' is not a section"):
        with_overrides(size, ["ais_temps.x=1"])


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Size:
    steps: int
    rates: tuple[float, ...]


def test_the_driver_runs_a_study_with_the_size_overrides_and_options(tmp_path):
    (tmp_path / "mine.yaml").write_text("steps: 2\nrates: [0.5]\n")
    calls = []

    def run(size, out, *, name, log=print, checkpoint_dir=None, flag=False):
        calls.append((size, out, name, checkpoint_dir, flag))
        return {}

    study = Study(
        name="toy", size_type=_Size, run=run,
        add_options=lambda p: p.add_argument("--flag", action="store_true"),
        options=lambda args: {"flag": args.flag},
    )  # fmt: skip
    argv = ["--config", str(tmp_path / "mine.yaml"), "--set", "steps=5", "--out", str(tmp_path), "--flag"]
    assert main(study, [*argv, "--checkpoints", str(tmp_path / "ckpt"), "--name", "x"]) == 0
    assert calls == [(_Size(steps=5, rates=(0.5,)), tmp_path, "x", tmp_path / "ckpt", True)]
    with pytest.raises(SystemExit):  # a study without checkpoints has no --checkpoints
        main(dataclasses.replace(study, checkpoints=False), [*argv, "--checkpoints", "c"])


@pytest.mark.parametrize("name", STUDIES)
def test_climate_bnnp_study_name_help(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["study", name, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    if name in SIZED:
        assert f"climate-bnnp study {name}" in text and "--set KEY=VALUE" in text and "--quick" in text


def test_the_cli_reports_bad_sizes_in_one_line_and_unknown_studies(capsys):
    assert cli_main(["study", "prior_transfer", "--quick", "--set", "stepz=3"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("climate-bnnp study: error: --set: unknown key(s) ['stepz']") and err.count("\n") == 1
    )
    with pytest.raises(SystemExit):
        cli_main(["study", "nosuch"])
    with pytest.raises(ValueError, match="unknown study 'nosuch'"):
        run_study("nosuch")


def test_the_cli_runs_a_study_end_to_end(tmp_path):
    """prior_transfer at a tiny size through ``climate-bnnp study``: the result files of the driver."""
    sets = ["steps=1", "num_samples=1", "eval_samples=5", "num_test_tasks=1", "families=[sawtooth]"]
    argv = ["study", "prior_transfer", "--quick", "--out", str(tmp_path), "--threads", "1"]
    assert cli_main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    data = json.loads((tmp_path / "prior_transfer.json").read_text())
    assert data["size"]["steps"] == 1 and data["size"]["families"] == ["sawtooth"]
    assert Path(tmp_path / "prior_transfer.md").read_text().startswith("#")
