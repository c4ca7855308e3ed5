"""Time-based train/val/test splits without leakage.

The time axis is cut into three contiguous blocks in chronological order: ``train`` first, then ``val``,
then ``test`` (the last ``n_test`` steps). No test or validation time precedes a training time, so nothing
from the future of the evaluation period leaks into training. The paper tests on its last 16 time stamps
(``n_val=0, n_test=16``); for the 24-snapshot sample use ``n_val=4, n_test=4`` (16/4/4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["SPLIT_NAMES", "split_times", "check_split"]

SPLIT_NAMES = ("train", "val", "test")


def split_times(times: Sequence | np.ndarray, *, n_val: int, n_test: int) -> dict[str, list[int]]:
    """Split a chronologically sorted time axis into train/val/test positions.

    Args:
        times: the time coordinate, shape (T,), strictly increasing (datetime64 or numbers).
        n_val: number of validation steps, taken just before the test block (may be 0).
        n_test: number of test steps, the last ``n_test`` of the axis (>= 1).

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``: integer positions into ``times`` (plain ints,
        JSON-able), each block contiguous, together covering ``range(T)``.

    Raises:
        ValueError: negative sizes, unsorted times, or fewer than ``n_val + n_test + 1`` steps.
    """
    values = np.asarray(times)
    if n_val < 0 or n_test < 1:
        raise ValueError(f"Expected n_val >= 0 and n_test >= 1, got n_val={n_val}, n_test={n_test}.")
    if values.ndim != 1:
        raise ValueError(f"Expected a 1-D time axis, got shape {values.shape}.")
    n = values.size
    if n < n_val + n_test + 1:
        raise ValueError(
            f"Too few time steps: got {n}, need at least n_val + n_test + 1 = {n_val + n_test + 1} "
            "(at least one training step); lower n_val/n_test or use a longer period."
        )
    if n > 1 and not np.all(values[1:] > values[:-1]):
        raise ValueError("Times must be strictly increasing for a leakage-free split; sort them first.")
    n_train = n - n_val - n_test
    return {
        "train": list(range(0, n_train)),
        "val": list(range(n_train, n_train + n_val)),
        "test": list(range(n_train + n_val, n)),
    }


def check_split(split: Mapping[str, Sequence[int]], n_time: int) -> dict[str, list[int]]:
    """Validate a split mapping against a time axis of length ``n_time``.

    Args:
        split: mapping with exactly the keys ``train``, ``val``, ``test`` to integer positions.
        n_time: length of the time axis.

    Returns:
        The split as plain ``dict[str, list[int]]``.

    Raises:
        ValueError: wrong keys, positions out of range, overlaps, or a val/test time before a train time.
    """
    if set(split) != set(SPLIT_NAMES):
        raise ValueError(
            f"A split needs exactly the keys {SPLIT_NAMES}, got {sorted(split)}; use split_times()."
        )
    out = {k: [int(i) for i in split[k]] for k in SPLIT_NAMES}
    flat = [i for k in SPLIT_NAMES for i in out[k]]
    if any(i < 0 or i >= n_time for i in flat):
        raise ValueError(f"Split positions must lie in [0, {n_time}), got min {min(flat)}, max {max(flat)}.")
    if len(set(flat)) != len(flat):
        raise ValueError("Split blocks overlap: a time step appears in more than one of train/val/test.")
    later = out["val"] + out["test"]
    if out["train"] and later and min(later) <= max(out["train"]):
        raise ValueError("Leakage: a val/test time step precedes a training time step; use split_times().")
    return out
