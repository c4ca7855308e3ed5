import numpy as np
import pytest

from climate_bnnp.data import split_times
from climate_bnnp.data.splits import check_split


def test_sample_split_16_4_4():
    times = np.arange(24)
    s = split_times(times, n_val=4, n_test=4)
    assert s == {"train": list(range(16)), "val": list(range(16, 20)), "test": list(range(20, 24))}


def test_paper_split_last_16_are_test():
    s = split_times(np.arange(7304), n_val=0, n_test=16)
    assert s["test"] == list(range(7288, 7304)) and s["val"] == [] and len(s["train"]) == 7288


def test_too_few_steps():
    with pytest.raises(ValueError, match=r"Too few time steps: got 8, need at least"):
        split_times(np.arange(8), n_val=4, n_test=4)


def test_unsorted_times():
    with pytest.raises(ValueError, match="strictly increasing"):
        split_times(np.array([3, 2, 1, 0, 5, 6]), n_val=1, n_test=1)


def test_check_split_rejects_leakage():
    with pytest.raises(ValueError, match="Leakage"):
        check_split({"train": [0, 1, 5], "val": [2], "test": [3, 4]}, 6)
    with pytest.raises(ValueError, match="overlap"):
        check_split({"train": [0, 1], "val": [1], "test": [2]}, 3)
