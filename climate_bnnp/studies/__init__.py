"""The paper's studies: thin drivers over the library (:mod:`climate_bnnp.inference`, models, training).

Each runs as ``climate-bnnp study NAME [options]`` (``NAME --help`` lists them):

* ``elbo``, ``elbo_many`` — ELBO vs the log marginal likelihood on BNN-prior data;
* ``prior_transfer`` — learned vs standard prior for the BNNP on GP and sawtooth tasks;
* ``no_free_lunch`` — does a good prior remove the need for good inference (MFVI, GIVI, SWAG, HMC, BNNP);
* ``goldilocks`` — the prior-flexibility knob ρ under data starvation, on the ERA5 sample;
* ``mnist`` — MNIST generation and completion (its settings are an experiment config);
* ``demo_toy`` — the toy regression figure.

The sized studies share one driver (:mod:`.driver`): sizes from ``configs/studies/<name>_<size>.yaml``,
resume, result files and the command line.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

__all__ = ["STUDIES", "run_study"]

STUDIES = ("elbo", "elbo_many", "prior_transfer", "no_free_lunch", "goldilocks", "mnist", "demo_toy")
"""The names ``climate-bnnp study NAME`` accepts: modules of this package with a ``STUDY`` (run by the shared
driver) or, for the two whose settings are not a study size, a ``main(argv)`` of their own."""


def run_study(name: str, argv: Sequence[str] = ()) -> int:
    """Run study ``name`` with its command-line arguments ``argv``; returns the exit status."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; choose one of {list(STUDIES)}.")
    module = importlib.import_module(f"{__name__}.{name}")
    if hasattr(module, "STUDY"):
        from .driver import main

        return main(module.STUDY, list(argv))
    return module.main(list(argv))
