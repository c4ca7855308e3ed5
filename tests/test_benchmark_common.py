"""benchmarks/_common.py: the one median every benchmark summary uses."""

from __future__ import annotations

import random
import re
import statistics

import pytest
from benchmark_scripts import BENCHMARKS, load_benchmark


@pytest.fixture(scope="module")
def common():
    return load_benchmark("_common.py")


def test_median_of_an_even_count_is_the_mean_of_the_two_middle_values(common):
    assert common.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert common.median([3.0, 1.0, 2.0]) == 2.0
    assert common.median(iter([5.0])) == 5.0
    gen = random.Random(0)
    for size in range(1, 12):
        values = [gen.uniform(0, 10) for _ in range(size)]
        assert common.median(values) == pytest.approx(statistics.median(values), rel=1e-15)


def test_median_of_nothing_raises(common):
    with pytest.raises(ValueError, match="median of no values"):
        common.median([])


def test_no_benchmark_takes_the_upper_middle_value_as_a_median():
    """``sorted(x)[len(x) // 2]`` is the upper middle value of an even count; scripts use ``median``."""
    pattern = re.compile(r"sorted\([^\n]*\)\[\s*len\([^\n]*\)\s*//\s*2\s*\]")
    offenders = [p.name for p in BENCHMARKS.glob("*.py") if pattern.search(p.read_text())]
    assert not offenders, offenders
