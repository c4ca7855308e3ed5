"""The YAML side of the config: coercion of plain data into the frozen sections, and back.

YAML only serialises the section dataclasses: :func:`config_from_dict` checks every value against its
field's annotation (lists become tuples, nested mappings sections), rejects unknown keys with a "did you
mean", and each section then checks its values with their rules (:mod:`climate_bnnp.config.rules`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from .rules import ConfigError, did_you_mean, rule_of

__all__ = [
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "read_yaml",
    "merge_config",
    "config_changes",
    "resolve_workflow_config",
]


def _describe(annotation: Any) -> str:
    """A short human name for a type annotation (``an integer``, ``one of ['a', 'b']``, ...)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    if annotation is str:
        return "a string"
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return f"one of {list(args)}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} items ({', '.join(_describe(a) for a in args)})"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(annotation):
        return f"a mapping of {annotation.__name__} fields"
    return getattr(annotation, "__name__", str(annotation))


def _plural(annotation: Any) -> str:
    names = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
    return names.get(annotation, f"items ({_describe(annotation)})")


def _coerce(value: Any, annotation: Any, where: str, example: str = "") -> Any:
    """Check ``value`` against ``annotation`` and convert YAML shapes to the field's type.

    Lists become tuples (element by element), nested sections become dataclasses, integers are accepted
    where a number is expected (and strings that parse as finite numbers, since YAML 1.1 reads ``1e-3``
    as text). Anything else that does not match raises :class:`ConfigError` naming the key path, the
    value got, what was expected and (``example``) a valid value. ``bool`` is not accepted as a number.
    """

    def fail(expected: str | None = None) -> typing.NoReturn:
        hint = (
            did_you_mean(value, typing.get_args(annotation))
            if typing.get_origin(annotation) is Literal
            else ""
        )
        raise ConfigError(
            f"{where}: got {value!r} ({type(value).__name__}); expected {expected or _describe(annotation)}"
            f"{', e.g. ' + example if example else ''}.{hint}"
        )

    if annotation is Any:
        return value
    if dataclasses.is_dataclass(annotation):
        return config_from_dict(annotation, value, where=where)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and value is not None:  # Optional[X]: X's own, more precise, message
            return _coerce(value, options[0], where, example)
        for arg in options:
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        fail()
    if origin is Literal:
        if not any(value == a and type(value) is type(a) for a in args):
            fail()
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            fail()
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail()
        return value
    if annotation is float:
        if isinstance(value, bool):
            fail()
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                fail()
            if not math.isfinite(number):
                fail()
            return number
        if not isinstance(value, (int, float)):
            fail()
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            fail()
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            fail()
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            fail(f"{_describe(annotation)}, got {len(value)} items")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            fail()
        return value
    return value


def _example(field: dataclasses.Field) -> str:
    """A valid value of a field as text: its default, else its rule's example."""
    rule = rule_of(field)
    default = None if field.default is dataclasses.MISSING else field.default
    return "" if rule is None else rule.example_for(default)


def config_from_dict(cls: type, data: Any, *, where: str = "config") -> Any:
    """Build the dataclass ``cls`` from a dict, rejecting unknown keys and bad values with a helpful message.

    Keys not given take the code's defaults (the dataclass's), never another file's.

    Raises:
        ConfigError: naming the key path, the value, what is accepted and an example.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {type(data).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        hints = {k: difflib.get_close_matches(k, fields, n=1) for k in unknown}
        hint = "; ".join(f"did you mean {v[0]!r} for {k!r}?" for k, v in hints.items() if v)
        raise ConfigError(
            f"{where}: unknown key(s) {unknown} for {cls.__name__}. Valid keys: {sorted(fields)}."
            + (f" ({hint})" if hint else "")
        )
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}", _example(fields[k])) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from err
    except ConfigError as err:  # a section's own rule: its message names the key path from the top
        path = getattr(cls, "PATH", "")
        root = where.removesuffix(path).rstrip(".") if path and where.endswith(path) else where
        if root and not str(err).startswith(root):
            raise ConfigError(f"{root}: {err}") from None
        raise


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain-data (JSON/YAML-able) dictionary of a config dataclass; tuples become lists."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def read_yaml(path: str | Path) -> Any:
    """The plain data of a YAML file.

    Raises:
        ConfigError: the file is missing, unreadable or not YAML.
    """
    path = Path(path)
    try:
        with path.open() as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file; give the path of a YAML config.") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; expected a YAML config file.") from None
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: not a YAML config file ({type(err).__name__}).") from None


def load_config(path: str | Path, cls: type | None = None) -> Any:
    """Load a YAML file into the frozen dataclass ``cls`` (default :class:`ExperimentConfig`), over the
    code's defaults.

    Raises:
        ConfigError: on unknown keys (naming key, section, file and the valid keys) or bad values.
    """
    if cls is None:
        from .sections import ExperimentConfig

        cls = ExperimentConfig
    try:
        return config_from_dict(cls, read_yaml(path), where=str(path))
    except ConfigError as err:
        if str(err).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {err}") from None


def merge_config(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` applied on ``base`` key by key (nested mappings merged, everything else replaced)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_changes(config: Any) -> list[str]:
    """The values of ``config`` that differ from the code's defaults, one ``key.path: value`` line each
    (``(default: ...)`` appended); empty when it is the default config."""
    default = config_to_dict(type(config)())

    def walk(now: Any, then: Any, path: str) -> list[str]:
        if isinstance(now, dict) and isinstance(then, dict):
            return [line for k in now for line in walk(now[k], then.get(k), f"{path}.{k}" if path else k)]
        return [] if now == then else [f"{path}: {now!r} (default: {then!r})"]

    return walk(config_to_dict(config), default, "")


def resolve_workflow_config(
    given: Mapping[str, Any], *, configfiles: Sequence[str | Path], demo: str | Path, cls: type | None = None
) -> Any:
    """The experiment config of a workflow run (the Snakefile's ``config``), over the code's defaults.

    With ``--configfile`` files (``configfiles``), ``given`` is their merge (plus any ``--config`` values),
    applied over the code's defaults: nothing is inherited from the demo. Without, the demo config file
    ``demo`` is the run's config, with ``given`` (``--config`` values) applied over it.

    Raises:
        ConfigError: naming the file(s), the key path, the value, what is accepted and an example.
    """
    if cls is None:
        from .sections import ExperimentConfig

        cls = ExperimentConfig
    if configfiles:
        where = " + ".join(str(f) for f in configfiles)
        return config_from_dict(cls, dict(given), where=where)
    base = read_yaml(demo) or {}
    return config_from_dict(cls, merge_config(base, given), where=str(demo))
