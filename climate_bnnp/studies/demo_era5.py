"""A checkpoint for the ERA5 notebooks: the pipeline's own result if present, else a tiny model trained here.

:func:`demo_checkpoint` returns ``results/<name>/checkpoints/learned.pt`` when ``snakemake all`` has produced
it; otherwise it meta-trains a small BNNP for a few hundred steps on the bundled real ERA5 sample with the
same package functions the pipeline uses (standardise, fit_normaliser, build_task_store, Era5TaskSet,
train_source, fit) and saves a checkpoint that records its normaliser and features, so
:func:`climate_bnnp.predict` can use it. It is a demo model, not a result.

``python -m climate_bnnp.studies.demo_era5 OUT.pt`` trains one.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ..checkpoint import load_checkpoint
from ..config import DataConfig, ExperimentConfig, ModelConfig, TaskConfig, TrainConfig, config_to_dict
from ..data import (
    build_task_store,
    feature_dim,
    fit_input_schema,
    open_sample,
    open_task_store,
    split_times,
    standardise,
)
from ..tasks import TaskSampler
from ..tasks.era5 import Era5TaskSet, train_source
from ..train import fit

__all__ = ["DEMO_FEATURES", "demo_checkpoint", "demo_experiment", "train_demo"]

DEMO_FEATURES = ("xyz", "t2m")


def demo_experiment(steps: int = 200) -> ExperimentConfig:
    """The tiny demo experiment: sample data, features xyz + t2m, log1p tp, BNNP [32, 32]."""
    return ExperimentConfig(
        data=DataConfig(
            name="notebook_demo", features=DEMO_FEATURES, tp_transform="log1p", subsample_fraction=0.03
        ),
        model=ModelConfig(
            kind="bnnp",
            dim_x=feature_dim(DEMO_FEATURES),
            dim_y=1,
            hidden_dims=(32, 32),
            inf_hidden_dims=(32, 32),
            noise_init=0.3,
        ),  # fmt: skip
        tasks=TaskConfig(family="era5", context_fraction=(0.01, 0.5), max_targets=500),
        train=TrainConfig(
            steps=steps,
            batch_size=4,
            num_samples=8,
            lr=3e-3,
            final_lr=3e-4,
            chunk_size=4096,
            device="cpu",
            dtype="float64",
            seed=0,
            log_every=50,
            checkpoint_every=10**9,
        ),  # fmt: skip
    )


def train_demo(path: str | Path, *, steps: int = 200, progress: bool = False) -> Path:
    """Meta-train the demo model on the ERA5 sample's training split and save it to ``path``."""
    config = demo_experiment(steps)
    data = config.data
    ds = standardise(open_sample(), source="sample")
    split = split_times(ds["time"].values, n_val=data.n_val, n_test=data.n_test)
    schema = fit_input_schema(ds, data.features, tp_transform=data.tp_transform,
                              wet_threshold=data.wet_threshold_mm, times=split["train"])  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        store_path = build_task_store(
            ds[["tp", "t2m"]], Path(tmp) / "tasks.zarr", tile_size=None, split=split, schema=schema
        )
        taskset = Era5TaskSet(open_task_store(store_path))
        sampler = TaskSampler(
            train_source(taskset, subsample_fraction=data.subsample_fraction),
            context_fraction=config.tasks.context_fraction,
            max_targets=config.tasks.max_targets,
            seed=config.train.seed,
        )
        fit(
            config.model, sampler, config.train, checkpoint_path=path, resume=False,
            schema=schema.to_dict(), experiment=config_to_dict(config) | {"prior": "learned (demo)"},
            progress=progress,
        )  # fmt: skip
    return Path(path)


def demo_checkpoint(
    results_dir: str | Path = "results",
    *,
    name: str = "sample",
    cache: str | Path | None = None,
    steps: int = 200,
) -> Path:
    """The pipeline's checkpoint ``<results_dir>/<name>/checkpoints/learned.pt`` if it exists, else a demo
    one.

    Args:
        results_dir: the pipeline's results folder.
        name: the experiment name (``data.name`` of the config).
        cache: where to keep the demo checkpoint (default: the system temp folder); reused when present.
        steps: training steps of the demo model.
    """
    produced = Path(results_dir) / name / "checkpoints" / "learned.pt"
    if produced.is_file():
        return produced
    cached = (
        Path(cache) if cache is not None else Path(tempfile.gettempdir()) / f"climate_bnnp_demo_{steps}.pt"
    )
    if cached.is_file():
        try:
            load_checkpoint(cached)
            return cached
        except (ValueError, RuntimeError, KeyError):
            cached.unlink()
    return train_demo(cached, steps=steps)


if __name__ == "__main__":
    print(train_demo(sys.argv[1] if len(sys.argv) > 1 else "demo_era5.pt", progress=True))
