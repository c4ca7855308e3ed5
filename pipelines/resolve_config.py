"""Snakemake rule `config`: validate the merged Snakemake config and write it as the experiment's YAML.

Usage: ``python pipelines/resolve_config.py --json '<config as JSON>' --out results/<name>/config.yaml``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from climate_bnnp.config import ExperimentConfig, config_from_dict, config_to_dict
from climate_bnnp.data import write_text_atomic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="the experiment config as a JSON object")
    parser.add_argument("--out", required=True, type=Path, help="YAML file to write")
    args = parser.parse_args(argv)
    config = config_from_dict(ExperimentConfig, json.loads(args.json), where="snakemake config")
    write_text_atomic(args.out, yaml.safe_dump(config_to_dict(config), sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
