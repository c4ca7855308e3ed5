"""One validation rule per kind of config field: counts, rates, noise floors, fractions, names, ...

Every field of every config section carries one :class:`Rule` (``dataclasses.field(metadata={"rule": ...})``,
see :func:`setting`). :func:`check_fields` runs them when a section is built, from YAML or directly, so a
nonsense value fails at parse time with the key path, the value, what is accepted and an example. A rule
also lists values it must reject (:attr:`Rule.bad`): the tests generate their bad-value cases from them,
field by field, so a new field cannot go unchecked.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .vocab import FEATURE_WIDTHS

__all__ = [
    "ConfigError",
    "Rule",
    "setting",
    "rule_of",
    "check_fields",
    "show",
    "did_you_mean",
    "choice",
    "subset",
    "COUNT",
    "COUNT_OR_ZERO",
    "COUNTS",
    "SEED",
    "POSITIVE",
    "POSITIVES",
    "NOISE_FLOOR",
    "FRACTION",
    "OPEN_FRACTION",
    "FRACTION_RANGE",
    "FLAG",
    "FEATURES",
    "DEVICE",
    "FOLDER_NAME",
    "PATH",
    "TEXT",
    "NAME",
    "SCHEDULER",
    "MAPPING",
    "AREA",
    "BBOX",
    "SECTION",
    "DEVICE_PATTERN",
]


class ConfigError(ValueError):
    """A configuration file or dictionary does not match the dataclass schema."""


DEVICE_PATTERN = re.compile(r"cpu|cuda|cuda:\d+|auto")


def show(value: Any) -> str:
    """A value as a user wrote it in YAML terms: tuples as lists."""
    if isinstance(value, tuple):
        return repr([_plain(v) for v in value])
    return repr(value)


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def did_you_mean(name: Any, options: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or an empty string."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True, kw_only=True)
class Rule:
    """What a config field accepts.

    Attributes:
        accepted: what is accepted, in words (``"a positive integer"``).
        example: a valid value as YAML text, used in messages when the field's default cannot serve.
        bad: values the rule must reject (they drive the generated tests).
        test: ``value -> bool``, True when the value is accepted.
        optional: when not None, ``null`` is accepted too and this says what it means (``"full batch"``).
        hint: ``value -> str``, an extra sentence for a rejected value (e.g. "did you mean").
    """

    accepted: str
    example: str
    bad: tuple[Any, ...]
    test: Callable[[Any], bool]
    optional: str | None = None
    hint: Callable[[Any], str] | None = None

    def or_null(self, meaning: str, example: str | None = None) -> Rule:
        """The same rule accepting ``null`` (with the given meaning), optionally with another example."""
        return dataclasses.replace(
            self, optional=meaning, example=self.example if example is None else example
        )

    def describe(self) -> str:
        """What is accepted, ``null`` included."""
        return self.accepted + (f", or null ({self.optional})" if self.optional is not None else "")

    def example_for(self, default: Any) -> str:
        """A valid value as text: a field's ``default`` when it shows one, else the rule's example."""
        shown = "" if default is None else show(default).strip("'")
        return shown or self.example

    def check(self, where: str, value: Any, example: Any = None) -> None:
        """Raise :class:`ConfigError` naming ``where``, the value, what is accepted and an example.

        Args:
            example: a valid value of this very field (its default); the rule's own example otherwise.
        """
        if value is None and self.optional is not None:
            return
        try:
            ok = bool(self.test(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            shown = self.example_for(example)
            hint = self.hint(value) if self.hint is not None else ""
            raise ConfigError(f"{where}: got {show(value)}; expected {self.describe()}, e.g. {shown}.{hint}")


def setting(rule: Rule, default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field checked by ``rule`` (a default value, or a ``factory`` for sections)."""
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata={"rule": rule})
    return dataclasses.field(default=default, metadata={"rule": rule})


def rule_of(field: dataclasses.Field) -> Rule | None:
    """The rule of a dataclass field (None: a field without one, which the tests refuse)."""
    return field.metadata.get("rule")


