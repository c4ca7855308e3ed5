"""The typed model interface: the AmortisedModel protocol, the point-wise flag, the noise std accessor,
the context log-likelihood estimate and the context chunks."""

import inspect

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from climate_bnnp.models import BNAM, BNNP, AmortisedModel, AttnBNNP
from climate_bnnp.models.minibatch import ContextChunks
from climate_bnnp.prediction.engine import SUPPORTED_KINDS, check_model

SMALL = {"attn_width": 8, "attn_heads": 2, "attn_layers": 1, "inf_hidden_dims": (8,)}


def _models():
    return [
        BNNP(hidden_dims=(5,), inf_hidden_dims=(6,)).double(),
        AttnBNNP(hidden_dims=(5,), **SMALL).double(),
        BNAM(**SMALL).double(),
    ]


def test_all_model_classes_satisfy_the_protocol():
    members = {name for name in vars(AmortisedModel) if not name.startswith("_")}
    members |= set(AmortisedModel.__annotations__) | {"__call__"}
    assert {"likelihood", "sample_weights", "decode", "noise_std", "pointwise_decoder"} <= members
    for model in _models():
        assert isinstance(model, AmortisedModel), type(model).__name__
        for name in members:  # as Python >= 3.12 checks protocols: static lookup, no __getattr__
            inspect.getattr_static(model, name)
    assert not isinstance(nn.Linear(2, 2), AmortisedModel)
    assert [m.pointwise_decoder for m in _models()] == [True, True, False]
    assert SUPPORTED_KINDS == ("bnnp", "attn_bnnp")


def test_predict_refuses_models_without_a_pointwise_decoder():
    with pytest.raises(TypeError, match=r"does not support BNAM .* chunking nor station targets"):
        check_model(BNAM(**SMALL))

    class AttendingBNNP(BNNP):  # the flag decides, not the class or its kind string
        pointwise_decoder = False

    with pytest.raises(TypeError, match=r"does not support AttendingBNNP models"):
        check_model(AttendingBNNP(hidden_dims=(3,)))
    with pytest.raises(TypeError, match=r"needs a model of kind \('bnnp', 'attn_bnnp'\).*got Linear"):
        check_model(nn.Linear(2, 2))
    check_model(BNNP(hidden_dims=(3,)))  # accepted


def test_noise_std_is_the_gaussian_sigma_and_none_for_bernoulli_gamma():
    gaussian = BNNP(hidden_dims=(3,), dim_y=2, noise_init=0.3, min_noise=0.1)
    np.testing.assert_allclose(gaussian.noise_std().detach().numpy(), [0.3, 0.3], rtol=1e-6)
    assert gaussian.noise_std().requires_grad  # trainable σ_y: the accessor keeps the graph
    assert BNNP(hidden_dims=(3,), likelihood="bernoulli_gamma").noise_std() is None


def test_context_log_likelihood_is_k_times_the_decoded_chunk():
    torch.manual_seed(0)
    model = BNNP(hidden_dims=(4,), inf_hidden_dims=(6,), noise_init=0.5).double()
    xc, yc, xt = torch.randn(2, 9, 1).double(), torch.randn(2, 9, 1).double(), torch.randn(2, 3, 1).double()
    mask_c = torch.ones(2, 9, dtype=torch.bool)
    mask_c[1, 5:] = False
    out = model(xc, yc, xt, mask_c=mask_c, num_samples=3, chunk_size=4)  # chunks of 4, 4 and 1 points
    index = out.context_index
    sigma = float(model.noise_std().detach())
    logpdf = stats.norm.logpdf(yc[:, index, 0].numpy(), out.fc[..., 0].detach().numpy(), sigma)  # (S, B, n)
    expected = 3 * (logpdf * mask_c[:, index].numpy()).sum(-1)
    value = model.context_log_likelihood(out, yc, mask_c).detach().numpy()
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    empty = model(None, None, xt, num_samples=3)
    zeros = torch.zeros(3, 2, dtype=torch.float64)
    assert torch.equal(model.context_log_likelihood(empty, yc, mask_c), zeros)


def test_context_chunks_cover_the_context_once():
    assert ContextChunks(9, 4).slices == [slice(0, 4), slice(4, 8), slice(8, 9)]
    assert ContextChunks(9, None).slices == ContextChunks(9, 20).slices == [slice(0, 9)]
    assert len(ContextChunks(0, 4)) == 0
    with pytest.raises(ValueError, match=r"chunk_size must be a positive integer, got 0"):
        ContextChunks(9, 0)
