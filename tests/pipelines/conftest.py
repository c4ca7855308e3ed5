"""Fixtures of the pipeline tests: the session's uninterrupted Snakemake run (see tests/snakemake_runs.py)."""

from snakemake_runs import snakemake_test_run  # noqa: F401  (tests/ is on sys.path, see tests/conftest.py)
