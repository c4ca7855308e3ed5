"""The one driver every sized study runs on: sizes from config files, resume, result files, the command line.

A study is a module with a :class:`Study`: its name, its size dataclass (a keyword-only frozen dataclass)
and its ``run(size, out, *, name, log, **options)``. Its sizes are YAML files
``configs/studies/<name>_<preset>.yaml`` (``quick``: the CI size, ``full``: the README's), read by the
package's config engine (:func:`climate_bnnp.config.load_config`), so a bad key or value is reported with
the file, the key and what was expected. :func:`main` gives every study the same command line::

    climate-bnnp study NAME [--quick | --size PRESET | --config FILE] [--set KEY=VALUE ...] [--out DIR]
        [--checkpoints DIR] [--threads N] [--name BASENAME] [study options]

``--set`` overrides one size field (YAML value, dotted keys for nested sections: ``--set steps=1000``,
``--set families=[gp]``, ``--set training.fit_steps=500``). Finished pieces of a run are cached as JSON
(:func:`cached_json`) under a folder that records the size they belong to (:func:`check_runs_size`), so a
rerun with the same ``--out`` resumes and a rerun of another size is refused.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import ConfigError, config_from_dict, config_to_dict, load_config
from ..data import write_text_atomic

__all__ = [
    "CONFIG_DIR",
    "PRESETS",
    "Study",
    "size_path",
    "load_size",
    "with_overrides",
    "write_results",
    "cached_json",
    "check_runs_size",
    "main",
]

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "studies"
"""Where the studies' size files live (the repository's ``configs/studies``)."""
PRESETS = ("quick", "full")
"""The sizes every study has: ``quick`` (CI, seconds to a minute) and ``full`` (the README's tables)."""


@dataclass(frozen=True, kw_only=True)
class Study:
    """A study the shared driver runs.

    Attributes:
        name: ``climate-bnnp study NAME``; its sizes are ``configs/studies/<name>_<preset>.yaml``.
        size_type: the study's size dataclass (keyword-only, frozen).
        run: ``run(size, out, *, name, log, **options) -> dict`` (results, also written to
            ``out/<name>.{json,md}`` when ``out`` is given), plus ``checkpoint_dir`` if ``checkpoints``.
        checkpoints: whether the study keeps model checkpoints in a folder of their own (``--checkpoints``).
        basename: the default basename of the result files (``--name``; default: ``name``).
        doc: the study's description (its module docstring), shown by ``--help``.
        add_options: adds the study's own (non-size) options to the parser.
        options: the keyword arguments of ``run`` those options give (from the parsed arguments).
        after: runs after ``run`` with the parsed arguments (e.g. an extra figure).
    """

    name: str
    size_type: type
    run: Callable[..., dict]
    doc: str | None = None
    checkpoints: bool = True
    basename: str | None = None
    add_options: Callable[[argparse.ArgumentParser], None] | None = None
    options: Callable[[argparse.Namespace], dict[str, Any]] | None = None
    after: Callable[[argparse.Namespace], None] | None = None

    def size(self, preset: str = "full") -> Any:
        """The study's size ``preset`` (``quick`` or ``full``) from its config file."""
        return load_size(self.size_type, size_path(self.name, preset))


def size_path(name: str, preset: str) -> Path:
    """``configs/studies/<name>_<preset>.yaml``; ``preset`` must be one of :data:`PRESETS`."""
    if preset not in PRESETS:
        raise ValueError(
            f"unknown study size {preset!r}; choose one of {list(PRESETS)} or pass --config FILE."
        )
    return CONFIG_DIR / f"{name}_{preset}.yaml"


def load_size(size_type: type, path: str | Path) -> Any:
    """A study size from a YAML file through the package's config engine (errors name file, key, value)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no study size file {path}; the sizes live in configs/studies/ of the repository "
            "(pass --config FILE elsewhere)."
        )
    return load_config(path, size_type)


def with_overrides(size: Any, assignments: Sequence[str]) -> Any:
    """``size`` with ``KEY=VALUE`` assignments applied (YAML values; dotted keys for nested sections),
    validated by the config engine like a size file."""
    data = config_to_dict(size)
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set steps=1000.")
        *parents, leaf = key.split(".")
        section = data
        for part in parents:
            if not isinstance(section.get(part), dict):
                raise ConfigError(
                    f"--set {assignment!r}: {part!r} is not a section of {type(size).__name__}."
                )
            section = section[part]
        section[leaf] = yaml.safe_load(text)
    return config_from_dict(type(size), data, where="--set")


def write_results(out: Path, name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``out/name.json`` and ``out/name.md`` atomically; returns both paths."""
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    write_text_atomic(json_path, json.dumps(data, indent=2) + "\n")
    write_text_atomic(md_path, markdown)
    return json_path, md_path


def cached_json(path: Path | None, compute: Callable[[], Any]) -> Any:
    """``compute()``'s JSON-able result: read from ``path`` if it exists, else computed and written there."""
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    result = compute()
    if path is not None:
        write_text_atomic(path, json.dumps(result) + "\n")
    return result


def check_runs_size(runs: Path, size: Any) -> None:
    """Record the study size (a dataclass) of the runs in ``runs/size.json``; refuse to resume runs of another
    size."""
    path, wanted = runs / "size.json", asdict(size)
    if path.is_file():
        found = json.loads(path.read_text())
        if found != json.loads(json.dumps(wanted)):
            raise ValueError(
                f"{runs} holds runs of another study size ({found}), not {wanted}; delete that folder or "
                "pass another --out."
            )
    else:
        write_text_atomic(path, json.dumps(wanted) + "\n")


def _parser(study: Study) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"climate-bnnp study {study.name}", description=study.doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_const", const="quick", dest="size", help="the CI size")
    sizes.add_argument(
        "--size", choices=PRESETS, default="full", help=f"configs/studies/{study.name}_<SIZE>.yaml (full)"
    )
    sizes.add_argument("--config", type=Path, default=None, help="a size file of your own instead")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override a size field (YAML value; repeatable), e.g. --set steps=1000",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("results/studies"))
    if study.checkpoints:
        parser.add_argument("--checkpoints", type=Path, default=None, help="folder for checkpoints (resume)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 is best on a busy machine)"
    )
    parser.add_argument("--name", default=study.basename or study.name, help="basename of the result files")
    if study.add_options is not None:
        study.add_options(parser)
    return parser


def main(study: Study, argv: Sequence[str] | None = None) -> int:
    """Parse the shared command line (module docstring), load the size and run ``study``; exit status 0."""
    args = _parser(study).parse_args(argv)
    size = study.size(args.size) if args.config is None else load_size(study.size_type, args.config)
    size = with_overrides(size, args.overrides)
    if args.threads:
        torch.set_num_threads(args.threads)
    options = {} if study.options is None else study.options(args)
    if study.checkpoints:
        options["checkpoint_dir"] = args.checkpoints
    study.run(size, args.out, name=args.name, **options)
    if study.after is not None:
        study.after(args)
    return 0
