"""What several test files share: closed-form oracles, model and prediction helpers, fault injection, stores.

``tests/`` is on ``sys.path`` (``tests/conftest.py``), so test files import ``helpers.<module>``:

* :mod:`helpers.oracles` — Bayesian linear regression (posterior, log evidence) and the Gaussian KL, in numpy;
* :mod:`helpers.models` — a randomised (learned-like) BNNP prior;
* :mod:`helpers.predictions` — predictions put on one canonical grid layout;
* :mod:`helpers.faults` — an objective that kills a training run at a chosen step;
* :mod:`helpers.stores` — the download → standardise → build_tasks pipeline on a crop of the sample.
"""
