"""The pure core of the anomaly stage: metric samples in log order -> anomaly raises and clears.

One `Detector` per input partition of `ems.metrics` (keyed by asset), so every verdict is a function
of that partition's log alone: how partitions interleave, batch sizes and restarts change nothing.

- **Series** (asset, metric name, labels): an exponentially weighted mean and variance of its values;
  each sample becomes its deviation `z` from them, clipped to +-`Z_LIMIT`.
- **Family** (tenant, metric name) within the partition: one river `HalfSpaceTrees` (seeded) learns
  the distribution of its series' `z`, so a metric whose series jump about is judged by that, and a
  steady one by its own calm. Score first, then learn (only from normal samples of warm series).
- **Verdicts**: none before a series has `warmup` samples and its family `window` samples; a series
  whose score is at or above `threshold` for `consecutive` samples raises one anomaly, cleared after
  `consecutive` samples below it. While anomalous a series does not learn (a level shift stays
  anomalous against the old normal) until `adapt_after` anomalous samples make it the new normal
  (the series warms up again and its anomaly clears once that level scores normal).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Z_LIMIT = 8.0


@dataclass(frozen=True)
class AnomalyConfig:
    """The detector's knobs (EMS_ANOMALY_*; defaults in ems/settings.py)."""

    threshold: float = 0.93
    consecutive: int = 5
    warmup: int = 30
    window: int = 100
    adapt_after: int = 120
    alpha: float = 0.05
    trees: int = 10
    height: int = 6
    seed: int = 7
    max_series: int = 50_000


SeriesKey = tuple[str | None, str, str, tuple[tuple[str, str], ...]]  # tenant, asset, name, labels


@dataclass
class Series:
    """One series' running level (EW mean and variance) and its verdict state."""

    n: int = 0
    mean: float = 0.0
    var: float = 0.0
    above: int = 0  # consecutive samples at or above the threshold
    below: int = 0  # consecutive samples below it while anomalous
    active: bool = False  # an anomaly raised and not cleared

    def z(self, value: float) -> float:
        spread = max(math.sqrt(self.var), 0.01 * abs(self.mean), 1e-9)
        return max(-Z_LIMIT, min(Z_LIMIT, (value - self.mean) / spread))

    def learn(self, value: float, alpha: float) -> None:
        if self.n == 0:
            self.mean, self.var = value, 0.0
        else:
            # A plain mean while young (alpha would trust the first samples too much), then EW.
            a = max(alpha, 1.0 / (self.n + 1))
            diff = value - self.mean
            self.mean += a * diff
            self.var = (1 - a) * (self.var + a * diff * diff)
        self.n += 1

    def restart(self) -> None:
        self.n, self.mean, self.var, self.above = 0, 0.0, 0.0, 0


@dataclass
class Family:
    """The HalfSpaceTrees model of one metric family and how many samples it learned."""

    model: Any
    n: int = 0


@dataclass(frozen=True)
class Verdict:
    """A raise (`anomalous`) or a clear of one series, at one sample."""

    key: SeriesKey
    anomalous: bool
    at: datetime
    value: float
    score: float
    mean: float


@dataclass
class Detector:
    """The state of one partition: its families' models and its series, fed in log order."""

    config: AnomalyConfig = field(default_factory=AnomalyConfig)
    families: dict[tuple[str | None, str], Family] = field(default_factory=dict)
    series: OrderedDict[SeriesKey, Series] = field(default_factory=OrderedDict)

    def _family(self, tenant: str | None, name: str) -> Family:
        family = self.families.get((tenant, name))
        if family is None:
            from river.anomaly import HalfSpaceTrees  # ~1 s import: only where the stage runs

            c = self.config
            model = HalfSpaceTrees(
                n_trees=c.trees,
                height=c.height,
                window_size=c.window,
                limits={"z": (-Z_LIMIT, Z_LIMIT)},
                seed=c.seed,
            )
            family = self.families[(tenant, name)] = Family(model)
        return family

    def _series(self, key: SeriesKey) -> Series:
        found = self.series.get(key)
        if found is None:
            if len(self.series) >= self.config.max_series:
                self.series.popitem(last=False)  # the least recently sampled (in log order)
            found = self.series[key] = Series()
        else:
            self.series.move_to_end(key)
        return found

    def observe(self, key: SeriesKey, at: datetime, value: float) -> Verdict | None:
        """Score one sample, learn from it, and return the raise or clear it causes, if any."""
        c = self.config
        s = self._series(key)
        family = self._family(key[0], key[2])
        if s.n < c.warmup:
            s.learn(value, c.alpha)
            return None
        x = {"z": s.z(value)}
        score = family.model.score_one(x) if family.n >= c.window else None
        if score is None or score < c.threshold:
            family.model.learn_one(x)
            family.n += 1
            s.learn(value, c.alpha)
            s.above = 0
            if s.active and score is not None:
                s.below += 1
                if s.below >= c.consecutive:
                    s.active, s.below = False, 0
                    return Verdict(key, False, at, value, score, s.mean)
            return None
        s.above += 1
        s.below = 0
        mean = s.mean
        if s.above >= c.adapt_after:
            s.restart()  # a lasting new level: learn it as the normal
            s.learn(value, c.alpha)
        if s.above >= c.consecutive and not s.active:
            s.active = True
            return Verdict(key, True, at, value, score, mean)
        return None
