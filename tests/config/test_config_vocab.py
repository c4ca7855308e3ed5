"""The config's shared vocabularies name exactly what the packages implement."""

from __future__ import annotations

import pytest

from climate_bnnp.config import ModelConfig, vocab


def test_every_name_the_config_accepts_is_implemented_and_the_other_way_round():
    from climate_bnnp.data import FEATURE_WIDTHS, normalise
    from climate_bnnp.layers.networks import ACTIVATIONS
    from climate_bnnp.models import MODELS
    from climate_bnnp.objectives import OBJECTIVES
    from climate_bnnp.tasks import FAMILIES

    assert set(vocab.MODEL_KINDS) == set(MODELS)
    assert set(vocab.ACTIVATIONS) == set(ACTIVATIONS)
    assert set(vocab.OBJECTIVES) == set(OBJECTIVES)
    assert set(vocab.TASK_FAMILIES) == set(FAMILIES) | {"era5", "mnist"}
    assert set(vocab.TP_TRANSFORMS) == set(normalise.TP_TRANSFORMS)
    assert FEATURE_WIDTHS is vocab.FEATURE_WIDTHS  # one table, re-exported by data
    assert set(vocab.ZERO_PRESERVING_TP_TRANSFORMS) <= set(vocab.TP_TRANSFORMS)
    assert set(vocab.NONNEGATIVE_LIKELIHOODS) <= set(vocab.LIKELIHOODS)


@pytest.mark.parametrize("name", vocab.LIKELIHOODS)
def test_every_likelihood_name_builds_a_likelihood(name):
    from climate_bnnp.likelihoods import build_likelihood

    assert build_likelihood(ModelConfig(likelihood=name)) is not None
