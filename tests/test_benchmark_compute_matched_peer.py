"""benchmarks/compute_matched.py and peer_deepsensor.py: CPU-minute snapshots, tested without DeepSensor."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pytest
import torch
import xarray as xr
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def cm():
    return load_benchmark("compute_matched.py")


@pytest.fixture(scope="module")
def peer():
    return load_benchmark("peer_deepsensor.py")


def _burn(seconds: float) -> None:
    """Use ``seconds`` of this process's CPU time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


class _FakeConvNP:
    """What ``peer_deepsensor.train`` uses of a ConvNP: ``model.parameters()`` and ``loss_fn``."""

    def __init__(self, step_seconds: float) -> None:
        self.model = torch.nn.Linear(1, 1)
        self.step_seconds = step_seconds

    def loss_fn(self, task, normalise):
        _burn(self.step_seconds)
        return (self.model(torch.ones(1, 1)) ** 2).sum()


class _FakeInputs:
    def task(self, task, context, target, with_y):
        return None


def test_peer_train_snapshots_at_each_budget_and_does_not_count_the_callback(peer):
    step, marks = 0.01, (0.1 / 60, 0.2 / 60)  # 10 ms steps; snapshots at 0.1 s and 0.2 s of CPU
    args = argparse.Namespace(lr=1e-3, cpu_minutes=0.3 / 60, max_steps=None, log_every=10**6)
    seen = []

    def on_snapshot(minutes, facts):
        seen.append((minutes, facts))
        _burn(0.3)  # a slow save: must not count as training

    facts = peer.train(
        _FakeConvNP(step), _FakeInputs(), iter(lambda: (None, None, None), 0), args, marks, on_snapshot
    )
    assert [m for m, _ in seen] == list(marks)
    for minutes, f in seen:  # fired at the first step boundary past the budget, not 0.3 s later
        assert 60 * minutes <= 60 * f["cpu_minutes"] < 60 * minutes + 0.15, (minutes, f)
        assert f["steps"] >= 60 * minutes / step * 0.5
    assert 0.3 <= 60 * facts["cpu_minutes"] < 0.45, facts
    assert seen[1][1]["steps"] > seen[0][1]["steps"] and facts["steps"] > seen[1][1]["steps"]


class _Sampler:
    def __init__(self) -> None:
        self.calls = 0

    def sample(self, batch_size: int):
        self.calls += 1
        _burn(0.01)
        return batch_size

    def state_dict(self) -> dict:
        return {"calls": self.calls}


def test_cpu_snapshots_fire_between_draws_exclude_saving_and_delegate(cm):
    saved = []

    def save(minutes, draws):
        saved.append((minutes, draws, snap.used()))
        _burn(0.3)

    snap = cm.CpuSnapshots(_Sampler(), [0.1 / 60, 0.05 / 60], save)
    while len(saved) < 2:
        assert snap.sample(4) == 4
    assert [m for m, _, _ in saved] == [0.05 / 60, 0.1 / 60]  # ascending whatever the order given
    assert 0.05 <= saved[0][2] < 0.1 and 0.1 <= saved[1][2] < 0.2, saved  # the 0.3 s saves not counted
    assert saved[1][1] > saved[0][1] >= 1
    assert snap.state_dict() == {"calls": snap.draws}  # the wrapped sampler's, through the wrapper


def test_summarise_and_paired_match_numpy(cm):
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2.0, size=50), rng.gamma(2.0, size=50)
    mean, se = cm.summarise(a)
    assert mean == pytest.approx(np.mean(a)) and se == pytest.approx(np.std(a, ddof=1) / np.sqrt(50))
    d, dse = cm.paired(a, b)
    assert d == pytest.approx(np.mean(a - b)) and dse == pytest.approx(np.std(a - b, ddof=1) / np.sqrt(50))
    with pytest.raises(ValueError, match="same tasks"):
        cm.paired(a, b[:10])


def _write(run_dir, method, minutes_scores, protocol):
    (run_dir / method).mkdir(parents=True)
    facts = {}
    for minutes, crps in minutes_scores.items():
        facts[f"{minutes:g}"] = {
            "steps": int(10 * minutes),
            "cpu_minutes": minutes,
            "wall_minutes": 3 * minutes,
        }
        for split in ("val", "test"):
            ds = xr.Dataset({"crps_fair": ("task", crps), "crps": ("task", crps + 0.01)},
                            coords={"protocol": ("task", protocol)})  # fmt: skip
            ds.to_netcdf(run_dir / method / f"cpu{minutes:g}_{split}_scores.nc")
    facts["inf"] = {"steps": 0, "cpu_minutes": 0.0, "wall_minutes": 0.0}  # a final snapshot being renamed
    (run_dir / method / "training.json").write_text(json.dumps(facts))


def test_collect_pairs_each_snapshot_with_the_bnnp_at_the_same_or_fewer_minutes(cm, tmp_path):
    rng = np.random.default_rng(1)
    protocol = np.array(["random"] * 6 + ["held_out"] * 3)
    bnnp = {1.0: rng.random(9), 4.0: rng.random(9)}
    convnp = {1.0: rng.random(9), 2.0: rng.random(9), 8.0: rng.random(9)}
    _write(tmp_path, "bnnp", bnnp, protocol)
    _write(tmp_path, "convnp", convnp, protocol)
    table = cm.collect(tmp_path)
    assert set(table) == {"bnnp", "convnp"}
    assert [r["minutes"] for r in table["convnp"]] == [1.0, 2.0, 8.0]  # the "inf" entry left out
    for row, ref in zip(table["convnp"], (1.0, 1.0, 4.0), strict=True):  # 2 min vs 1; 8 min vs 4
        delta = row["test_random"]["delta_vs_bnnp"]
        diff = convnp[row["minutes"]][:6] - bnnp[ref][:6]
        assert delta["bnnp_minutes"] == ref
        for name in ("crps_fair", "crps"):  # the same shift in both: the same paired difference
            assert delta[name] == pytest.approx((diff.mean(), diff.std(ddof=1) / np.sqrt(6)))
        assert "mae" not in delta and row["val_held_out"]["tasks"] == 3
        assert row["val_held_out"]["crps"][0] == pytest.approx(convnp[row["minutes"]][6:].mean() + 0.01)
    assert "delta_vs_bnnp" not in table["bnnp"][0]["test_random"]
