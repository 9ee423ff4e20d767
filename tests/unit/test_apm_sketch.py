"""The DDSketch's stated error bound against exact percentiles, and merging."""

from __future__ import annotations

import math
import random

import pytest

from ems.apm.sketch import DDSketch


def exact(values: list[float], q: float) -> float:
    return sorted(values)[math.floor(q * (len(values) - 1))]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("q", [0.0, 0.5, 0.9, 0.95, 0.99, 1.0])
def test_quantiles_are_within_the_relative_accuracy_of_exact_ones(seed, q):
    rng = random.Random(seed)
    values = [rng.lognormvariate(3, 1.5) for _ in range(5000)] + [rng.uniform(0.001, 5) for _ in range(500)]
    sketch = DDSketch(0.01)
    for v in values:
        sketch.add(v)
    want = exact(values, q)
    assert abs(sketch.quantile(q) - want) <= 0.01 * want


def test_a_merge_answers_as_one_sketch_of_all_the_values():
    rng = random.Random(7)
    parts = [[rng.expovariate(1 / 120) for _ in range(1000)] for _ in range(4)]
    merged, whole = DDSketch(), DDSketch()
    for part in parts:
        sketch = DDSketch()
        for v in part:
            sketch.add(v)
            whole.add(v)
        merged.merge(sketch)
    assert merged.count == whole.count == 4000
    for q in (0.5, 0.95, 0.99):
        assert merged.quantile(q) == whole.quantile(q)
        want = exact([v for p in parts for v in p], q)
        assert abs(merged.quantile(q) - want) <= 0.01 * want


def test_zeros_empty_and_bad_values():
    sketch = DDSketch()
    assert sketch.quantile(0.5) is None
    sketch.add(0.0)
    sketch.add(10.0)
    assert sketch.quantile(0.0) == 0.0
    assert abs(sketch.quantile(1.0) - 10.0) <= 0.1
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            sketch.add(bad)
    with pytest.raises(ValueError):
        sketch.merge(DDSketch(0.02))
