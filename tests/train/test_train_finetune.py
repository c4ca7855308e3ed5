"""Test-time fine-tuning raises the task's ELBO and leaves the meta-learned prior and noise untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from climate_bnnp.models import BNNP
from climate_bnnp.objectives import elbo
from climate_bnnp.tasks import Batch
from climate_bnnp.train import fine_tune, fine_tuner


def _task(n: int = 40):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (n, 1))
    return x, np.sin(3 * x[:, 0]) + 0.05 * rng.standard_normal(n)


def _elbo(model, x, y, draws: int = 32) -> float:
    t = lambda a: torch.as_tensor(a).reshape(1, len(x), -1)  # noqa: E731
    batch = Batch(xc=t(x), yc=t(y), xt=t(x)[:, :1], yt=t(y)[:, :1])
    torch.manual_seed(1)
    with torch.no_grad():
        return float(elbo(model, batch, num_samples=draws).mean())


def test_fine_tuning_raises_the_elbo_and_keeps_prior_and_noise():
    torch.manual_seed(0)
    model = BNNP(dim_x=1, dim_y=1, hidden_dims=(16,), inf_hidden_dims=(16,), noise_init=0.1).double()
    x, y = _task()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tuned = fine_tune(model, x, y, steps=15, lr=3e-2, num_samples=4, seed=3)
    assert _elbo(tuned, x, y) > _elbo(model, x, y) + 1.0  # measured: about -1e3 -> -1e2 nats here
    for name, value in tuned.state_dict().items():
        if ".prior." in name or name.startswith("likelihood."):
            torch.testing.assert_close(value, before[name], rtol=0, atol=0)
    assert any(not torch.equal(tuned.state_dict()[k], before[k]) for k in before if "inference_net" in k)
    for name, value in model.state_dict().items():  # the meta-trained model itself is not modified
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)
    again = fine_tune(model, x, y, steps=15, lr=3e-2, num_samples=4, seed=3)
    for name, value in again.state_dict().items():  # seeded: the same fit twice
        torch.testing.assert_close(value, tuned.state_dict()[name], rtol=0, atol=0)


def test_zero_steps_and_bad_input():
    model = BNNP(dim_x=1, dim_y=1, hidden_dims=(4,), inf_hidden_dims=(4,)).double()
    x, y = _task(5)
    assert fine_tune(model, x, y, steps=0) is model
    assert fine_tuner(steps=0)(model, x, y, 0) is model
    with pytest.raises(ValueError, match="steps must be >= 0"):
        fine_tune(model, x, y, steps=-1)
    with pytest.raises(ValueError, match="needs a context"):
        fine_tune(model, x[:0], y[:0], steps=3)


def test_predict_with_a_fine_tuner_equals_predicting_with_the_fine_tuned_model():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "prediction"))
    from pred_helpers import make_grid, make_model, schema_of

    import climate_bnnp
    from climate_bnnp.data import Normaliser

    model, grid = make_model(), make_grid()
    schema = schema_of(Normaliser(mean={"tp": 0.8, "t2m": 15.0}, std={"tp": 1.1, "t2m": 5.0}))
    kw = dict(schema=schema, num_samples=4, seed=1)
    seen = {}

    def adapt(m, xc, yc, seed):
        seen["seed"] = seed
        seen["model"] = fine_tune(m, xc, yc, steps=2, lr=1e-2, num_samples=2, seed=seed)
        return seen["model"]

    tuned = climate_bnnp.predict(model, grid.isel(time=0), adapt=adapt, **kw)
    direct = climate_bnnp.predict(seen["model"], grid.isel(time=0), **kw)
    amortised = climate_bnnp.predict(model, grid.isel(time=0), **kw)
    np.testing.assert_allclose(tuned["mean"], direct["mean"], rtol=1e-12)
    assert not np.allclose(tuned["mean"].values, amortised["mean"].values, equal_nan=True)
