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


def variable_attrs(target: str, units: str) -> dict[str, dict[str, str]]:
    """Attributes of ``mean``, ``std``, ``quantiles``, ``samples`` and the ``quantile`` coordinate."""
    standard_name, _, long_name, _ = VARIABLES.get(target, (None, units, target, {}))
    base = {"units": units}
    if standard_name:
        base["standard_name"] = standard_name
    return {
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
            "description": "observation draws y_s = g^-1(m + d (f_s + sigma eps_s)), the samples the quantiles "
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


def dataset_attrs(
    *,
    source_attrs: Mapping[str, Any],
    model_kind: str,
    checkpoint: tuple[str, str] | None,
    num_samples: int,
    seed: int,
    noise_std: float,
    schema: InputSchema,
    context_rule: str,
) -> dict[str, Any]:
    """Global attributes: CF conventions, provenance and the data attribution.

    Args:
        source_attrs: the input Dataset's attributes (its ``attribution`` is carried over).
        checkpoint: ``(file name, sha256)`` or None for an in-memory model.
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
        "noise_std_normalised": float(noise_std),
        "features": ",".join(schema.features),
        "tp_transform": schema.normaliser.tp_transform,
        "input_schema": json.dumps(schema.to_dict()),
        "context": context_rule,
        "std_note": "std is the posterior predictive standard deviation, observation noise included",
        "quantile_method": QUANTILE_METHOD,
        "attribution": attribution,
        "data_attribution": ERA5_ATTRIBUTION,
    }
    if "provenance" in source_attrs:
        attrs["input_provenance"] = str(source_attrs["provenance"])
    return attrs
