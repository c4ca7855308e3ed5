"""Inference algorithms for BNNs and BNNP-family models on one dataset or a batch of independent tasks.

The library side of the studies (:mod:`climate_bnnp.studies` only drives them):

* :mod:`.ais` — annealed importance sampling for a log marginal likelihood, and the HMC transition it uses;
* :mod:`.bnn` — the weight-space BNN: its network, unit-wise Gaussian :class:`WeightPrior`, task batches;
* :mod:`.mfvi`, :mod:`.swag`, :mod:`.hmc` — weight-space posteriors of a BNN under a :class:`WeightPrior`;
  their ``sample_functions`` return function values ``(S, T, M)``, Monte-Carlo samples leading;
* :mod:`.givi` — global inducing-point VI, a BNNP with free per-point pseudo-observations;
* :mod:`.single_task` — per-task inference networks and ELBO maximisation of a BNNP on its own context.

It depends on the model side only (layers, models, objectives, the task batch), never on data, training,
prediction or the studies.
"""

from .ais import AISResult, ais_log_marginal, geometric_schedule, hmc_step
from .bnn import WeightPrior, bnn_forward, task_seeds
from .givi import FreePseudoObservations, build_givi, fit_givi
from .hmc import HMCSamples, run_hmc
from .mfvi import INIT_STD, MeanFieldBNN, MeanFieldPosterior, fit_mfvi
from .single_task import TaskwiseMLP, maximise_elbo, taskwise_inference_nets
from .swag import SWAGPosterior, fit_swag

__all__ = [
    "AISResult",
    "ais_log_marginal",
    "geometric_schedule",
    "hmc_step",
    "WeightPrior",
    "bnn_forward",
    "task_seeds",
    "FreePseudoObservations",
    "build_givi",
    "fit_givi",
    "HMCSamples",
    "run_hmc",
    "INIT_STD",
    "MeanFieldBNN",
    "MeanFieldPosterior",
    "fit_mfvi",
    "TaskwiseMLP",
    "maximise_elbo",
    "taskwise_inference_nets",
    "SWAGPosterior",
    "fit_swag",
]
