"""Leave-one-out context features of the BNNP: a brute-force oracle, exact leave-one-out gradients, chunking,
the empty context and the checkpoint round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from climate_bnnp import load_checkpoint, save_checkpoint
from climate_bnnp.config import ConfigError, ContextFeaturesConfig, ModelConfig
from climate_bnnp.layers import ContextFeatures
from climate_bnnp.layers.context_features import DENSITY_EPS
from climate_bnnp.models import BNNP, TaskWeights
from climate_bnnp.prediction.engine import decode_points, sample_task_weights

SCALES = (0.15, 0.4)
FEATURES = ContextFeaturesConfig(position_dims=2, scales=SCALES)


def _model(likelihood: str = "gaussian") -> BNNP:
    torch.manual_seed(0)
    config = ModelConfig(
        dim_x=3, hidden_dims=(8, 8), inf_hidden_dims=(8,), likelihood=likelihood, context_features=FEATURES
    )
    return BNNP(config).double()


def _task(nc: int = 13, nt: int = 6, batch: int = 2, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    xc = torch.rand(batch, nc, 3, generator=gen, dtype=torch.float64)
    yc = torch.relu(torch.randn(batch, nc, 1, generator=gen, dtype=torch.float64))  # exact zeros: dry
    xt = torch.rand(batch, nt, 3, generator=gen, dtype=torch.float64)
    return xc, yc, xt


def _brute_force(
    query: np.ndarray, xc: np.ndarray, yc: np.ndarray, mask: np.ndarray, dims: int
) -> np.ndarray:
    """Features of one task by explicit loops: ``query (N, Dx)``, ``xc (Nc, Dx)``, ``yc (Nc,)``."""
    rows = []
    for p in query:
        row = []
        for scale in SCALES:
            d = s_y = s_wet = 0.0
            for c, y, m in zip(xc, yc, mask, strict=True):
                sq = float(np.sum((p[:dims] - c[:dims]) ** 2))
                if not m or sq == 0.0:  # padding, or the query's own location: left out
                    continue
                w = math.exp(-sq / (2 * scale**2))
                d, s_y, s_wet = d + w, s_y + w * y, s_wet + w * (y > 0)
            row += [math.log1p(d), s_y / (d + DENSITY_EPS), s_wet / (d + DENSITY_EPS)]
        rows.append(row)
    return np.array(rows)


def test_features_equal_a_brute_force_loop_with_padding_and_a_shared_location():
    module = ContextFeatures(FEATURES, dim_y=1).double()
    xc, yc, xt = _task()
    xt[:, 0] = xc[:, 4]  # a target at a context location
    mask = torch.ones(xc.shape[:2], dtype=torch.bool)
    mask[1, -3:] = False  # padding of the second task
    context = module.context_set(xc, yc, mask)
    for query in (xc, xt):
        got = module(query, context).detach().numpy()
        for b in range(xc.shape[0]):
            want = _brute_force(query[b].numpy(), xc[b].numpy(), yc[b, :, 0].numpy(), mask[b].numpy(), 2)
            np.testing.assert_allclose(got[b], want, rtol=1e-12, atol=1e-12)


def test_blocked_kernel_sums_equal_one_block(monkeypatch):
    module = ContextFeatures(FEATURES, dim_y=1).double()
    xc, yc, xt = _task(nc=17, nt=9)
    context = module.context_set(xc, yc)
    whole = module(xt, context)
    monkeypatch.setattr("climate_bnnp.layers.context_features.BLOCK_ELEMENTS", 5)  # 5 x 1 point blocks
    torch.testing.assert_close(module(xt, context), whole, rtol=1e-13, atol=1e-13)


def test_a_context_point_feature_has_zero_gradient_in_its_own_value_and_not_in_a_neighbours():
    module = ContextFeatures(FEATURES, dim_y=1).double()
    xc, yc, _ = _task(batch=1)
    yc = yc.clone().requires_grad_(True)
    features = module(xc, module.context_set(xc, yc))  # (1, Nc, F)
    for p in range(xc.shape[1]):
        (grad,) = torch.autograd.grad(features[0, p].sum(), yc, retain_graph=True)
        assert grad[0, p, 0].item() == 0.0  # exactly: the point's own value is left out
        others = torch.cat([grad[0, :p, 0], grad[0, p + 1 :, 0]])
        assert others.abs().max().item() > 0.0  # the neighbours' values do enter


def test_a_target_at_a_context_location_gets_that_context_points_features():
    model = _model()
    xc, yc, _ = _task()
    sample = model.sample_weights(xc, yc, num_samples=2)
    context_features = model.context_features(xc, sample.weights.context)
    at_context = model._inputs(sample.weights, xc[:, [2, 7]])[..., 3:]
    # equal up to the summation order of the kernel sums
    torch.testing.assert_close(at_context, context_features[:, [2, 7]], rtol=1e-14, atol=1e-14)


def test_the_brute_force_features_enter_the_first_layer():
    model = _model()
    xc, yc, xt = _task(batch=1)
    sample = model.sample_weights(xc, yc, num_samples=3)
    features = _brute_force(xt[0].numpy(), xc[0].numpy(), yc[0, :, 0].numpy(), np.ones(len(xc[0]), bool), 2)
    inputs = torch.cat([xt, torch.from_numpy(features)[None]], dim=-1)  # (1, Nt, Dx + F)
    w = sample.weights[0]  # (S, 1, d_out, D + 1)
    want = inputs @ w[:, :, :, :-1].mT + w[:, :, None, :, -1]
    torch.testing.assert_close(model.decode(sample.weights[:1], xt), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli_gamma"])
def test_chunked_posterior_and_predictions_equal_unchunked(likelihood):
    model = _model(likelihood)
    xc, yc, xt = _task(nc=23)
    results = []
    for chunk_size in (None, 5):
        torch.manual_seed(3)
        sample = model.sample_weights(xc, yc, num_samples=4, chunk_size=chunk_size)
        results.append((sample, model.decode(sample.weights, xt)))
    (whole, f_whole), (chunked, f_chunked) = results
    for a, b in zip(whole.weights, chunked.weights, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(whole.kl, chunked.kl, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(f_whole, f_chunked, rtol=1e-10, atol=1e-10)
    # the forward pass's context outputs: carried (one chunk) equals decoded again
    torch.manual_seed(3)
    out = model(xc, yc, xt, num_samples=4)
    torch.testing.assert_close(out.fc, model.decode(whole.weights, xc), rtol=1e-10, atol=1e-10)


def test_empty_context_is_the_prior_with_empty_context_features():
    model = _model()
    _, _, xt = _task()
    torch.manual_seed(5)
    sample = model.sample_weights(xt[:, :0], xt[:, :0, :1], num_samples=3)
    torch.manual_seed(5)
    prior = model.prior_sample(3, xt.shape[0])
    for a, b in zip(sample.weights, prior.weights, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert isinstance(sample.weights, TaskWeights) and sample.weights.context is None
    width = model.context_features.width
    inputs = torch.cat([xt, xt.new_zeros(*xt.shape[:2], width)], dim=-1)  # density log1p(0) = 0, others 0
    torch.testing.assert_close(model.decode(sample.weights, xt), model._layers(prior.weights, inputs))
    assert torch.all(sample.kl == 0)


def test_checkpoint_round_trip_rebuilds_the_features(tmp_path):
    model = _model("bernoulli_gamma")
    with torch.no_grad():
        model.context_features.log_scales.add_(0.3)  # a trained value, not the initial one
    path = save_checkpoint(tmp_path / "ctx.pt", model)
    loaded = load_checkpoint(path).model.double()
    assert loaded.config == model.config and loaded.config.context_features == FEATURES
    xc, yc, xt = _task()
    outputs = []
    for m in (model, loaded):
        torch.manual_seed(2)
        outputs.append(m(xc, yc, xt, num_samples=2).ft)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_decoding_needs_the_context_and_npvi_is_refused():
    model = _model()
    xc, yc, xt = _task()
    sample = model.sample_weights(xc, yc, num_samples=2)
    with pytest.raises(TypeError, match="TaskWeights"):
        model.decode(list(sample.weights), xt)
    with pytest.raises(ValueError, match="npml"):
        model.sample_weights(xc, yc, num_samples=2, kl_mask=torch.ones(xc.shape[:2], dtype=torch.bool))


def test_config_errors_say_what_to_do():
    with pytest.raises(ConfigError, match="kind 'bnnp' only"):
        ModelConfig(kind="attn_bnnp", dim_x=3, context_features=FEATURES)
    with pytest.raises(ConfigError, match="exceeds model.dim_x"):
        ModelConfig(dim_x=1, context_features=FEATURES)
    with pytest.raises(
        ConfigError, match=r"scales: got \[0.1, -1.0\]; expected a non-empty list of finite numbers > 0"
    ):
        ContextFeaturesConfig(scales=(0.1, -1.0))
    with pytest.raises(ConfigError, match="distinct"):
        ContextFeaturesConfig(channels=("value", "value"))
    with pytest.raises(ValueError, match="first 2 input columns"):
        ContextFeatures(FEATURES, dim_y=1)(torch.zeros(1, 3, 1), None)


def test_the_prediction_engine_decodes_in_chunks_against_the_whole_context():
    model = _model("bernoulli_gamma").eval()
    xc, yc, xt = _task(nc=19, nt=11, batch=1)
    weights = sample_task_weights(
        model, xc[0].numpy(), yc[0, :, 0].numpy(), num_samples=3, seed=7, context_chunk_size=4
    )
    got = decode_points(model, weights, xt[0].numpy(), chunk_size=3)  # (S, Nt, 3)
    torch.manual_seed(7)
    with torch.no_grad():
        sample = model.sample_weights(xc, yc, num_samples=3)
        want = model.decode(sample.weights, xt)[:, 0]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)