def check_fields(section: Any, path: str) -> None:
    """Check every field of a section instance against its rule (``path``: ``model``, ``tasks.mnist``, ...).

    A field without a rule is not checked here; the tests refuse it (``tests/config``), so a new field
    gets its rule before it ships.

    Raises:
        ConfigError: the first field whose value its rule rejects.
    """
    for f in dataclasses.fields(section):
        rule = rule_of(f)
        if rule is None:
            continue
        where = f"{path}.{f.name}" if path else f.name
        default = None if f.default is dataclasses.MISSING else f.default
        rule.check(where, getattr(section, f.name), default)


# ------------------------------------------------------------------------------------------- the rules
def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def choice(options: Sequence[str]) -> Rule:
    """One of ``options`` (with a "did you mean" for a near miss)."""
    quoted = [repr(o) for o in options]
    return Rule(
        accepted=" or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted),
        example=str(options[0]),
        bad=("nonsense", 3),
        test=lambda v: isinstance(v, str) and v in options,
        hint=lambda v: did_you_mean(v, options),
    )


def subset(options: Sequence[str]) -> Rule:
    """A non-empty list of distinct members of ``options``."""
    return Rule(
        accepted=f"a non-empty list of distinct values from {', '.join(options)}",
        example=f"[{options[0]}]",
        bad=([], ["nonsense"], [options[0], options[0]], options[0]),
        test=lambda v: (
            isinstance(v, tuple) and len(v) > 0 and len(set(v)) == len(v) and set(v) <= set(options)
        ),
    )


COUNT = Rule(
    accepted="a positive integer (>= 1)",
    example="4",
    bad=(0, -3, 2.5, True),
    test=lambda v: _integer(v) and v >= 1,
)
COUNT_OR_ZERO = Rule(
    accepted="an integer >= 0", example="0", bad=(-1, -5, 1.5), test=lambda v: _integer(v) and v >= 0
)
SEED = Rule(
    accepted="an integer >= 0 (a seed)", example="0", bad=(-1, 0.5), test=lambda v: _integer(v) and v >= 0
)
COUNTS = Rule(
    accepted="a list of positive integers",
    example="[64, 64]",
    bad=([64, 0], [-1], 64),
    test=lambda v: isinstance(v, tuple) and all(_integer(d) and d >= 1 for d in v),
)
POSITIVES = Rule(
    accepted="a non-empty list of finite numbers > 0",
    example="[0.0175, 0.035]",
    bad=([], [0.1, 0.0], [-1.0], 0.1),
    test=lambda v: isinstance(v, tuple) and len(v) > 0 and all(_number(x) and x > 0 for x in v),
)
POSITIVE = Rule(
    accepted="a finite number > 0",
    example="0.001",
    bad=(0.0, -1.0, math.inf, math.nan),
    test=lambda v: _number(v) and v > 0,
)
NOISE_FLOOR = Rule(
    accepted="a finite number >= 0",
    example="0.0",
    bad=(-1.0, -0.1, math.inf, math.nan),
    test=lambda v: _number(v) and v >= 0,
)
FRACTION = Rule(
    accepted="a number in [0, 1]",
    example="0.5",
    bad=(-0.1, 1.5, math.nan),
    test=lambda v: _number(v) and 0 <= v <= 1,
)
OPEN_FRACTION = Rule(
    accepted="a number in (0, 1]",
    example="0.25",
    bad=(0.0, 1.5, math.nan),
    test=lambda v: _number(v) and 0 < v <= 1,
)
FRACTION_RANGE = Rule(
    accepted="[a, b] with 0 <= a <= b <= 1",
    example="[0.1, 0.5]",
    bad=([0.5, 0.2], [-0.1, 0.5], [0.1, 1.5], [0.1, 0.2, 0.3]),
    test=lambda v: isinstance(v, tuple) and len(v) == 2 and all(map(_number, v)) and 0 <= v[0] <= v[1] <= 1,
)
FLAG = Rule(accepted="true or false", example="true", bad=("yes", 1), test=lambda v: isinstance(v, bool))


