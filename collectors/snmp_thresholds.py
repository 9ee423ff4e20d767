"""Threshold evaluation: warning/critical levels per metric, chosen per asset tag or device class,
with hysteresis and a minimum duration before firing. Pure: the caller passes the time.

A level fires only after the value stayed at or above it for `for_seconds`; it clears once the value
falls `hysteresis` below the level's threshold (no flapping around the line). Recovery is immediate.
A rule with `below=True` mirrors that for metrics where less is worse (free memory, free storage).
Shared by the collectors (SNMP, AWS): `device_class` is the collector's class of asset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

LEVELS = ("ok", "warning", "critical")


class ThresholdRule(BaseModel):
    """Levels for one metric; `tag` or `device_class` narrow it (tag beats class beats default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    warning: float | None = None
    critical: float | None = None
    hysteresis: float = Field(0.0, ge=0)
    for_seconds: float = Field(0.0, ge=0)
    tag: str | None = None
    device_class: str | None = None
    below: bool = False  # the level is reached at or *below* the threshold (less is worse)

    @model_validator(mode="after")
    def _check(self) -> ThresholdRule:
        if self.warning is None and self.critical is None:
            raise ValueError(f"threshold for {self.metric} needs a warning or a critical level")
        if self.warning is not None and self.critical is not None:
            if not self.below and self.critical < self.warning:
                raise ValueError(f"threshold for {self.metric}: critical below warning")
            if self.below and self.critical > self.warning:
                raise ValueError(f"threshold for {self.metric} (below): critical above warning")
        return self

    def level_of(self, value: float, current: str) -> str:
        """The level `value` is at, given the level we are in now (hysteresis keeps us there)."""
        for name, limit in (("critical", self.critical), ("warning", self.warning)):
            if limit is None:
                continue
            margin = self.hysteresis if LEVELS.index(current) >= LEVELS.index(name) else 0.0
            if (value <= limit + margin) if self.below else (value >= limit - margin):
                return name
        return "ok"


DEFAULT_RULES: tuple[ThresholdRule, ...] = (
    ThresholdRule(metric="if_in_util_pct", warning=80, critical=95, hysteresis=5, for_seconds=120),
    ThresholdRule(metric="if_out_util_pct", warning=80, critical=95, hysteresis=5, for_seconds=120),
    ThresholdRule(metric="if_in_errors_ps", warning=1, critical=10, hysteresis=0.5, for_seconds=60),
    ThresholdRule(metric="if_out_errors_ps", warning=1, critical=10, hysteresis=0.5, for_seconds=60),
    ThresholdRule(metric="cpu_util_pct", warning=85, critical=95, hysteresis=5, for_seconds=180),
    ThresholdRule(metric="storage_used_pct", warning=85, critical=95, hysteresis=2, for_seconds=0),
    ThresholdRule(metric="packet_loss_pct", warning=20, critical=50, hysteresis=5, for_seconds=0),
)


@dataclass
class _State:
    level: str = "ok"
    pending: str | None = None
    since: float = 0.0


@dataclass(frozen=True)
class Breach:
    """A level change to report: severity is warning, critical or ok (= cleared)."""

    metric: str
    labels: tuple[tuple[str, str], ...]
    severity: str
    value: float
    threshold: float | None


@dataclass
class Thresholds:
    """Holds the level of every (asset, metric, labels) series and reports level changes."""

    rules: list[ThresholdRule] = field(default_factory=lambda: list(DEFAULT_RULES))
    _states: dict[tuple, _State] = field(default_factory=dict)

    def rule_for(
        self, metric: str, tags: tuple[str, ...] = (), device_class: str = "default"
    ) -> ThresholdRule | None:
        """The most specific rule for a metric (configured rules before defaults)."""
        best, best_rank = None, -1
        for rule in self.rules:
            if rule.metric != metric:
                continue
            if rule.tag is not None and rule.tag not in tags:
                continue
            if rule.device_class is not None and rule.device_class != device_class:
                continue
            rank = 2 if rule.tag else 1 if rule.device_class else 0
            if rank > best_rank:
                best, best_rank = rule, rank
        return best

    def observe(
        self,
        asset: str,
        metric: str,
        labels: dict[str, str],
        value: float,
        now: float,
        tags: tuple[str, ...] = (),
        device_class: str = "default",
    ) -> Breach | None:
        """Feed one sample; return a Breach when the series changes level."""
        rule = self.rule_for(metric, tags, device_class)
        if rule is None:
            return None
        key = (asset, metric, tuple(sorted(labels.items())))
        state = self._states.setdefault(key, _State())
        target = rule.level_of(value, state.level)
        if target == state.level:
            state.pending = None
            return None
        if LEVELS.index(target) > LEVELS.index(state.level) and rule.for_seconds > 0:
            if state.pending != target:
                state.pending, state.since = target, now
            if now - state.since < rule.for_seconds:
                return None
        state.level, state.pending = target, None
        limit = {"warning": rule.warning, "critical": rule.critical}.get(target)
        return Breach(metric, key[2], target, value, limit)
