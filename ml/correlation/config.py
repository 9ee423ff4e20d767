"""The correlation's parameters: one frozen object, from the settings or given by a test.

Every window is in seconds of event time. The defaults were tuned on generated scenarios
(`python -m ems.ml.evaluate --seeds 1-20`) and reported on others (docs/correlation.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_DOWN_EVENTS = (
    r"(?i)^(node ?down|device ?unreachable|host ?down|unreachable|ping ?fail(ed|ure)?|instance ?stopped)$"
)
SEVERITIES = ("critical", "major", "minor", "warning", "indeterminate", "informational", "debug")


class Rule(BaseModel):
    """A Keep-style rule: `threshold` episodes matching `match` within `window_s`, with equal
    `group_by` values, make one incident.

    `match` maps a field to a regular expression searched in it (all must match). Fields: source,
    event, resource, title, severity, environment, service, tags (any element), asset_id, and the
    asset's site and type (`site`, `asset_type`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    match: dict[str, str] = Field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    threshold: int = Field(2, ge=1, le=10_000)
    window_s: float = Field(300.0, gt=0, le=86_400)

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            if name not in RULE_FIELDS:
                raise ValueError(f"unknown field {name!r}; choose from {', '.join(RULE_FIELDS)}")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{name}: bad regular expression: {exc}") from None
        return value

    @field_validator("group_by")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in RULE_FIELDS]
        if unknown:
            raise ValueError(f"unknown group_by field(s) {unknown}; choose from {', '.join(RULE_FIELDS)}")
        return value


RULE_FIELDS = (
    "source",
    "event",
    "resource",
    "title",
    "severity",
    "environment",
    "service",
    "tags",
    "asset_id",
    "site",
    "asset_type",
)


@dataclass(frozen=True)
class DbscanConfig:
    """DBSCAN over the open episodes of a sliding window (see docs/correlation.md, "Feature space").

    distance(i, j) = w_time * min(1, |start_i - start_j| / time_scale_s)
                   + w_topology * (hops / (max_hops + 1); 1 beyond; `unknown` when an asset is unknown)
                   + w_text * (1 - Jaccard(words of event and title))
                   + w_context * (0 shared service or tag, 0.5 same site, 1 otherwise)
    """

    eps: float = 0.4
    min_samples: int = 2
    window_s: float = 600.0
    step_s: float = 30.0  # event time between two runs
    time_scale_s: float = 300.0
    max_hops: int = 4
    unknown: float = 0.5
    w_time: float = 0.35
    w_topology: float = 0.15
    w_text: float = 0.15
    w_context: float = 0.35
    anchors: int = 10  # members of a multi-member incident taken as points


@dataclass(frozen=True)
class CorrelationConfig:
    """Grouping, splitting and impact parameters."""

    max_hops: int = 2  # topology: two alerting assets this close ...
    link_window_s: float = 240.0  # ... whose episodes started this close are related
    linger_s: float = 300.0  # an ended episode stays linkable (and its incident reopenable) this long
    split_after_s: float = 300.0  # members still open this long after the root ended are split off
    down_events: str = DEFAULT_DOWN_EVENTS  # events that mean "this device is down/unreachable"
    rules: tuple[Rule, ...] = ()
    dbscan: DbscanConfig = field(default_factory=DbscanConfig)
    severity_order: tuple[str, ...] = SEVERITIES
    root_share: float = 0.8  # a root cause must explain this share of the other member assets
    dependents_depth: int = 8  # impact: how far the dependency graph is followed
    rca_model: str = "default"  # root-cause model: default, off, or a model file (docs/rca.md)
    rca_online: bool = True  # blend the online model learned from operator feedback (docs/rca.md)
    rca_online_k: float = 20.0  # online weight n / (n + k) after n labels ...
    rca_online_max_weight: float = 0.5  # ... at most this

    def __post_init__(self) -> None:
        object.__setattr__(self, "_down", re.compile(self.down_events))

    def is_down(self, event: str) -> bool:
        return self._down.search(event) is not None  # type: ignore[attr-defined]

    def rank(self, severity: str) -> int:
        try:
            return self.severity_order.index(severity)
        except ValueError:
            return len(self.severity_order)
