"""Config validation: every value is checked against its field's annotation, with the key path, the value
got and what was expected in the message; every shipped config still loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from climate_bnnp.config import (
    ConfigError,
    ExperimentConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    load_config,
)

ROOT = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, text: str) -> ExperimentConfig:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return load_config(path)


@pytest.mark.parametrize(
    "text, match",
    [
        # the examples
        (
            "train:\n  objective: foo\n",
            r"train\.objective: got 'foo'.*one of \['pp_avi', 'elbo', 'npml', 'npvi'\]",
        ),
        ("train:\n  steps: abc\n", r"train\.steps: got 'abc' \(str\); expected an integer"),
        ("train:\n  device: tpu\n", r"train\.device: got 'tpu'; expected 'cpu', 'cuda', 'cuda:N'"),
        ("model:\n  kind: xyz\n", r"model\.kind: got 'xyz'.*one of \['bnnp', 'attn_bnnp', 'bnam'\]"),
        (
            "model:\n  hidden_dims: '64'\n",
            r"model\.hidden_dims: got '64' \(str\); expected a list of integers",
        ),
        # types: bool is not an int, floats are not ints, strings are not booleans
        ("train:\n  steps: true\n", r"train\.steps: got True \(bool\); expected an integer"),
        ("train:\n  steps: 10.5\n", r"train\.steps: got 10\.5 \(float\); expected an integer"),
        ("model:\n  learn_noise: 'yes'\n", r"model\.learn_noise: got 'yes' \(str\); expected true or false"),
        ("train:\n  lr: fast\n", r"train\.lr: got 'fast' \(str\); expected a number"),
        ("train:\n  beta: .nan\n", r"train\.beta: got nan; expected a finite number > 0"),
        ("model:\n  activation: 3\n", r"model\.activation: got 3 \(int\); expected a string"),
        # tuple elements, fixed-length tuples, Optional
        (
            "model:\n  hidden_dims: [64, '64']\n",
            r"model\.hidden_dims\[1\]: got '64' \(str\); expected an integer",
        ),
        (
            "model:\n  hidden_dims: [64, 0]\n",
            r"model\.hidden_dims: got \[64, 0\]; expected a list of positive",
        ),
        ("data:\n  area: [60, -12, 36]\n", r"data\.area: got \[60, -12, 36\].*4 items.*got 3 items"),
        ("data:\n  area: [60, -12, 36, x]\n", r"data\.area\[3\]: got 'x' \(str\); expected a number"),
        ("train:\n  chunk_size: many\n", r"train\.chunk_size: got 'many' \(str\); expected an integer"),
        (
            "train:\n  chunk_size: 0\n",
            r"train\.chunk_size: got 0; expected a positive integer \(>= 1\), or null \(full batch\)",
        ),
        ("tasks:\n  mnist: [1]\n", r"tasks\.mnist: expected a mapping for MnistConfig, got list"),
        ("model: 3\n", r"model: expected a mapping for ModelConfig, got int"),
        # ranges
        ("train:\n  num_samples: 0\n", r"train\.num_samples: got 0; expected a positive integer"),
        ("train:\n  lr: -1.0\n", r"train\.lr: got -1\.0; expected a finite number > 0, e\.g\. 0\.001\."),
        ("tasks:\n  context_fraction: [0.5, 0.2]\n", r"tasks\.context_fraction: got \[0\.5, 0\.2\]"),
        ("tasks:\n  mnist:\n    eval_samples: 0\n", r"tasks\.mnist\.eval_samples: got 0; expected a positiv"),
        (
            "data:\n  subsample_fraction: 0.0\n",
            r"data\.subsample_fraction: got 0\.0; expected a number in \(0, 1\], e\.g\. 0\.25\.",
        ),
        ("data:\n  source: ftp\n", r"data\.source: got 'ftp'.*one of \['sample', 'cds'\]"),
    ],
)
def test_nonsense_values_are_rejected_with_path_value_and_expectation(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        _load(tmp_path, text)


def test_the_message_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"exp\.yaml\.train\.steps"):
        _load(tmp_path, "train:\n  steps: abc\n")


def test_valid_values_are_converted_to_the_field_types(tmp_path):
    cfg = _load(
        tmp_path,
        "model:\n  hidden_dims: [8, 4]\n  noise_init: 1\n  noise_bound: null\n"
        "train:\n  lr: 1e-3\n  chunk_size: null\n  device: cuda:1\n"
        "data:\n  area: [60, -12, 36, 24]\n",
    )
    assert cfg.model.hidden_dims == (8, 4) and cfg.model.noise_init == 1.0
    assert isinstance(cfg.model.noise_init, float) and cfg.model.noise_bound is None
    assert cfg.train.lr == 1e-3 and isinstance(cfg.train.lr, float)  # YAML 1.1 reads 1e-3 as text
    assert cfg.train.chunk_size is None and cfg.train.device == "cuda:1"
    assert cfg.data.area == (60.0, -12.0, 36.0, 24.0) and all(isinstance(v, float) for v in cfg.data.area)


def test_direct_construction_checks_device_and_ranges():
    with pytest.raises(ConfigError, match="train.device: got 'gpu'"):
        TrainConfig(device="gpu")
    with pytest.raises(ConfigError, match="train.steps: got 0"):
        TrainConfig(steps=0)
    for device in ("cpu", "cuda", "cuda:0", "cuda:12", "auto"):
        assert TrainConfig(device=device).device == device


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_round_trips(path):
    config = load_config(path)
    again = config_from_dict(ExperimentConfig, yaml.safe_load(yaml.safe_dump(config_to_dict(config))))
    assert again == config
