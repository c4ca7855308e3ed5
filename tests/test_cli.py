"""`climate-bnnp` in-process: help texts, the pipeline's steps as commands, and `predict` on a user's
netCDF file checked against `climate_bnnp.predict` called directly."""

from __future__ import annotations

import argparse
import errno
import os
import shlex
import tempfile
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

import climate_bnnp
from climate_bnnp.cli import main
from climate_bnnp.steps import STEPS, configure, step_module

ROOT = Path(__file__).resolve().parents[1]
PREDICT_OPTIONS = shlex.split("--num-samples 6 --quantiles 0.1 0.9 --seed 3 --chunk-size 50 --device cpu")


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, Path]:
    """download -> standardise -> build-tasks -> train (3 steps) through `climate-bnnp`, on a 13 x 19 crop of
    the bundled sample; and the user's file: two time steps of the crop with 70% of tp hidden."""
    tmp = tmp_path_factory.mktemp("cli")
    config = yaml.safe_load((ROOT / "configs" / "test.yaml").read_text())
    config["data"].update({"area": [52.0, -6.0, 40.0, 12.0]})
    config["train"].update({"steps": 3, "log_every": 1})
    config["model"].update({"hidden_dims": [8], "inf_hidden_dims": [8]})
    names = {
        "config": "config.yaml",
        "manifest": "raw/manifest.json",
        "std": "std.zarr",
        "store": "tasks.zarr",
    }
    paths = {
        k: tmp / v
        for k, v in (names | {"ckpt": "learned.pt", "nc": "observed.nc", "zarr": "observed.zarr"}).items()
    }
    paths["config"].write_text(yaml.safe_dump(config))
    c = ["--config", str(paths["config"])]
    assert main(["download", *c, "--out", str(paths["manifest"])]) == 0
    assert main(["standardise", *c, "--manifest", str(paths["manifest"]), "--out", str(paths["std"])]) == 0
    assert main(["build-tasks", *c, "--input", str(paths["std"]), "--out", str(paths["store"])]) == 0
    train = [*c, "--store", str(paths["store"]), "--prior", "learned", "--out", str(paths["ckpt"])]
    assert main(["train", *train]) == 0
    observed = xr.open_zarr(paths["std"], consolidated=False)[["tp", "t2m"]].isel(time=[21, 22]).load()
    hidden = np.random.default_rng(0).random(observed["tp"].shape) < 0.7
    observed["tp"] = observed["tp"].where(~hidden)
    observed.to_netcdf(paths["nc"])
    observed.drop_encoding().chunk({"time": 1, "latitude": 7}).to_zarr(
        paths["zarr"], zarr_format=3, consolidated=False
    )
    return paths


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_command(capsys):
    text = _help(["--help"], capsys)
    for command in STEPS:
        assert f"\n    {command}" in text
    assert "climate-bnnp predict --checkpoint learned.pt --input observed.nc --output predicted.nc" in text


@pytest.mark.parametrize("command", list(STEPS))
def test_command_help_has_description_and_a_valid_example(command, capsys):
    step = step_module(command)
    text = _help([command, "--help"], capsys)
    assert step.__doc__.splitlines()[0] in text and f"example:\n  {step.EXAMPLE}\n" in text
    # the example is `climate-bnnp <command>` with real options, the required ones included
    words = shlex.split(step.EXAMPLE)
    assert words[:2] == ["climate-bnnp", command]
    parser = configure(argparse.ArgumentParser(), step)
    given = {w for w in words if w.startswith("--")}
    assert given <= set(parser._option_string_actions)
    assert {a.option_strings[0] for a in parser._actions if a.required} <= given


def test_entry_point_resolves_to_main():
    (script,) = entry_points(group="console_scripts", name="climate-bnnp")
    assert script.load() is main


