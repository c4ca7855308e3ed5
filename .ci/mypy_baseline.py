"""Type-check the package with mypy against a committed baseline that can only shrink.

The baseline (``.ci/mypy-baseline.txt``) lists the errors mypy reports today, one per line, as
``path: message  [code]`` without line numbers (so editing a file above an old error does not move it).
The check fails when mypy reports an error that is not in the baseline (a new error: fix it), and when the
baseline lists an error that mypy no longer reports (a fixed error: delete its line, or run this script with
``--update``, which only ever removes lines).

Usage::

    python .ci/mypy_baseline.py            # the check (CI and pre-commit)
    python .ci/mypy_baseline.py --update   # drop the fixed errors from the baseline
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".ci" / "mypy-baseline.txt"
_ERROR = re.compile(r"^(?P<path>[^:]+):\d+(?::\d+)?: error: (?P<message>.*)$")


def mypy_errors() -> Counter[str]:
    """mypy's errors on the package (settings in pyproject.toml), normalised and counted."""
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context", "--no-pretty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode not in (0, 1):  # 2: mypy itself failed (bad config, crash)
        sys.exit(f"mypy did not run (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
    errors: Counter[str] = Counter()
    for line in run.stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            errors[f"{match['path']}: {match['message']}"] += 1
    return errors


def read_baseline() -> Counter[str]:
    lines = BASELINE.read_text().splitlines() if BASELINE.exists() else []
    return Counter(line for line in lines if line and not line.startswith("#"))


def write_baseline(errors: Counter[str]) -> None:
    header = "# mypy errors accepted for now; this list may only shrink (see .ci/mypy_baseline.py)\n"
    BASELINE.write_text(header + "".join(f"{line}\n" for line in sorted(errors.elements())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="remove fixed errors from the baseline")
    parser.add_argument("--init", action="store_true", help="write the baseline from scratch (maintainers)")
    args = parser.parse_args(argv)
    found, baseline = mypy_errors(), read_baseline()
    if args.init:
        write_baseline(found)
        print(f"baseline written: {sum(found.values())} errors")
        return 0
    new, fixed = found - baseline, baseline - found
    if args.update:
        write_baseline(baseline - fixed)
        print(f"removed {sum(fixed.values())} fixed errors; {sum((baseline - fixed).values())} remain")
        fixed = Counter()
    for line in sorted(new.elements()):
        print(f"new mypy error: {line}")
    for line in sorted(fixed.elements()):
        print(f"fixed, remove from {BASELINE.relative_to(ROOT)}: {line}")
    if new or fixed:
        print(
            f"mypy baseline check failed: {sum(new.values())} new errors (fix them), {sum(fixed.values())} "
            "fixed errors still listed (run `python .ci/mypy_baseline.py --update`)."
        )
        return 1
    print(f"mypy: no new errors ({sum(found.values())} in the baseline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
