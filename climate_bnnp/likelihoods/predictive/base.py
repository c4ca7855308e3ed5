"""The predictive side every observation model offers, on numpy arrays (no torch).

An observation model ``p(y | θ)`` (a *likelihood*) has a training side (torch, on raw network outputs ``f``:
:mod:`climate_bnnp.likelihoods`) and this predictive side, on its distribution parameters ``θ`` as numpy
arrays in the model's target units: the log density, CDF, quantile function (which gives the draws, by
inversion), the moments, the summaries of a Monte-Carlo mixture over posterior draws, and the variables a
prediction Dataset holds with their CF attributes. :mod:`climate_bnnp.prediction` and
:mod:`climate_bnnp.metrics` use only this side, so scoring stays torch-free.

Parameters travel as a mapping ``name -> array`` (all broadcastable to one shape, e.g. ``(S, N)`` for S
posterior draws at N points); :attr:`PredictiveLikelihood.parameters` names the required ones.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

__all__ = ["Params", "PredictiveLikelihood"]

Params = Mapping[str, Any]
"""Distribution parameters by name (numpy arrays or scalars, broadcastable to one shape)."""


class PredictiveLikelihood(ABC):
    """The predictive side of one observation model (stateless; one instance per registered name).

    Class attributes:
        name: the registry key, as ``ModelConfig.likelihood`` spells it.
        parameters: required parameter names; optional: parameters used when given (e.g. a logit that keeps
            a log probability finite where the probability itself rounds to 1).
        variables: parameter name -> the prediction Dataset variable (or attribute) that holds it.
        per_draw: the parameters a prediction stores per posterior draw (along ``sample``).
        summaries: extra per-point outputs of :meth:`point_summaries` (e.g. ``prob_rain``).
        point_mass: location of an atom of the distribution (None: continuous), where :meth:`log_density`
            is the log probability of the atom.
        support: the interval ``(lower, upper)`` the distribution lives on (the atom included).
        training: ``"module:Class"`` of the torch training side (imported only by :meth:`training_class`).
    """

    name: ClassVar[str]
    parameters: ClassVar[tuple[str, ...]]
    optional: ClassVar[tuple[str, ...]] = ()
    variables: ClassVar[Mapping[str, str]]
    per_draw: ClassVar[tuple[str, ...]]
    summaries: ClassVar[tuple[str, ...]] = ()
    point_mass: ClassVar[float | None] = None
    support: ClassVar[tuple[float, float]] = (-np.inf, np.inf)
    training: ClassVar[str]

    @property
    def unbounded_above(self) -> bool:
        """Whether the support reaches +inf (then large values are in the model's range by construction)."""
        return bool(np.isposinf(self.support[1]))

    # ------------------------------------------------------------------------------------ distribution
    def check_params(self, params: Params) -> None:  # noqa: B027 - optional hook, default: any is fine
        """Refuse parameters outside the likelihood's range (NaN passes: it propagates to the scores).

        Raises:
            ValueError: naming the range and how many entries are outside it.
        """

    @abstractmethod
    def log_density(self, y: np.ndarray, params: Params) -> np.ndarray:
        """``log p(y | θ)`` elementwise (a log probability at :attr:`point_mass`); NaN where ``y`` is NaN."""

    @abstractmethod
    def cdf(self, y: np.ndarray, params: Params) -> np.ndarray:
        """``P(Y <= y | θ)`` elementwise."""

    @abstractmethod
    def ppf(self, u: np.ndarray, params: Params) -> np.ndarray:
        """The quantile function ``F⁻¹(u) = min{y : F(y) >= u}`` for ``u`` in (0, 1), elementwise.

        Draws by inversion: ``ppf(U)`` with ``U`` uniform on (0, 1) follows the distribution.
        """

    @abstractmethod
    def mean(self, params: Params) -> np.ndarray:
        """``E[Y | θ]`` elementwise."""

    @abstractmethod
    def variance(self, params: Params) -> np.ndarray:
        """``Var[Y | θ]`` elementwise."""

    def sample(self, params: Params, rng: np.random.Generator, shape: tuple[int, ...] = ()) -> np.ndarray:
        """Draws ``ppf(U)`` of the broadcast parameter shape (prefixed by ``shape``), ``U`` from ``rng``."""
        full = shape + np.broadcast_shapes(*(np.shape(params[n]) for n in self.parameters))
        return self.ppf(rng.uniform(size=full), params)

    # ------------------------------------------------------------------- Monte-Carlo mixtures over draws
    def mixture_moments(
        self,
        params: Params,
        *,
        shift: float,
        scale: float,
        exp: bool = False,
        lower: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean and standard deviation of ``v = shift + scale · y`` (``exp=True``: ``expm1`` of that)
        under the mixture ``(1/S) Σ_s p(y | θ_s)`` of the draws along axis 0; with ``lower`` (a physical
        lower bound the samples are clipped at), those of ``max(lower, v)``.

        The default (affine only): ``E = shift + scale · mean_s μ_s`` and ``SD = scale · sqrt(mean_s v_s +
        var_s μ_s)`` (population variance over the S draws), with the per-draw moments ``μ_s, v_s``. It
        ignores ``lower``: a likelihood whose ``v`` can fall below the bound (a Gaussian) overrides this;
        the default serves one whose support already respects it (Bernoulli–Gamma on ``tp / rms``: v >= 0).

        Raises:
            ValueError: ``exp=True`` for a likelihood without a closed form for it.
        """
        if exp:
            raise ValueError(
                f"the {self.name!r} likelihood has no closed-form moments of expm1 of its target; train it "
                "on a linear target transform."
            )
        mu = self.mean(params)  # (S, ...)
        std = scale * np.sqrt(self.variance(params).mean(axis=0) + mu.var(axis=0))
        return shift + scale * mu.mean(axis=0), std

    def point_summaries(self, params: Params) -> dict[str, np.ndarray]:
        """Extra per-point summaries of the mixture over the draws along axis 0 (names: :attr:`summaries`)."""
        return {}

    def draw_variables(self, params: Params) -> dict[str, np.ndarray]:
        """The per-draw parameters ``(S, ...)`` a prediction stores (those of :attr:`per_draw` that are
        given), by variable name."""
        return {self.variables[n]: np.asarray(params[n]) for n in self.per_draw if n in params}

    # ------------------------------------------------------------------------- prediction Dataset side
    def check_target_transform(  # noqa: B027 - optional hook, default: any is fine
        self, *, target: str, mean: float | None, linear: bool, transform: str
    ) -> None:
        """Refuse a target normalisation this likelihood cannot express (default: any is fine).

        Args:
            target: the target variable. mean: its normaliser mean. linear: whether physical units are an
                affine function of model units. transform: the transform's name (for messages).
        """

    @abstractmethod
    def variable_attrs(
        self, base: Mapping[str, str], units: str, long_name: str
    ) -> dict[str, dict[str, str]]:
        """CF attributes of the prediction's ``mean, std, quantiles, samples, predictive_samples`` and of this
        likelihood's own variables.

        Args:
            base: ``units`` and (when known) ``standard_name`` of the target. units: its units.
            long_name: its long name.
        """

    quantile_method: ClassVar[str]
    """How the ``quantiles`` output is computed (the ``quantile_method`` attribute of a prediction)."""

    def params_from_variables(self, get: Any) -> dict[str, Any] | None:
        """Parameters from a prediction's variables: ``get(variable)`` returns the array (or attribute value),
        or None when absent.

        Returns:
            The parameters, or None when the prediction holds none of them (no density to score).

        Raises:
            ValueError: some but not all required parameters are present.
        """
        found = {n: get(self.variables[n]) for n in (*self.parameters, *self.optional)}
        found = {n: v for n, v in found.items() if v is not None}
        missing = [self.variables[n] for n in self.parameters if n not in found]
        if not found:
            return None
        if missing:
            need = [self.variables[n] for n in self.parameters]
            raise ValueError(
                f"the prediction lacks {missing} of the {self.name!r} density's variables {need}; "
                "climate_bnnp.predict(..., return_samples=True) returns all of them."
            )
        return found

    def training_class(self) -> type:
        """The torch training side (an ``nn.Module`` class with ``from_config``), imported here on demand so
        that this module stays torch-free."""
        module, _, attr = self.training.partition(":")
        return getattr(importlib.import_module(module), attr)

    def __eq__(self, other: object) -> bool:
        """Stateless: every instance of one class is the same likelihood."""
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash((type(self), self.name))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
