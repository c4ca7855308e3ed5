"""Every table and number of the README and the docs site comes from a committed result file.

* A page of the site shows a results table only by including its file (``--8<-- "path"``), and every
  included file exists and is committed, so a page can never disagree with its file.
* A table written in a page or the README must hold no measured number (a decimal), only words and
  settings; a README number with a decimal point must appear in a committed result file.
* ``docs/results/train_step.md`` is rendered from ``benchmarks/results/train_step.json``: the test renders it
  again (an independent route from the JSON) and compares.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULT_DIRS = ("docs/results", "results", "benchmarks/results")
"""Where committed result files live (Markdown tables and JSON)."""
INCLUDED_DOCUMENTS = ("CHANGELOG.md", "CONTRIBUTING.md")
"""Repository documents the site includes whole (they are not result files)."""
_INCLUDE = re.compile(r'^\s*--8<--\s+"([^"]+)"\s*$', re.M)
_DECIMAL = re.compile(r"(?<![\w.])[−+-]?\d+\.\d+(?![\w.])")
_FENCE = re.compile(r"^(\s*)(```|~~~).*?^\1\2\s*$", re.M | re.S)


def _tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(out.splitlines())


def _is_result_file(rel: str) -> bool:
    return any(rel.startswith(d + "/") for d in RESULT_DIRS)


def _pages() -> list[Path]:
    """The README and every page of the site (docs/**/*.md that is not a result file)."""
    pages = [p for p in DOCS.rglob("*.md") if not _is_result_file(p.relative_to(ROOT).as_posix())]
    return [ROOT / "README.md", *sorted(pages)]


def _without_code(text: str) -> str:
    return _FENCE.sub("", text)


def _table_rows(text: str) -> list[str]:
    return [line for line in _without_code(text).splitlines() if line.lstrip().startswith("|")]


def _numbers(text: str) -> set[str]:
    """Decimal numbers in ``text``, normalised: no sign, so '−0.0064' and '-0.0064' are one number."""
    return {n.lstrip("−+-") for n in _DECIMAL.findall(text)}


@pytest.fixture(scope="module")
def tracked() -> set[str]:
    return _tracked()


@pytest.fixture(scope="module")
def result_numbers(tracked) -> set[str]:
    numbers: set[str] = set()
    for rel in tracked:
        if _is_result_file(rel) and rel.endswith((".md", ".json")) and (ROOT / rel).is_file():
            numbers |= _numbers((ROOT / rel).read_text())
    return numbers


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_pages_show_measured_tables_only_by_including_their_file(page, tracked):
    text = page.read_text()
    bad = [row for row in _table_rows(text) if _DECIMAL.search(row)]
    assert not bad, (
        f"{page.relative_to(ROOT)} writes a table of measured numbers by hand, e.g. {bad[0]!r}; put the "
        f'table in a committed result file under {", ".join(RESULT_DIRS)} and include it with --8<-- "path".'
    )
    for rel in _INCLUDE.findall(text):
        path = rel.split(":")[0]  # "file.md:3" includes from line 3
        where = (*RESULT_DIRS, *INCLUDED_DOCUMENTS)
        assert _is_result_file(path) or path in INCLUDED_DOCUMENTS, (
            f"{page.name} includes {path}, not in {where}"
        )
        assert path in tracked, f"{page.name} includes {path}, which is not a committed file; git add it"


def test_every_readme_number_is_in_a_committed_result_file(result_numbers):
    text = _without_code((ROOT / "README.md").read_text())
    text = re.sub(r"`[^`]*`", "", text)  # versions and commands in code spans are not results
    text = re.sub(r"\]\([^)]*\)", "]", text)  # nor link targets
    missing = sorted(_numbers(text) - result_numbers)
    assert not missing, (
        f"README states {missing}, found in no committed result file under {RESULT_DIRS}; put the number's "
        "source file in the repository or remove the number from the README."
    )


def test_the_checks_see_hand_written_tables_and_numbers():
    # the oracle of the checks above: they flag a hand-written table of numbers and nothing else
    assert _table_rows("| a | b |\n|---|---|\n| x | 0.5 ± 0.1 |\n") == [
        "| a | b |",
        "|---|---|",
        "| x | 0.5 ± 0.1 |",
    ]
    assert _table_rows("```\n| 1.5 |\n```\ntext\n") == []
    assert _numbers("CRPS −0.0064 and +0.012 at 3 s, v1.2.3, x2.5") == {"0.0064", "0.012"}
    assert _INCLUDE.findall('intro\n--8<-- "docs/results/a.md"\n    --8<-- "b.md:3"\n') == [
        "docs/results/a.md",
        "b.md:3",
    ]


def render_train_step_table(results: dict) -> str:
    """The Markdown table of the training-step sweep of ``benchmarks/train_step.py``'s JSON results.

    One row per context size; the median step time (3 significant digits) and the peak RSS (GB, 10⁹ bytes)
    of the full-batch and of the minibatched run.
    """
    rows: dict[int, dict[str, str]] = {}
    targets: dict[int, int] = {}
    for run in results.values():
        seconds = float(f"{run['median_step_seconds']:.3g}")
        cell = f"{seconds:g} s, {run['peak_rss_mb'] / 1000:.2f} GB"
        rows.setdefault(run["nc"], {})["chunked" if run["chunk"] else "full"] = cell
        targets[run["nc"]] = run["nt"]
    chunks = sorted({run["chunk"] for run in results.values() if run["chunk"]})
    lines = [
        f"| context points (targets) | full batch | minibatched (chunk {', '.join(map(str, chunks))}) |",
        "|---|---|---|",
    ]
    for nc in sorted(rows):
        lines.append(
            f"| {nc:,} ({targets[nc]:,}) | {rows[nc].get('full', '—')} | {rows[nc].get('chunked', '—')} |"
        )
    return "\n".join(lines) + "\n"


def test_train_step_table_is_rendered_from_its_json():
    results = json.loads((ROOT / "benchmarks/results/train_step.json").read_text())["results"]
    table = render_train_step_table(results)
    text = (DOCS / "results/train_step.md").read_text()
    assert table in text, f"docs/results/train_step.md is stale; its table should read:\n{table}"


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"])
def test_relative_links_of_the_repository_documents_exist(name):
    text = _without_code((ROOT / name).read_text())
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t]
    missing = [t for t in targets if t and not (ROOT / t).exists()]
    assert not missing, f"{name} links to {missing}, which do not exist"
