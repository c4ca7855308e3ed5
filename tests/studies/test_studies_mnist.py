"""MNIST study: training lowers the completion NLL; the runner writes results and figures; the notebook
runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from climate_bnnp.config import (
    ConfigError,
    ExperimentConfig,
    MnistConfig,
    ModelConfig,
    TaskConfig,
    TrainConfig,
    config_from_dict,
    load_config,
)
from climate_bnnp.models import build_model
from climate_bnnp.studies.mnist import main, run
from climate_bnnp.studies.mnist_eval import completion_log_likelihood
from climate_bnnp.tasks.mnist import load_mnist_5k, mnist_sampler, split_images
from climate_bnnp.train import fit

ROOT = Path(__file__).resolve().parents[2]
# Checked at this setting for seeds 0, 1, 2: improvements of 1.09, 0.55 and 0.97 nats/pixel.
MIN_IMPROVEMENT = 0.3


@pytest.fixture(scope="module")
def split():
    images, labels = load_mnist_5k()
    (train, _), (test, _) = split_images(images, labels, num_test=500, seed=0)
    return train, test


@pytest.mark.slow
def test_short_training_lowers_completion_nll(split):
    train, test = split
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(
            kind="bnnp", dim_x=2, hidden_dims=(16, 16), inf_hidden_dims=(32,), noise_init=0.1, min_noise=0.01
        )
    ).double()

    def score():
        return completion_log_likelihood(model, test[:8], fractions=(0.2,), num_samples=8)["0.2"]["marginal"][
            "mean"
        ]

    before = score()
    sampler = mnist_sampler(train, pixels_per_task=100, max_targets=50, seed=0)
    config = TrainConfig(steps=40, batch_size=4, num_samples=4, lr=3e-3, final_lr=1e-3, device="cpu", seed=0)
    fit(model, sampler, config, progress=False)
    assert score() - before > MIN_IMPROVEMENT  # log-likelihood per pixel up = NLL down


def test_joint_and_marginal_scores_obey_their_exact_relations(split):
    """Same draws, per image: with S = 1 the joint and the marginal per-pixel scores are equal; for any S,
    ``joint ≤ marginal + log S`` (``Σ_t log Σ_s p_st ≥ max_s Σ_t log p_st ≥ log Σ_s Π_t p_st − log S``).

    (``joint ≤ marginal`` is *not* a theorem: draws whose errors agree across pixels make the joint larger.)
    """
    _, test = split
    model = build_model(
        ModelConfig(kind="bnnp", dim_x=2, hidden_dims=(8,), inf_hidden_dims=(8,), min_noise=0.01)
    ).double()
    one = completion_log_likelihood(model, test[:3], fractions=(0.05,), num_samples=1)["0.05"]
    assert one["joint"]["mean"] == pytest.approx(one["marginal"]["mean"], abs=1e-12)
    num = 4
    scores = completion_log_likelihood(model, test[:3], fractions=(0.05, 0.5), num_samples=num)
    for r in scores.values():
        assert r["joint"]["mean"] <= r["marginal"]["mean"] + np.log(num) + 1e-12
        assert np.isfinite(r["marginal"]["se"]) and np.isfinite(r["joint"]["se"])
    assert scores["0.05"]["num_context"] == 39 and scores["0.5"]["num_context"] == 392


def tiny_config(kind: str) -> ExperimentConfig:
    model = dict(
        dim_x=2, dim_y=1, hidden_dims=(8,), inf_hidden_dims=(8,), attn_width=8, attn_heads=2, attn_layers=1
    )
    return ExperimentConfig(
        model=ModelConfig(kind=kind, noise_init=0.1, min_noise=0.01, **model),
        tasks=TaskConfig(
            family="mnist",
            context_fraction=(0.1, 0.3),
            max_targets=20,
            mnist=MnistConfig(pixels_per_task=40, test_images=2, eval_samples=2, label="test"),
        ),
        train=TrainConfig(steps=2, batch_size=2, num_samples=2, device="cpu"),
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bnnp", "attn_bnnp", "bnam"])
def test_runner_writes_results_and_figures(kind, tmp_path):
    results = run(tiny_config(kind), tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["model"] == kind and saved["train_steps"] == 2
    assert set(saved["log_likelihood_per_pixel"]) == {"0.05", "0.1", "0.2", "0.5"}
    expected = {"prior_samples.png", "completions.png"} | ({"superres.png"} if kind != "bnam" else set())
    assert {Path(p).name for p in results["figures"]} == expected
    assert all((tmp_path / name).stat().st_size > 1000 for name in expected)
    assert (tmp_path / "model.pt").is_file()


def test_configs_load_and_bad_options_are_rejected(tmp_path):
    for path in sorted((ROOT / "configs").glob("mnist_*.yaml")):
        config = load_config(path)
        assert config.tasks.family == "mnist" and config.model.min_noise > 0
        assert config.model.kind in path.stem
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['pixel'\] for MnistConfig"):
        config_from_dict(ExperimentConfig, {"tasks": {"family": "mnist", "mnist": {"pixel": 3}}})
    with pytest.raises(ConfigError, match="expected both IDX files or neither"):
        MnistConfig(idx_images="train-images-idx3-ubyte.gz")
    good = tiny_config("bnnp")
    with pytest.raises(ValueError, match="needs tasks.family 'mnist'"):
        run(ExperimentConfig(model=good.model, train=good.train, tasks=TaskConfig(family="gp")), tmp_path)
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path)])  # --config is required


@pytest.mark.slow
def test_notebook_executes_and_writes_figures(monkeypatch):
    monkeypatch.setenv("CLIMATE_BNNP_QUICK", "1")  # quick sizes in the kernel (inherited)
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = ROOT / "notebooks" / "mnist_generative.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=600, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    printed = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "Model: a BNNP meta-trained here for 10 steps" in printed
    for name in ("prior_samples", "completions", "superres"):
        assert (path.parent / "figures" / f"mnist_{name}.png").stat().st_size > 1000
