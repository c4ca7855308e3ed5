"""Every config field is checked at parse time: bad values generated from the schema itself.

The cases are not written by hand: they walk :class:`ExperimentConfig` field by field and take each field's
rule's own list of bad values, so a new field without a rule, or a rule without bad values, fails here.
The oracle of "bad" is each rule's stated range (e.g. counts >= 1), and of "good" each field's default and its
rule's example.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest
import yaml

from climate_bnnp.config import ConfigError, ExperimentConfig, config_from_dict
from climate_bnnp.config.rules import SECTION, rule_of


def _walk(cls: type, path: tuple[str, ...] = ()):
    """(path, section class, field) for every field of every section, nested sections included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        yield (*path, f.name), cls, f
        nested = [t for t in (hints[f.name], *typing.get_args(hints[f.name])) if dataclasses.is_dataclass(t)]
        if nested:  # a section, or an optional one (``Section | None``)
            yield from _walk(nested[0], (*path, f.name))


FIELDS = list(_walk(ExperimentConfig))
SECTIONS = {path[:-1]: cls for path, cls, _ in FIELDS}


def _nested(path: tuple[str, ...], value):
    data = value
    for key in reversed(path):
        data = {key: data}
    return data


def _bad_cases():
    for path, _, f in FIELDS:
        rule = rule_of(f)
        for value in rule.bad if rule is not None else ():
            yield pytest.param(path, value, id=f"{'.'.join(path)}={value!r}")


def test_every_field_has_a_rule_with_bad_values_and_an_example():
    assert len(FIELDS) >= 75
    missing = [".".join(p) for p, _, f in FIELDS if rule_of(f) is None]
    assert missing == [], f"fields without a validation rule: {missing}"
    assert all(rule_of(f).bad and rule_of(f).example for _, _, f in FIELDS)


@pytest.mark.parametrize("path, value", list(_bad_cases()))
def test_a_bad_value_of_any_field_is_rejected_naming_key_value_accepted_and_example(path, value):
    where = ".".join(path)
    with pytest.raises(ConfigError) as err:
        config_from_dict(ExperimentConfig, _nested(path, value), where="user.yaml")
    message = str(err.value)
    assert message.startswith("user.yaml") and f"{where}:" in message, message
    if rule_of(dict((p, f) for p, _, f in FIELDS)[path]).accepted == SECTION.accepted:
        assert "expected a mapping" in message
        return
    shown = "nan" if isinstance(value, float) and math.isnan(value) else repr(value)
    assert f"got {shown}" in message and "expected" in message and "e.g." in message, message


@pytest.mark.parametrize(
    "path", [p for p, _, f in FIELDS if rule_of(f).accepted != SECTION.accepted], ids=".".join
)
def test_the_default_and_the_example_of_every_field_are_accepted(path):
    section = SECTIONS[path[:-1]]
    f = next(f for p, _, f in FIELDS if p == path)
    example = yaml.safe_load(rule_of(f).example)
    rule_of(f).check(".".join(path), tuple(example) if isinstance(example, list) else example)
    if f.default is not dataclasses.MISSING:
        assert getattr(section(), path[-1]) == f.default
        rule_of(f).check(".".join(path), f.default)


