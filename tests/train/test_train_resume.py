"""The task stream's reseed and state, and resume files read through the checkpoint reader."""

import numpy as np
import pytest
import torch

from climate_bnnp import BNNP
from climate_bnnp.config import TrainConfig
from climate_bnnp.tasks import TaskSampler, family_source
from climate_bnnp.train import fit


def _sampler(seed=0):
    source = family_source("gp", min_points=6, max_points=12)
    return TaskSampler(source, context_fraction=(0.2, 0.6), seed=seed)


def _tensors(batch):
    return [t.numpy() for t in (batch.xc, batch.yc, batch.xt, batch.yt)]


def _same(a, b):
    pairs = zip(_tensors(a), _tensors(b), strict=True)
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in pairs)


def test_reseed_restarts_the_stream_as_a_new_sampler_of_that_seed():
    used = _sampler(seed=1)
    used.sample(3)
    used.reseed(7)
    assert _same(used.sample(4), _sampler(seed=7).sample(4))
    used.reseed(np.random.SeedSequence(7))  # a SeedSequence of the seed is the same stream
    assert _same(used.sample(4), _sampler(seed=7).sample(4))
    used.reseed(8)
    assert not _same(used.sample(4), _sampler(seed=7).sample(4))


def test_sampler_state_round_trips_through_a_safely_loaded_file(tmp_path):
    sampler = _sampler(seed=3)
    sampler.sample(2)
    torch.save(sampler.state_dict(), tmp_path / "state.pt")
    expected = sampler.sample(5)
    other = _sampler(seed=99)
    other.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))  # plain data
    assert _same(other.sample(5), expected)


def _model():
    torch.manual_seed(7)
    return BNNP(hidden_dims=(6,), inf_hidden_dims=(6,), seed=1)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\x80\x02 truncated", "cannot be loaded as a checkpoint"),
        (b"junk", "cannot be loaded as a checkpoint"),  # struct.error inside the unpickler
        ({"step": 2, "optimiser": {}}, "is not a climate_bnnp checkpoint"),
    ],
)
def test_an_unreadable_resume_file_is_reported_and_training_starts_afresh(tmp_path, content, message):
    cfg = TrainConfig(steps=2, batch_size=2, num_samples=2, device="cpu")
    resume = tmp_path / "c.resume.pt"
    if isinstance(content, bytes):
        resume.write_bytes(content)
    else:
        torch.save(content, resume)
    fresh, reference = _model(), _model()
    with pytest.warns(UserWarning, match=f"{message}.*Training starts afresh and will overwrite it"):
        records = fit(fresh, _sampler(), cfg, checkpoint_path=tmp_path / "c.pt", progress=False)
    assert [r["step"] for r in records] == [1, 2] and not resume.exists()
    fit(reference, _sampler(), cfg, progress=False)
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in fresh.state_dict().items())


@pytest.mark.parametrize(
    "fingerprint, message",
    [(None, "has no run fingerprint"), ("0" * 64, "was written by a run with other settings")],
)
def test_a_resume_file_without_or_with_another_fingerprint_is_never_adopted(tmp_path, fingerprint, message):
    """A state of step 2 whose fingerprint is missing or foreign: the 3-step run starts at step 1 and ends as
    a run from scratch (the oracle); with its own fingerprint the same file is continued (step 3 only)."""
    cfg = TrainConfig(steps=2, batch_size=2, num_samples=2, device="cpu")
    fit(_model(), _sampler(), cfg, checkpoint_path=tmp_path / "two.pt", progress=False)
    state = torch.load(tmp_path / "two.pt", weights_only=True)
    longer = TrainConfig(steps=3, batch_size=2, num_samples=2, device="cpu")
    own = torch.load(tmp_path / "two.pt", weights_only=True)
    resume = tmp_path / "c.resume.pt"
    if fingerprint is None:
        state.pop("fingerprint")
    else:
        state["fingerprint"] = fingerprint
    torch.save(state, resume)
    fresh, reference = _model(), _model()
    with pytest.warns(UserWarning, match=f"c.resume.pt {message}.*training starts afresh"):
        records = fit(fresh, _sampler(), longer, checkpoint_path=tmp_path / "c.pt", progress=False)
    assert [r["step"] for r in records] == [1, 2, 3]
    fit(reference, _sampler(), longer, progress=False)
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in fresh.state_dict().items())
    # the control: the same file with this run's fingerprint is continued, not restarted
    probe = _model()
    fit(probe, _sampler(), longer, checkpoint_path=tmp_path / "probe.pt", progress=False)  # its fingerprint
    own["fingerprint"] = torch.load(tmp_path / "probe.pt", weights_only=True)["fingerprint"]
    torch.save(own, tmp_path / "d.resume.pt")
    continued = fit(_model(), _sampler(), longer, checkpoint_path=tmp_path / "d.pt", progress=False)
    assert [r["step"] for r in continued] == [3]
