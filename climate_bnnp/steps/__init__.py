"""The pipeline's steps as functions: shared by ``pipelines/<step>.py`` (Snakemake) and ``climate-bnnp``.

Each step module has a docstring (its ``--help`` description), ``EXAMPLE`` (an invocation, shown in the
``--help`` epilog), ``add_arguments(parser)`` and ``run(args) -> int``. :data:`STEPS` maps the command
names of ``climate-bnnp`` to the modules; :func:`run_step` parses a step's arguments and runs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

STEPS = {
    "download": "download",
    "standardise": "standardise",
    "build-tasks": "build_tasks",
    "train": "train",
    "predict": "predict",
    "predict-tasks": "predict_tasks",
    "baseline": "baseline",
    "evaluate": "evaluate",
    "maps": "maps",
}
"""``climate-bnnp`` command -> module of :mod:`climate_bnnp.steps`, in pipeline order."""


def step_module(command: str) -> ModuleType:
    """The module of ``climate-bnnp <command>`` (e.g. ``"build-tasks"``)."""
    return importlib.import_module(f"{__name__}.{STEPS[command]}")


def configure(parser: argparse.ArgumentParser, step: ModuleType) -> argparse.ArgumentParser:
    """Give ``parser`` the step's description, example epilog and arguments."""
    parser.description = step.__doc__
    parser.epilog = f"example:\n  {step.EXAMPLE}"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    step.add_arguments(parser)
    return parser


def run_step(command: str, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) as the arguments of step ``command`` and run it."""
    step = step_module(command)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = configure(argparse.ArgumentParser(prog=prog), step).parse_args(argv)
    args.argv = argv  # the step's own arguments, for a step that relaunches itself (train under torchrun)
    return step.run(args)


def existing_path(value: str) -> Path:
    """argparse type: a file or folder that exists."""
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {value!r}")
    return path
