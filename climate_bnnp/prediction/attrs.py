"""CF attributes and provenance of a prediction Dataset."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..data import ERA5_ATTRIBUTION, InputSchema
from ..data.standardise import VARIABLES
from ..likelihoods.predictive import PredictiveLikelihood, get_likelihood

__all__ = ["dataset_attrs", "variable_attrs"]


def variable_attrs(
    target: str, units: str, *, likelihood: PredictiveLikelihood | str
) -> dict[str, dict[str, str]]:
    """Attributes of the output variables and of the ``quantile`` and ``sample`` coordinates.

    Args:
        target: the target variable (its CF names come from the standardised ERA5 variables).
        units: its units. likelihood: the observation model (or its registered name): the descriptions
            of the outputs and its own variables come from it.
    """
    likelihood = get_likelihood(likelihood) if isinstance(likelihood, str) else likelihood
    known = VARIABLES.get(target)
    standard_name, long_name = (known.standard_name, known.long_name) if known else (None, target)
    base = {"units": units}
    if standard_name:
        base["standard_name"] = standard_name
    return likelihood.variable_attrs(base, units, long_name) | {
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
    noise_std: float | None,
    schema: InputSchema,
    context_rule: str,
    likelihood: PredictiveLikelihood,
) -> dict[str, Any]:
    """Global attributes: CF conventions, provenance and the data attribution.

    Args:
        source_attrs: the input Dataset's attributes (its ``attribution`` is carried over).
        checkpoint: ``(file name, sha256)`` or None for an in-memory model.
        noise_std: the likelihood's single noise std σ_y (normalised units, the attribute
            ``noise_std_normalised``); None where the spread depends on the point (Bernoulli–Gamma: no attr).
        likelihood: the observation model (its name is the attribute ``likelihood``).
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
        **({} if noise_std is None else {"noise_std_normalised": float(noise_std)}),
        "likelihood": likelihood.name,
        "features": ",".join(schema.features),
        "tp_transform": schema.normaliser.tp_transform,
        "input_schema": json.dumps(schema.to_dict()),
        "context": context_rule,
        "std_note": "std is the posterior predictive standard deviation, observation noise included",
        "quantile_method": likelihood.quantile_method,
        "attribution": attribution,
        "data_attribution": ERA5_ATTRIBUTION,
    }
    if "provenance" in source_attrs:
        attrs["input_provenance"] = str(source_attrs["provenance"])
    return attrs
