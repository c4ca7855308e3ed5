"""The paper's studies, each runnable as ``python -m climate_bnnp.studies.<name> [--quick] --out DIR``.

* :mod:`.elbo` — ELBO vs the Monte-Carlo log marginal likelihood on one BNN-prior dataset
(docs/results/elbo.md);
* :mod:`.prior_transfer` — learned vs standard prior for the BNNP on GP and sawtooth tasks
(docs/results/prior_transfer.md).
"""

__all__: list[str] = []
