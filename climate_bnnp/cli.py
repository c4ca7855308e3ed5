"""``climate-bnnp``: the pipeline's steps, and prediction on a user's file, from the command line.

Each command runs the same code as the Snakemake rule of that name (:mod:`climate_bnnp.steps`). Errors in
the inputs (a missing file, a bad config, data the model cannot use) end with a one-line message and exit
status 1 (2 for bad arguments), not a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from climate_bnnp import __version__
from climate_bnnp.data import CDSCredentialsError, CDSDownloadError
from climate_bnnp.steps import STEPS, configure, step_module
from climate_bnnp.studies import STUDIES, run_study

EPILOG = """\
The ERA5 pipeline step by step (what `snakemake all` runs; configs/sample.yaml: the bundled sample):
  climate-bnnp download --config C --out data/sample/raw/manifest.json
  climate-bnnp standardise --config C --manifest data/sample/raw/manifest.json --out data/sample/std.zarr
  climate-bnnp build-tasks --config C --input data/sample/std.zarr --out data/sample/tasks.zarr
  climate-bnnp train --config C --store data/sample/tasks.zarr --prior learned --out learned.pt
Predict on your own data (tp in mm, NaN where unobserved, plus the model's covariates):
  climate-bnnp predict --checkpoint learned.pt --input observed.nc --output predicted.nc

`climate-bnnp COMMAND --help` describes a command and shows an example.
"""
USER_ERRORS = (OSError, ValueError, CDSCredentialsError, CDSDownloadError)
"""Failures caused by the inputs or the environment: reported in one line; anything else is a bug."""


def build_parser() -> argparse.ArgumentParser:
    """The ``climate-bnnp`` parser: one subcommand per entry of :data:`climate_bnnp.steps.STEPS`."""
    parser = argparse.ArgumentParser(
        prog="climate-bnnp", description=__doc__.splitlines()[0].replace("``", ""), epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in STEPS:
        step = step_module(command)
        configure(commands.add_parser(command, help=step.__doc__.splitlines()[0]), step)
    study = commands.add_parser("study", help="run one of the paper's studies (NAME --help: its options)")
    study.add_argument("name", choices=STUDIES, metavar="NAME", help=f"one of {', '.join(STUDIES)}")
    study.add_argument("options", nargs=argparse.REMAINDER, help="the study's own options")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``climate-bnnp`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv[argv.index(args.command) + 1 :]  # the command's own (train relaunches with them)
    try:
        if args.command == "study":
            return run_study(args.name, args.options)
        return step_module(args.command).run(args)
    except USER_ERRORS as exc:
        print(f"climate-bnnp {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
