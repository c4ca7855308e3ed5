"""Meta-training objectives as free functions of ``(model, batch)``; each returns one value per task (B,)
to be *maximised*. Sums run over points and Monte-Carlo averages over samples
(docs/method.md, "Objectives")."""

from .core import OBJECTIVES, elbo, npml, npvi, pp_avi, predictive_log_likelihood

__all__ = ["OBJECTIVES", "elbo", "npml", "npvi", "pp_avi", "predictive_log_likelihood"]
