"""Every code block of the README, CONTRIBUTING, the changelog and the docs site is run or checked.

* ``python`` blocks run: the blocks of one page in order, in one namespace, in a temporary folder where
  ``results/sample/checkpoints/learned.pt`` is a quick model trained on the bundled sample (one fixture
  for all pages).
* ``bash`` blocks are checked line by line against the project: ``climate-bnnp`` options against its
  parser, ``python -m``/``python script.py`` options against the module's source, config files, profiles and
  extras against the repository (the long jobs themselves are run by their own tests at a small size).
* ``console``, ``text`` and ``bibtex`` blocks are output or layout and are not run. Any other block fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import shutil
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").rglob("*.md")]
)
SHOWN_ONLY = ("console", "text", "bibtex")
"""Block languages that are output or layout, never run."""
SECONDS_PER_PAGE = 60.0
"""A page's Python blocks must stay quick (the whole suite has a time budget); generous for loaded CI."""
_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[^\n`]*)\n(?P<code>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)
_TOOLS = {
    ("mkdocs", "build"), ("mkdocs", "serve"), ("ruff", "check"), ("ruff", "format"), ("lint-imports",),
    ("pre-commit", "install"), ("pre-commit", "run"),
}  # fmt: skip


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """The fenced code blocks of a Markdown file: ``(language, code, line number)``."""
    text = path.read_text()
    out = []
    for m in _BLOCK.finditer(text):
        indent = len(m["indent"])
        code = "\n".join(line[indent:] for line in m["code"].splitlines())
        out.append((m["lang"].strip(), code, text.count("\n", 0, m.start()) + 1))
    return out


def _label(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ----------------------------------------------------------------------------------------- shell commands
def _extras() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def _options(argv: list[str]) -> list[str]:
    return [a.split("=")[0] for a in argv if a.startswith("--")]


def _check_options_in_source(argv: list[str], source: str, what: str) -> None:
    for option in _options(argv):
        assert f'"{option}"' in source, f"{what} defines no option {option}"


def _subparser(command: str) -> argparse.ArgumentParser:
    from climate_bnnp.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert command in sub.choices, f"climate-bnnp has no command {command!r}; it has {sorted(sub.choices)}"
    return sub.choices[command]


def _check_study(argv: list[str]) -> None:
    """``climate-bnnp study NAME [options]``: NAME is a study, and its options are those of its own parser."""
    from climate_bnnp.studies import STUDIES

    assert argv and argv[0] in STUDIES, f"climate-bnnp study has no study {argv[:1]}; it has {list(STUDIES)}"
    module = importlib.import_module(f"climate_bnnp.studies.{argv[0]}")
    if hasattr(module, "STUDY"):  # the shared driver's parser
        from climate_bnnp.studies.driver import _parser

        known = {o for a in _parser(module.STUDY)._actions for o in a.option_strings}
        unknown = [o for o in _options(argv[1:]) if o not in known]
        assert not unknown, f"climate-bnnp study {argv[0]} has no options {unknown}"
    else:  # a study with a main(argv) of its own
        _check_options_in_source(argv[1:], Path(module.__file__).read_text(), f"climate-bnnp study {argv[0]}")


def check_command(argv: list[str]) -> None:
    """Check one shell command of the docs against the repository; AssertionError says what is wrong."""
    head = argv[0]
    if head == "bash":
        assert (ROOT / argv[1]).is_file(), f"no script {argv[1]}"
    elif head == "pip":
        assert argv[1:3] == ["install", "-e"], f"expected `pip install -e ...`, got {argv}"
        extras = re.fullmatch(r"\.(?:\[([\w,]+)\])?", argv[3])
        assert extras, f"expected `.` or `.[extra,...]`, got {argv[3]!r}"
        unknown = set((extras[1] or "").split(",")) - {""} - _extras()
        assert not unknown, f"pyproject.toml has no extras {sorted(unknown)}"
    elif head == "snakemake":
        for flag, kind in (("--configfile", "file"), ("--profile", "dir")):
            if flag in argv:
                path = ROOT / argv[argv.index(flag) + 1]
                assert path.is_file() if kind == "file" else path.is_dir(), f"no {kind} {path}"
    elif head == "climate-bnnp" and argv[1:2] == ["study"]:
        _check_study(argv[2:])
    elif head == "climate-bnnp":
        parser = _subparser(argv[1])
        known = {o for a in parser._actions for o in a.option_strings}
        unknown = [o for o in _options(argv[2:]) if o not in known]
        assert not unknown, f"climate-bnnp {argv[1]} has no options {unknown}"
        required = [a.option_strings[0] for a in parser._actions if a.required and a.option_strings]
        missing = [o for o in required if o not in argv]
        assert not missing, f"climate-bnnp {argv[1]} needs {missing}"
    elif head == "python" and argv[1:3] == ["-m", "pytest"]:
        for arg in argv[3:]:
            if arg.startswith("tests"):
                assert (ROOT / arg.split("::")[0]).exists(), f"no test path {arg}"
    elif head == "python" and argv[1] == "-m":
        spec = importlib.util.find_spec(argv[2])
        assert spec is not None and spec.origin, f"no module {argv[2]}"
        origin = Path(spec.origin)  # options may come from a helper of the same package (e.g. studies/_io.py)
        source = origin.read_text() + "".join(p.read_text() for p in origin.parent.glob("_*.py"))
        _check_options_in_source(argv[3:], source, f"python -m {argv[2]}")
    elif head == "python":
        script = ROOT / argv[1]
        assert script.is_file(), f"no script {argv[1]}"
        common = script.parent / "_common.py"
        source = script.read_text() + (common.read_text() if common.is_file() else "")
        _check_options_in_source(argv[2:], source, argv[1])
    else:
        assert tuple(argv[:2]) in _TOOLS or tuple(argv[:1]) in _TOOLS, f"unknown command {argv}"


def shell_commands(code: str) -> list[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped, split at ``&&``,
    ``$NAME`` replaced by an earlier ``NAME=value``."""
    variables: dict[str, str] = {}
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 1 and re.fullmatch(r"\w+=\S+", words[0]):
            name, value = words[0].split("=", 1)
            variables[name] = value
            continue
        words = [re.sub(r"\$(\w+)", lambda m: variables.get(m[1], m[0]), w) for w in words]
        command: list[str] = []
        for word in [*words, "&&"]:
            if word == "&&":
                if command:
                    commands.append(command)
                command = []
            else:
                command.append(word)
    return commands


def test_the_command_checker_rejects_what_does_not_exist():
    check_command(
        ["climate-bnnp", "predict", "--checkpoint", "a.pt", "--input", "b.nc", "--output", "c.zarr"]
    )
    check_command(["climate-bnnp", "study", "goldilocks", "--quick", "--set", "steps=1000", "--out", "o"])
    check_command(["climate-bnnp", "study", "mnist", "--config", "configs/mnist_bnnp.yaml", "--quick"])
    bad = [
        [
            "climate-bnnp",
            "predict",
            "--checkpoint",
            "a.pt",
            "--input",
            "b.nc",
            "--output",
            "c",
            "--nope",
            "1",
        ],
        ["climate-bnnp", "predict", "--checkpoint", "a.pt"],  # required options missing
        ["climate-bnnp", "fly"],
        ["snakemake", "all", "--configfile", "configs/missing.yaml"],
        ["pip", "install", "-e", ".[nope]"],
        ["python", "-m", "climate_bnnp.studies.elbo", "--no-such-option"],
        ["climate-bnnp", "study", "goldilocks", "--steps", "1000"],  # sizes are --set KEY=VALUE now
        ["climate-bnnp", "study", "no_such_study"],
        ["climate-bnnp", "study", "mnist", "--no-such-option"],
        ["python", "benchmarks/missing.py"],
        ["rm", "-rf", "/"],
    ]
    for argv in bad:
        with pytest.raises(AssertionError):
            check_command(argv)
    code = "C=configs/test.yaml\nsnakemake all --configfile $C && bash .ci/run  # note\n"
    code += "python -m x \\\n  --y 1\n"
    assert shell_commands(code) == [
        ["snakemake", "all", "--configfile", "configs/test.yaml"],
        ["bash", ".ci/run"],
        ["python", "-m", "x", "--y", "1"],
    ]


@pytest.mark.parametrize("page", PAGES, ids=_label)
def test_shell_blocks_name_real_commands_options_and_files(page):
    for lang, code, line in blocks(page):
        assert lang in ("python", "bash", *SHOWN_ONLY), (
            f"{_label(page)}:{line}: a code block in {lang or 'no language'}; use python (run by the tests), "
            f"bash (commands checked) or one of {SHOWN_ONLY} (output, not run)."
        )
        if lang != "bash":
            continue
        for argv in shell_commands(code):
            try:
                check_command(argv)
            except AssertionError as err:
                raise AssertionError(f"{_label(page)}:{line}: `{shlex.join(argv)}`: {err}") from None


# ------------------------------------------------------------------------------------------- python blocks
@pytest.fixture(scope="session")
def example_dir(tmp_path_factory) -> Path:
    """A folder where ``results/sample/checkpoints/learned.pt`` is a quick model on the bundled sample: the
    20-step demo model that the notebooks' tests use too (trained once, cached in the temp folder)."""
    from climate_bnnp.studies.demo_era5 import demo_checkpoint

    folder = tmp_path_factory.mktemp("examples")
    quick = demo_checkpoint(folder / "no_pipeline_results", steps=20)
    target = folder / "results" / "sample" / "checkpoints" / "learned.pt"
    target.parent.mkdir(parents=True)
    shutil.copyfile(quick, target)
    return folder


_PYTHON_PAGES = [p for p in PAGES if any(lang == "python" for lang, _, _ in blocks(p))]


@pytest.mark.parametrize("page", _PYTHON_PAGES, ids=_label)
def test_python_blocks_run(page, example_dir, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(example_dir)
    namespace: dict = {"__name__": "__docs_example__"}
    start = time.perf_counter()
    for lang, code, line in blocks(page):
        if lang == "python":
            exec(compile("\n" * line + code, _label(page), "exec"), namespace)  # noqa: S102 - the docs' own code
    seconds = time.perf_counter() - start
    assert seconds < SECONDS_PER_PAGE, f"{_label(page)}'s examples took {seconds:.0f} s; make them quicker"
