"""Severity order and clearing severities (configurable)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ems.schemas.alert import Trend


@dataclass(frozen=True)
class SeverityPolicy:
    """Severities from most to least severe, and which of them clear an alert."""

    order: tuple[str, ...]
    clearing: frozenset[str]
    _rank: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.order:
            raise ValueError("the severity order is empty")
        missing = self.clearing - set(self.order)
        if missing:
            raise ValueError(f"clearing severities not in the order: {sorted(missing)}")
        object.__setattr__(self, "_rank", {name: i for i, name in enumerate(self.order)})

    @classmethod
    def of(cls, order: Iterable[str], clearing: Iterable[str]) -> SeverityPolicy:
        """Build from plain lists (as in the settings)."""
        return cls(tuple(s.lower() for s in order), frozenset(s.lower() for s in clearing))

    def is_known(self, severity: str) -> bool:
        return severity in self._rank

    def is_clear(self, severity: str) -> bool:
        return severity in self.clearing

    def trend(self, old: str, new: str) -> Trend:
        """Whether going from `old` to `new` is more or less severe."""
        a, b = self._rank[old], self._rank[new]
        return "more_severe" if b < a else "less_severe" if b > a else "no_change"