def _feature_hint(value: Any) -> str:
    if not isinstance(value, tuple):
        return ""
    unknown = [f for f in value if f not in FEATURE_WIDTHS]
    hints = [f"{f!r} is unknown{did_you_mean(f, list(FEATURE_WIDTHS))}" for f in unknown]
    repeated = sorted({f for f in value if value.count(f) > 1})
    return (
        " " + "; ".join(hints + ([f"{repeated} repeated"] if repeated else [])) + "."
        if hints or repeated
        else ""
    )


FEATURES = Rule(
    accepted=f"a non-empty list of distinct feature names from {list(FEATURE_WIDTHS)}",
    example="[xyz, t2m]",
    bad=(["xzy", "t2m"], ["xyz", "foo"], [], ["t2m", "t2m"]),
    test=lambda v: (
        isinstance(v, tuple) and v != () and len(set(v)) == len(v) and all(f in FEATURE_WIDTHS for f in v)
    ),
    hint=_feature_hint,
)
DEVICE = Rule(
    accepted="'cpu', 'cuda', 'cuda:N' (N a GPU index) or 'auto' (CUDA when available)",
    example="cpu",
    bad=("tpu", "gpu", "cuda:x"),
    test=lambda v: isinstance(v, str) and DEVICE_PATTERN.fullmatch(v) is not None,
)
FOLDER_NAME = Rule(
    accepted="a non-empty folder name without '/'",
    example="my_run",
    bad=("", "a/b"),
    test=lambda v: isinstance(v, str) and v != "" and "/" not in v,
)
PATH = Rule(
    accepted="a non-empty path", example="data", bad=("",), test=lambda v: isinstance(v, str) and v != ""
)
TEXT = Rule(accepted="a string", example="CPU quick", bad=(3,), test=lambda v: isinstance(v, str))
NAME = Rule(
    accepted="a non-empty name",
    example="France",
    bad=("", " "),
    test=lambda v: isinstance(v, str) and v.strip() != "",
)
SCHEDULER = Rule(
    accepted="a scheduler address ('tcp://host:8786') or a scheduler file ('scheduler.json')",
    example="tcp://localhost:8786",
    bad=("localhost", "scheduler.yaml"),
    test=lambda v: isinstance(v, str) and ("://" in v or v.endswith(".json")),
)
MAPPING = Rule(
    accepted="a mapping",
    example="{dataset: reanalysis-era5-land}",
    bad=([1],),
    test=lambda v: isinstance(v, dict),
)
AREA = Rule(
    accepted="[north, west, south, east] in degrees with -90 <= south < north <= 90 and west != east",
    example="[50, 5, 45, 12]",
    bad=([40.0, 0.0, 50.0, 10.0], [95.0, 0.0, 50.0, 10.0], [50.0, 5.0, 45.0, 5.0]),
    test=lambda v: (
        isinstance(v, tuple)
        and len(v) == 4
        and all(map(_number, v))
        and -90 <= v[2] < v[0] <= 90
        and v[1] != v[3]
    ),
)
BBOX = Rule(
    accepted="[lon_min, lon_max, lat_min, lat_max] in degrees with lon_min < lon_max and "
    "-90 <= lat_min < lat_max <= 90",
    example="[-6, 10, 41, 52]",
    bad=([10.0, -6.0, 41.0, 52.0], [-6.0, 10.0, 52.0, 41.0], [-6.0, 10.0, 41.0, 95.0]),
    test=lambda v: (
        isinstance(v, tuple)
        and len(v) == 4
        and all(map(_number, v))
        and v[0] < v[1]
        and -90 <= v[2] < v[3] <= 90
    ),
)
SECTION = Rule(
    accepted="a mapping of the section's keys",
    example="{}",
    bad=(3, [1]),
    test=lambda v: dataclasses.is_dataclass(v) and not isinstance(v, type),
)
