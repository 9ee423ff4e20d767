"""A small DDSketch: mergeable latency quantiles with a relative error bound.

Every positive value x falls in bucket `ceil(log_gamma(x))` with `gamma = (1 + a) / (1 - a)`; a quantile
is answered with the bucket's representative `2 * gamma**i / (gamma + 1)`, which is within a relative
`a` of every value of the bucket. So a quantile of the sketch is within `a` (1% by default) of the
exact quantile of the values added (the value of rank `floor(q * (n - 1))`, "lower" interpolation).
Two sketches of the same accuracy merge by adding their bucket counts: a window's sketch is the
merge of its parts, with no loss. Values at or below `MIN_VALUE` count in a zero bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MIN_VALUE = 1e-9  # smaller values (and 0) are counted as 0


@dataclass
class DDSketch:
    """Quantiles within `relative_accuracy` of the exact ones; memory grows with log(max/min)."""

    relative_accuracy: float = 0.01
    bins: dict[int, int] = field(default_factory=dict)
    zeros: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.relative_accuracy < 1:
            raise ValueError("relative_accuracy must be between 0 and 1")
        self.gamma = (1 + self.relative_accuracy) / (1 - self.relative_accuracy)
        self._log_gamma = math.log(self.gamma)

    def add(self, value: float) -> None:
        """Count one value (negative and non-finite values are refused)."""
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"a sketch takes finite values >= 0, got {value!r}")
        if value <= MIN_VALUE:
            self.zeros += 1
        else:
            index = math.ceil(math.log(value) / self._log_gamma)
            self.bins[index] = self.bins.get(index, 0) + 1
        self.count += 1

    def merge(self, other: DDSketch) -> None:
        """Add `other`'s counts to this sketch (both of the same accuracy)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError("cannot merge sketches of different accuracies")
        for index, n in other.bins.items():
            self.bins[index] = self.bins.get(index, 0) + n
        self.zeros += other.zeros
        self.count += other.count

    def quantile(self, q: float) -> float | None:
        """The value of rank `floor(q * (count - 1))`, within the relative accuracy; None when empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"q must be between 0 and 1, got {q}")
        if self.count == 0:
            return None
        rank = math.floor(q * (self.count - 1))
        seen = self.zeros
        if rank < seen:
            return 0.0
        for index in sorted(self.bins):
            seen += self.bins[index]
            if rank < seen:
                return 2 * self.gamma**index / (self.gamma + 1)
        raise AssertionError("counts do not add up")  # pragma: no cover
