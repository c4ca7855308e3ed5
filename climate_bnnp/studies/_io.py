"""What the study command lines share: common options and atomic writing of results (JSON + markdown)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..data import write_text_atomic

__all__ = ["study_parser", "write_text_atomic", "write_results", "cached_json", "check_runs_size"]


def study_parser(doc: str | None, *, quick_help: str, name: str) -> argparse.ArgumentParser:
    """A parser with the options every study has: ``--quick --out --checkpoints --threads --name``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", type=Path, default=Path("results/studies"))
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder for checkpoints (resume)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 is best on a busy machine)"
    )
    parser.add_argument("--name", default=name, help="basename of the result files")
    return parser


def write_results(out: Path, name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``out/name.json`` and ``out/name.md``; returns both paths."""
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
