"""The ticket stage's configuration: routing groups and rules, SLA policies and calendars (the defaults
or EMS_TICKET_SLA_POLICIES / EMS_TICKET_CALENDARS, see ems.itsm.sla_config), the reopen window, the
escalation chain and the auto-ticketing policies (from ems.settings), checked at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ems.itsm import routing, sla, states
from ems.itsm.calendar import DEFAULT_CALENDARS, Calendar
from ems.schemas.ticket import AutoPolicy


@dataclass(frozen=True)
class DeskConfig:
    """Routing, SLA policies and calendars, and the reopen window the stage works with."""

    default_group: str = "service-desk"
    groups: Mapping[str, routing.AssignmentGroup] = field(default_factory=dict)
    rules: tuple[routing.RoutingRule, ...] = ()
    policies: tuple[sla.SlaPolicy, ...] = sla.DEFAULT_POLICIES
    calendars: Mapping[str, Calendar] = field(default_factory=lambda: dict(DEFAULT_CALENDARS))
    reopen_days: int = states.REOPEN_DAYS
    auto: tuple[AutoPolicy, ...] = ()  # auto-ticketing policies (agents/autoticket.py)
    escalations: Mapping[str, str] = field(default_factory=dict)  # group -> the next level's group
    escalate_at: frozenset[int] = frozenset({90, 100})  # SLA thresholds that escalate one level

    def __post_init__(self) -> None:
        groups = {self.default_group: routing.AssignmentGroup(self.default_group), **self.groups}
        object.__setattr__(self, "groups", groups)
        routing.check_config(self.rules, self.groups, self.default_group)
        for lower, upper in self.escalations.items():
            for name in (lower, upper):
                if name not in groups:
                    raise routing.RoutingError("escalations", f"{name!r} is not a configured group")
        for i, policy in enumerate(self.auto):
            if policy.group is not None and policy.group not in groups:
                raise routing.RoutingError(
                    f"auto_policies[{i}].group", f"{policy.group!r} is not a configured group"
                )
        for policy in self.policies:
            if policy.calendar not in self.calendars:
                raise sla.SlaInputError(
                    f"policies.{policy.ticket_type}.{policy.priority}.calendar",
                    f"{policy.calendar!r} is not a configured calendar",
                )

    @classmethod
    def from_settings(cls, settings) -> DeskConfig:
        rules = tuple(
            routing.RoutingRule(
                r.group, frozenset(r.types), frozenset(r.services), frozenset(r.sites), frozenset(r.tags)
            )
            for r in settings.ticket_routes
        )
        groups = {n: routing.AssignmentGroup(n, tuple(m)) for n, m in settings.ticket_groups.items()}
        return cls(
            settings.ticket_default_group,
            groups,
            rules,
            policies=settings.sla_policies(),
            calendars=settings.sla_calendars(),
            reopen_days=settings.ticket_reopen_days,
            auto=tuple(settings.ticket_auto_policies),
            escalations=dict(settings.ticket_escalations),
            escalate_at=frozenset(settings.ticket_escalate_at),
        )