@pytest.fixture(scope="module")
def expected(chain) -> xr.Dataset:
    """The second route: `climate_bnnp.predict` on the user's data with the options of PREDICT_OPTIONS."""
    observed = xr.open_dataset(chain["nc"]).load()
    return climate_bnnp.predict(
        chain["ckpt"],
        observed,
        num_samples=6,
        quantiles=(0.1, 0.9),
        seed=3,
        chunk_size=50,
        return_samples=True,
    )


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_predict_matches_the_library(chain, expected, tmp_path, suffix):
    """netCDF in and out; Zarr in (dask-backed, chunked: computed while written) and out."""
    out = tmp_path / f"predicted{suffix}"
    args = ["--checkpoint", str(chain["ckpt"]), "--input", str(chain[suffix[1:]]), "--output", str(out)]
    assert main(["predict", *args, *PREDICT_OPTIONS, "--return-samples"]) == 0
    got = (xr.open_zarr(out, consolidated=False) if suffix == ".zarr" else xr.open_dataset(out)).load()
    if suffix == ".nc":
        xr.testing.assert_equal(got, expected)
    else:  # dask-chunked input: the context sums run in another float64 order (seen: 4e-15 on std ~ 0.08)
        xr.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    hidden = xr.open_dataset(chain["nc"])["tp"].isnull()
    assert (got["mean"].notnull() == hidden).all()  # every hidden cell, only those
    assert got.attrs["attribution"] == expected.attrs["attribution"] and got["mean"].attrs["units"] == "mm"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary files left


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_failed_write_leaves_the_existing_output_untouched(chain, tmp_path, monkeypatch, capsys, suffix):
    out = tmp_path / f"predicted{suffix}"
    if suffix == ".zarr":
        (out / "tp").mkdir(parents=True)
        (out / "zarr.json").write_text("{}")
    else:
        out.write_bytes(b"an earlier prediction")
    before = _contents(out)

    def write_half_then_fail(self, path, *a, **k):  # in place of xarray's writer (to_zarr / to_netcdf)
        path = Path(path)
        if suffix == ".zarr":
            path.mkdir(exist_ok=True)
            path = path / "zarr.json"
        path.write_text("half")
        raise OSError("No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_zarr" if suffix == ".zarr" else "to_netcdf", write_half_then_fail)
    args = ["--checkpoint", str(chain["ckpt"]), "--input", str(chain["nc"]), "--output", str(out)]
    assert main(["predict", *args, *PREDICT_OPTIONS]) == 1
    assert capsys.readouterr().err == "climate-bnnp predict: error: No space left on device\n"
    assert _contents(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def _contents(path: Path) -> dict[str, bytes]:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(p.relative_to(path.parent)): p.read_bytes() for p in files}


def test_bad_data_fails_in_one_line_without_output(chain, tmp_path, capsys):
    no_t2m = tmp_path / "no_t2m.nc"
    xr.open_dataset(chain["nc"])[["tp"]].to_netcdf(no_t2m)
    out = tmp_path / "predicted.nc"
    assert (
        main(["predict", "--checkpoint", str(chain["ckpt"]), "--input", str(no_t2m), "--output", str(out)])
        == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("climate-bnnp predict: error: ") and "t2m" in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("input_name", "output_name", "message"),
    [
        ("missing.nc", "out.nc", "argument --input: no such file or folder: "),
        ("observed.nc", "out.csv", "argument --output: expected a netCDF file (.nc) or a Zarr store (.zarr)"),
    ],
)
def test_bad_paths_are_usage_errors(chain, tmp_path, capsys, input_name, output_name, message):
    source = chain["nc"] if input_name == "observed.nc" else tmp_path / input_name
    argv = ["predict", "--checkpoint", str(chain["ckpt"]), "--input", str(source)]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--output", str(tmp_path / output_name)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err and not (tmp_path / output_name).exists()


def test_train_relaunches_under_torchrun_with_its_own_arguments(chain, tmp_path, monkeypatch):
    config = yaml.safe_load(chain["config"].read_text())
    config["train"]["distributed"] = {"nproc": 2}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    train = ["--config", str(path), "--store", str(chain["store"]), "--prior", "standard", "--out", "x.pt"]
    calls = []
    monkeypatch.setattr(
        "climate_bnnp.steps.train.subprocess.run",
        lambda cmd, **k: calls.append(cmd) or argparse.Namespace(returncode=0),
    )
    assert main(["train", *train]) == 0
    (cmd,) = calls
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert cmd[5:] == ["-m", "--", "climate_bnnp.cli", "train", *train]


# --------------------------------------------------------------------------------- the bad-input sweep
@pytest.fixture(scope="module")
def predictions(chain) -> Path:
    """The chain's model predicted on its test tasks (the input of evaluate and maps)."""
    out = chain["store"].parent / "learned_predictions.zarr"
    c = ["--config", str(chain["config"]), "--store", str(chain["store"])]
    assert main(["predict-tasks", *c, "--checkpoint", str(chain["ckpt"]), "--out", str(out)]) == 0
    return out


def _sweep_commands(chain: dict[str, Path], predictions: Path, out: Path) -> dict[str, tuple[list, list]]:
    """command -> (its inputs as (option, path) pairs, its other arguments, outputs in ``out``)."""
    config, store, ckpt = (
        ("--config", chain["config"]),
        ("--store", chain["store"]),
        ("--checkpoint", chain["ckpt"]),
    )
    return {
        "download": ([config], ["--out", out / "raw" / "manifest.json"]),
        "standardise": ([config, ("--manifest", chain["manifest"])], ["--out", out / "std.zarr"]),
        "build-tasks": ([config, ("--input", chain["std"])], ["--out", out / "tasks.zarr"]),
        "train": ([config, store], ["--prior", "learned", "--out", out / "learned.pt"]),
        "predict": ([ckpt, ("--input", chain["nc"])], ["--output", out / "predicted.nc", *PREDICT_OPTIONS]),
        "predict-tasks": ([config, store, ckpt], ["--out", out / "learned.zarr"]),
        "baseline": ([config, store], ["--method", "context_mean", "--out", out / "context_mean.zarr"]),
        "evaluate": (
            [config, ("--predictions", predictions)],
            ["--json", out / "m.json", "--netcdf", out / "m.nc", "--markdown", out / "m.md"],
        ),
        "maps": ([config, ("--predictions", predictions)], ["--out-random", out / "random.png"]),
    }


