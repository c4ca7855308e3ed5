"""Single-task fits of BNNP-family models in batches: per-task inference networks and GIVI's free tables.

A batch of ``T`` tasks must be ``T`` independent fits: task ``t``'s ELBO has no gradient in another task's
parameters, and each copy of an inference network is the plain MLP drawn under its own seed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from climate_bnnp import BNNP
from climate_bnnp.inference import TaskwiseMLP, build_givi, taskwise_inference_nets
from climate_bnnp.layers import MLP
from climate_bnnp.objectives import elbo
from climate_bnnp.tasks import Batch, collate


def test_taskwise_mlp_is_separately_seeded_plain_mlps():
    template = MLP(2, (5, 4), 3, "tanh").double()
    net = TaskwiseMLP(template, 3, seed=7)
    x, y = torch.randn(3, 6, 1, dtype=torch.float64), torch.randn(3, 6, 1, dtype=torch.float64)
    out = net(x, y)
    for task in range(3):
        torch.manual_seed(7 + task)
        plain = MLP(2, (5, 4), 3, "tanh").double()  # the same Linear draws in the same order
        assert torch.allclose(out[task], plain(x[task : task + 1], y[task : task + 1])[0], atol=1e-14)
    with pytest.raises(ValueError, match="belong to 3 tasks, got a batch of 2"):
        net(x[:2], y[:2])


def _two_task_batch(seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    tasks = []
    for n in (5, 9):
        x = rng.uniform(-2, 2, (n, 1))
        tasks.append((x, np.sin(3 * x), x, np.sin(3 * x)))
    return collate(tasks)


@pytest.mark.parametrize("kind", ["single-task BNNP", "GIVI"])
def test_batched_fits_share_no_parameter(kind):
    """Task 0's ELBO has no gradient in task 1's parameters (and vice versa): one batch = separate fits."""
    batch = _two_task_batch()
    if kind == "GIVI":
        model = build_givi(batch.xc.shape[1], 1, (6,), learn_noise=False, noise_init=0.1, num_tasks=2)
    else:
        bnnp = BNNP(hidden_dims=(6,), inf_hidden_dims=(6,), prior_type="full", prior_learnable_fraction=0.0,
                    noise_init=0.1, learn_noise=False).double()  # fmt: skip
        model = taskwise_inference_nets(bnnp, 2)
    params = [p for p in model.parameters() if p.requires_grad]
    assert params and all(p.shape[0] == 2 for p in params)  # every free parameter is per task
    torch.manual_seed(0)
    grads = torch.autograd.grad(elbo(model, batch, num_samples=3)[0], params, allow_unused=True)
    for grad in grads:
        assert grad is None or (grad[1] == 0).all()
    assert any(grad is not None and (grad[0] != 0).any() for grad in grads)


def test_givi_table_rejects_other_tasks():
    model = build_givi(9, 1, (6,), num_tasks=2)
    with pytest.raises(ValueError, match="belong to 2 task"):
        model(torch.zeros(3, 9, 1), torch.zeros(3, 9, 1), torch.zeros(3, 4, 1))