@pytest.mark.parametrize(
    "section, values, match",
    [
        # the issue's examples of values that used to pass the loader
        ("data", {"num_eval_samples": 0}, r"data\.num_eval_samples: got 0; expected a positive integer"),
        ("data", {"num_eval_samples": -3}, r"data\.num_eval_samples: got -3; expected a positive integer"),
        ("data", {"n_test": 0}, r"data\.n_test: got 0; expected a positive integer \(>= 1\), e\.g\. 4\."),
        ("data", {"n_val": -1}, r"data\.n_val: got -1; expected an integer >= 0, e\.g\. 4\."),
        ("data", {"fine_tune_steps": -5}, r"data\.fine_tune_steps: got -5; expected an integer >= 0"),
        ("data", {"fine_tune_lr": -1}, r"data\.fine_tune_lr: got -1\.0; expected a finite number > 0"),
        ("model", {"noise_init": -0.1}, r"model\.noise_init: got -0\.1; expected a finite number > 0"),
        (
            "model",
            {"min_noise": -1},
            r"model\.min_noise: got -1\.0; expected a finite number >= 0, e\.g\. 0\.0\.",
        ),
        ("train", {"lr": float("inf")}, r"train\.lr: got inf; expected a finite number > 0, e\.g\. 0\.001\."),
        ("train", {"lr": ".inf"}, r"train\.lr: got '\.inf' \(str\); expected a number, e\.g\. 0\.001\."),
        ("data", {"features": ["xyz", "foo"]}, r"data\.features: got \['xyz', 'foo'\].*'foo' is unknown\."),
        ("data", {"features": ["xzy", "t2m"]}, r"'xzy' is unknown \(did you mean 'xyz'\?\)"),
        ("data", {"features": ["t2m", "t2m"]}, r"\['t2m'\] repeated"),
        ("model", {"likelihood": "bernouli_gamma"}, r"did you mean 'bernoulli_gamma'\?"),
        ("data", {"tp_transform": "log"}, r"data\.tp_transform: got 'log'.*did you mean 'log1p'\?"),
    ],
)
def test_the_issues_examples_fail_at_parse_time(section, values, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(ExperimentConfig, {section: values})


ERA5 = {"tasks": {"family": "era5"}, "model": {"dim_x": 4}, "data": {"features": ["xyz", "t2m"]}}


@pytest.mark.parametrize(
    "change, match",
    [
        (
            {"model": {"dim_x": 5}},
            r"model\.dim_x = 5, but data\.features \['xyz', 't2m'\] give dim_x = 4; set",
        ),
        ({"model": {"dim_x": 4, "dim_y": 2}}, r"model\.dim_y = 2, but ERA5 tp gives dim_y = 1"),
        (
            {"model": {"dim_x": 4, "likelihood": "bernoulli_gamma"}, "data": {"tp_transform": "log1p"}},
            r"likelihood 'bernoulli_gamma' predicts tp >= 0.*tp_transform 'log1p' does not map 0 mm to 0",
        ),
        (
            {"model": {"dim_x": 4, "likelihood": "bernoulli_gamma"}, "data": {"tp_transform": "none"}},
            r"tp_transform 'none' does not map 0 mm to 0; expected tp_transform one of \['scale'\]",
        ),
        ({"data": {"n_val": 12, "n_test": 12}}, r"leaves no training time step of the sample's 24"),
        ({"data": {"n_val": 0, "eval_split": "val"}}, r"eval_split 'val' needs a validation split"),
        ({"data": {"held_out_country": None, "held_out_bbox": [0, 1, 2, 3]}}, r"held_out_bbox.*null"),
        (
            {"model": {"dim_x": 4, "noise_init": 0.1, "min_noise": 0.2}},
            r"noise_init \(0\.1\) must exceed.*min_noise",
        ),
        (
            {"model": {"dim_x": 4, "noise_init": 0.5, "noise_bound": 0.2}},
            r"noise_init \(0\.5\) must be below",
        ),
        (
            {"model": {"dim_x": 4, "kind": "bnam", "attn_width": 30, "attn_heads": 4}},
            r"attn_width \(30\) must be divisible by model\.attn_heads \(4\)",
        ),
        ({"tasks": {"family": "mnist", "mnist": {"pixels_per_task": 800}}}, r"an image has 784 pixels"),
        ({"tasks": {"family": "mnist", "mnist": {"num_test": 10, "test_images": 20}}}, r"must not exceed"),
        (
            {"tasks": {"family": "gp", "min_points": 50, "max_points": 10}},
            r"at least tasks\.min_points \(50\)",
        ),
    ],
)
def test_sections_that_disagree_fail_at_parse_time(change, match):
    data = {key: {**ERA5.get(key, {}), **change.get(key, {})} for key in {*ERA5, *change}}
    with pytest.raises(ConfigError, match=match):
        config_from_dict(ExperimentConfig, data)


def test_the_cross_rules_accept_what_the_pipeline_runs():
    config_from_dict(ExperimentConfig, ERA5)  # gaussian on tp_transform none
    scale = {
        **ERA5,
        "model": {"dim_x": 4, "likelihood": "bernoulli_gamma"},
        "data": {"tp_transform": "scale"},
    }
    assert config_from_dict(ExperimentConfig, scale).model.likelihood == "bernoulli_gamma"
    toy = config_from_dict(ExperimentConfig, {"model": {"dim_x": 1}})  # toy runs do not read data:
    assert toy.tasks.family == "gp" and toy.data.features == ("xyz", "t2m")
