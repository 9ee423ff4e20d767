"""Inhibition rules as configuration (`EMS_NOTIFY_INHIBIT_RULES`) and the firing alerts they read.

A rule is `{id, source, target, equal}` (Alertmanager's inhibit rule; matchers in the text form or as
`[{name, op, value}]`, see `ems.noise.inhibition`). The notification stage keeps, per alert, the
fields its last decision recorded while it fires (`DECIDED_FIELDS`), so that a restart rebuilds the
sources from `ems.notifications` alone; a rule may therefore name only those fields, and one naming
another is refused when the settings are read.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ems.noise.errors import RuleError
from ems.noise.inhibition import InhibitRule
from ems.noise.matchers import Fields
from ems.notify.config import MatcherSpec, compiled
from ems.schemas.notification import DECIDED_FIELDS


class InhibitRuleConfig(BaseModel):
    """While an alert matching `source` fires, alerts matching `target` whose `equal` fields agree
    with it are muted (not notified; their decision names the rule and the source alert)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    source: str | list[MatcherSpec]
    target: str | list[MatcherSpec]
    equal: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> InhibitRuleConfig:
        rule = self.rule()
        names = {m.name for m in (*rule.source, *rule.target)} | set(rule.equal)  # type: ignore[union-attr]
        unknown = sorted(names - set(DECIDED_FIELDS))
        if unknown:
            raise ValueError(
                f"inhibit rule {self.id!r}: {', '.join(unknown)} not kept for firing alerts; "
                f"a rule may name {', '.join(DECIDED_FIELDS)}"
            )
        return self

    def rule(self) -> InhibitRule:
        """The core's rule; a ValueError naming the rule and the part at fault."""
        try:
            return InhibitRule(self.id, compiled(self.source), compiled(self.target), tuple(self.equal))
        except (RuleError, ValueError) as exc:
            raise ValueError(f"inhibit rule {self.id!r}: {exc}") from None


def check_inhibit_rules(rules: list[InhibitRuleConfig]) -> None:
    """Rule ids are unique; ValueError if not."""
    ids = [r.id for r in rules]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"notify_inhibit_rules: ids used twice: {', '.join(twice)}")


class FiringAlerts:
    """Per alert the version last seen and, while it fires, its decided fields (inhibition sources).

    `see` keeps the highest version whatever the order, so folding the log on a restart gives the
    state the live stage had."""

    def __init__(self) -> None:
        self.version: dict[str, int] = {}
        self.fields: dict[str, Fields] = {}

    def see(self, alert_id: str, version: int, fields: Fields | None) -> None:
        """The alert at `version` fires with `fields`, or (None) does not fire."""
        if version <= self.version.get(alert_id, 0):
            return
        self.version[alert_id] = version
        if fields is None:
            self.fields.pop(alert_id, None)
        else:
            self.fields[alert_id] = fields

    def of_tenant(self, tenant: str | None) -> list[Fields]:
        """The firing alerts of `tenant` (an alert only inhibits alerts of its own tenant)."""
        return [f for f in self.fields.values() if f.get("tenant") == tenant]