def _argv(command: str, inputs: list, rest: list) -> list[str]:
    value = {"evaluate": lambda p: f"learned={p}"}.get(command, str)
    args = [
        str(a)
        for pair in inputs
        for a in (pair[0], value(pair[1]) if pair[0] == "--predictions" else pair[1])
    ]
    return [command, *args, *(str(a) for a in rest)]


def _wrong_kind(option: str, tmp: Path) -> Path:
    """A file of the wrong kind for ``option``: a PNG for the YAML config, a YAML text for everything else
    (a manifest, a Zarr store, a checkpoint, a netCDF file)."""
    if option == "--config":
        path = tmp / "config.yaml"
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
        return path
    name = {"--manifest": "manifest.json", "--checkpoint": "model.pt", "--input": "std.zarr"}.get(
        option, "store.zarr"
    )
    path = tmp / name
    path.write_text("data:\n  name: test\n")
    return path


class _Disk:
    """Simulated file-system faults inside one folder: ``read_only`` (no file or folder can be created there)
    or ``full`` (the disk fills up as a finished temporary file or store is committed)."""

    def __init__(self, folder: Path, monkeypatch, fault: str):
        self.folder = folder.resolve()
        errno_, text = (
            (errno.EACCES, "Permission denied")
            if fault == "read_only"
            else (errno.ENOSPC, "No space left on device")
        )
        self.error = lambda path: OSError(errno_, text, str(path))
        if fault == "read_only":
            mkstemp, mkdir = tempfile.mkstemp, os.mkdir
            monkeypatch.setattr(
                tempfile, "mkstemp", lambda *a, dir=None, **k: self._check(dir) or mkstemp(*a, dir=dir, **k)
            )
            monkeypatch.setattr(os, "mkdir", lambda path, *a, **k: self._check(path) or mkdir(path, *a, **k))
        else:
            replace, rename = os.replace, Path.rename
            monkeypatch.setattr(
                os, "replace", lambda src, dst, **k: self._check(src) or replace(src, dst, **k)
            )
            monkeypatch.setattr(
                Path, "rename", lambda src, dst: self._check(src, ".tmp-") or rename(src, dst)
            )

    def _check(self, path, marker: str = "") -> None:
        if (
            path is not None
            and Path(path).resolve().is_relative_to(self.folder)
            and marker in Path(path).name
        ):
            raise self.error(path)


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))
    }


SWEEP_FAULTS = ("missing", "wrong_kind", "read_only", "full_disk_over_an_existing_output")


@pytest.mark.parametrize("fault", SWEEP_FAULTS)
@pytest.mark.parametrize("command", list(STEPS))
def test_every_command_fails_in_one_line_and_leaves_nothing_half_written(
    chain, predictions, tmp_path, monkeypatch, capsys, command, fault
):
    """Each command, each fault: a one-line error (exit 1; argparse's usage error, exit 2, for a missing
    input), the output folder as it was (empty, or the earlier output byte for byte), no temporary file."""
    out = tmp_path / "out"
    out.mkdir()
    inputs, rest = _sweep_commands(chain, predictions, out)[command]
    if fault == "missing":
        inputs = [(inputs[0][0], tmp_path / "no_such_file"), *inputs[1:]]
    elif fault == "wrong_kind":
        inputs = [(inputs[-1][0], _wrong_kind(inputs[-1][0], tmp_path)), *inputs[:-1]]
    elif fault.startswith("full_disk"):
        for path in (Path(a) for a in rest if isinstance(a, Path)):  # an earlier run's outputs
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir() if path.suffix == ".zarr" else path.write_bytes(b"an earlier output")
            if path.suffix == ".zarr":
                (path / "zarr.json").write_text('{"earlier": true}')
    before = _tree(out)
    if fault != "missing":
        _Disk(out, monkeypatch, "read_only" if fault == "read_only" else "full")
    argv = _argv(command, inputs, rest)
    if fault == "missing":
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.splitlines()[-1].endswith(f"no such file or folder: '{tmp_path / 'no_such_file'}'"), err
    else:
        assert main(argv) == 1
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if not line.startswith("step ")]  # not progress lines
        assert len(errors) == 1 and errors[0].startswith(f"climate-bnnp {command}: error: "), err
        if fault != "wrong_kind":
            assert ("Permission denied" if fault == "read_only" else "No space left on device") in err
    monkeypatch.undo()
    assert _tree(out) == before, f"{command}: the output folder changed: {sorted(_tree(out))}"
