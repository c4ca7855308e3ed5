"""The training progress lines: one per ``log_every`` steps, with step, loss, steps/s and time left."""

import io
import json
import re

from climate_bnnp import BNNP
from climate_bnnp.config import TrainConfig
from climate_bnnp.tasks import TaskSampler, family_source
from climate_bnnp.train import fit
from climate_bnnp.train.loop import progress_line

_LINE = re.compile(r"^step (\d+)/(\d+)  loss (\S+)  (\S+) steps/s  time left (.+)$")


def test_progress_line_reads_step_loss_rate_and_time_left():
    # 30 steps in 15 s: 2 steps/s; 550 steps left take 275 s = 4 min 35 s
    line = progress_line(50, 600, 1.2345, 30, 15.0)
    assert line == "step 50/600  loss 1.234  2 steps/s  time left 4 min 35 s"
    assert progress_line(600, 600, -3.0, 600, 60.0).endswith("time left 0 s")
    assert progress_line(10, 7210, 0.5, 10, 10.0).endswith("time left 2 h 00 min")


def test_fit_writes_a_progress_line_every_log_every_steps_and_at_the_end(tmp_path):
    model = BNNP(hidden_dims=(8,), inf_hidden_dims=(8,))
    sampler = TaskSampler(family_source("gp", min_points=10, max_points=20), context_fraction=(0.2, 0.6))
    stream = io.StringIO()
    config = TrainConfig(steps=5, num_samples=2, log_every=2, device="cpu")
    records = fit(model, sampler, config, log_path=tmp_path / "log.jsonl", progress=stream)
    lines = stream.getvalue().splitlines()
    parsed = [_LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [int(m.group(1)) for m in parsed] == [2, 4, 5]  # every 2 steps and the last one
    assert {int(m.group(2)) for m in parsed} == {5}
    losses = {r["step"]: r["loss"] for r in records}
    logged = {json.loads(x)["step"]: json.loads(x)["loss"] for x in (tmp_path / "log.jsonl").open()}
    for m in parsed:  # the printed loss is the logged one, to 4 significant digits
        step = int(m.group(1))
        assert float(m.group(3)) == float(f"{losses[step]:.4g}") == float(f"{logged[step]:.4g}")
        assert float(m.group(4)) > 0
