"""CF attributes and provenance of a prediction Dataset."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..data import ERA5_ATTRIBUTION, InputSchema
from ..data.standardise import VARIABLES

__all__ = ["dataset_attrs", "variable_attrs"]

QUANTILE_METHOD = (
    "empirical quantiles (linear interpolation) of the S posterior predictive samples y_s = "
    "g^-1(m + d (f_s + sigma eps_s)) in physical units, one observation-noise draw eps_s per function "
    "sample, eps_s a deterministic function of (seed, task, latitude, longitude, s)"
)
QUANTILE_METHOD_BG = (
    "empirical quantiles (linear interpolation) of the S posterior predictive samples y_s = d F_s^-1(u_s) in "
    "physical units, one Bernoulli-Gamma observation per weight draw by inverting its CDF (exactly 0 when "
    "u_s <= 1 - pi_s), u_s uniform, a deterministic function of (seed, task, latitude, longitude, s)"
)


def variable_attrs(target: str, units: str, *, likelihood: str = "gaussian") -> dict[str, dict[str, str]]:
    """Attributes of the output variables and of the ``quantile`` and ``sample`` coordinates.

    Args:
        target: the target variable (its CF names come from the standardised ERA5 variables).
        units: its units. likelihood: ``"gaussian"`` or ``"bernoulli_gamma"`` (the descriptions differ).
    """
    known = VARIABLES.get(target)
    standard_name, long_name = (known.standard_name, known.long_name) if known else (None, target)
    base = {"units": units}
    if standard_name:
        base["standard_name"] = standard_name
    out = {
        "mean": base
        | {
            "long_name": f"posterior predictive mean of {long_name}",
            "cell_methods": "realization: mean",
            "description": "mean of the posterior predictive distribution of an observation, computed "
            "exactly from the Monte-Carlo mixture of the function samples and the observation noise",
        },
        "std": {
            "units": units,
            "long_name": f"posterior predictive standard deviation of {long_name}",
            "cell_methods": "realization: standard_deviation",
            "description": "standard deviation of the posterior predictive of an observation: epistemic "
            "(spread of the function samples) AND observation noise (the likelihood's sigma_y) included",
        },
        "quantiles": base
        | {"long_name": f"posterior predictive quantiles of {long_name}", "description": QUANTILE_METHOD},
        "samples": base
        | {
            "long_name": f"posterior function samples of {long_name}",
            "description": "back-transformed function samples g^-1(m + d f_s), without observation noise; "
            "all cells of one sample s share the same weight draw (spatially coherent)",
        },
        "predictive_samples": base
        | {
            "long_name": f"posterior predictive samples of {long_name}",
            "description": "observation draws y_s = g^-1(m + d (f_s + sigma eps_s)), the samples the "
            "quantiles "
            "come from (for CRPS, coverage, PIT)",
        },
        "f_normalised": {
            "units": "1",
            "long_name": f"function samples of {long_name} in the model's normalised units",
            "description": "f_s; with the attribute noise_std_normalised, the predictive density of the "
            "normalised target is the mixture (1/S) sum_s N(f_s, sigma^2)",
        },
        "quantile": {"long_name": "quantile level of the posterior predictive", "units": "1"},
        "sample": {"long_name": "index of the posterior weight draw"},
    }
    if likelihood == "bernoulli_gamma":
        out |= _bernoulli_gamma_attrs(base, units, long_name)
    return out


def _bernoulli_gamma_attrs(base: dict[str, str], units: str, long_name: str) -> dict[str, dict[str, str]]:
    mixture = "the Monte-Carlo mixture over the S weight draws of Bernoulli-Gamma(pi_s, k_s, theta_s)"
    return {
        "mean": base
        | {
            "long_name": f"posterior predictive mean of {long_name}",
            "cell_methods": "realization: mean",
            "description": f"mean of the posterior predictive distribution of an observation, exactly from "
            f"{mixture}: mean_s pi_s k_s theta_s (back-transformed)",
        },
        "std": {
            "units": units,
            "long_name": f"posterior predictive standard deviation of {long_name}",
            "cell_methods": "realization: standard_deviation",
            "description": f"standard deviation of {mixture}: epistemic (spread over the draws) AND "
            "observation noise (dry/wet and the Gamma amount) included",
        },
        "prob_rain": {
            "units": "1",
            "long_name": "probability of precipitation > 0",
            "description": "posterior predictive P(y > 0) = mean_s pi_s",
        },
        "quantiles": base
        | {"long_name": f"posterior predictive quantiles of {long_name}", "description": QUANTILE_METHOD_BG},
        "samples": base
        | {
            "long_name": f"posterior samples of the predictive mean of {long_name}",
            "description": "per weight draw s the predictive mean pi_s k_s theta_s (back-transformed), "
            "without observation noise; all cells of one sample share the same draw (spatially coherent)",
        },
        "predictive_samples": base
        | {
            "long_name": f"posterior predictive samples of {long_name}",
            "description": "one Bernoulli-Gamma observation per weight draw (exact zeros when dry), the "
            "samples the quantiles come from (for CRPS, coverage, PIT)",
        },
        "bg_prob": {
            "units": "1",
            "long_name": "Bernoulli-Gamma rain probability pi_s per weight draw",
            "description": "with bg_shape and bg_scale, the predictive density of the target in model units "
            "is (1/S) sum_s [(1 - pi_s) if y <= 0 else pi_s Gamma(y; k_s, theta_s)]",
        },
        "bg_shape": {"units": "1", "long_name": "Bernoulli-Gamma shape k_s per weight draw"},
        "bg_scale": {
            "units": "1",
            "long_name": "Bernoulli-Gamma scale theta_s per weight draw, in the model's target units",
        },
    }


def dataset_attrs(
    *,
    source_attrs: Mapping[str, Any],
    model_kind: str,
    checkpoint: tuple[str, str] | None,
    num_samples: int,
    seed: int,
    noise_std: float | None,
    schema: InputSchema,
    context_rule: str,
    likelihood: str = "gaussian",
) -> dict[str, Any]:
    """Global attributes: CF conventions, provenance and the data attribution.

    Args:
        source_attrs: the input Dataset's attributes (its ``attribution`` is carried over).
        checkpoint: ``(file name, sha256)`` or None for an in-memory model.
        noise_std: the Gaussian likelihood's σ_y (normalised units); None for Bernoulli–Gamma (no attr).
        likelihood: ``"gaussian"`` or ``"bernoulli_gamma"`` (the attribute ``likelihood``).
    """
    from .. import __version__

    target = schema.target
    attribution = str(source_attrs.get("attribution", ERA5_ATTRIBUTION))
    attrs: dict[str, Any] = {
        "Conventions": "CF-1.8",
        "title": f"BNNP posterior predictive of {target}",
        "institution": "climate_bnnp",
        "source": f"climate_bnnp {__version__} predict(); model kind {model_kind!r}",
        "model_kind": model_kind,
        "checkpoint": checkpoint[0] if checkpoint else "in-memory model (no checkpoint file)",
        "checkpoint_sha256": checkpoint[1] if checkpoint else "",
        "num_samples": int(num_samples),
        "seed": int(seed),
        **({} if noise_std is None else {"noise_std_normalised": float(noise_std)}),  # Gaussian only
        "likelihood": likelihood,
        "features": ",".join(schema.features),
        "tp_transform": schema.normaliser.tp_transform,
        "input_schema": json.dumps(schema.to_dict()),
        "context": context_rule,
        "std_note": "std is the posterior predictive standard deviation, observation noise included",
        "quantile_method": QUANTILE_METHOD_BG if likelihood == "bernoulli_gamma" else QUANTILE_METHOD,
        "attribution": attribution,
        "data_attribution": ERA5_ATTRIBUTION,
    }
    if "provenance" in source_attrs:
        attrs["input_provenance"] = str(source_attrs["provenance"])
    return attrs
