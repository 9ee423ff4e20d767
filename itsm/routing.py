"""Routing: which assignment group gets a ticket, and which member of it.

Rules are tried in order and the first that matches wins (a catch-all belongs last); no match: the default
group. A rule names any of ticket types, business services, sites and asset tags; each named criterion must
hold (types and services and sites: the ticket has one of them; tags: the ticket has all of them), an
unnamed one always holds. Inside the group the assignee is picked round-robin (the member after the last one
picked) or least-loaded (fewest open tickets; ties go round-robin), from state the caller passes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ems.itsm.states import check_type

Strategy = Literal["round_robin", "least_loaded"]


class RoutingError(ValueError):
    """A routing configuration that cannot work; `field` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class TicketFacts:
    """What routing looks at: the ticket's type and the services, sites and tags of what it concerns."""

    ticket_type: str
    services: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RoutingRule:
    group: str
    types: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()  # all required

    def __post_init__(self) -> None:
        for kind in self.types:
            check_type(kind)

    def matches(self, facts: TicketFacts) -> bool:
        return (
            (not self.types or facts.ticket_type in self.types)
            and (not self.services or bool(self.services & facts.services))
            and (not self.sites or bool(self.sites & facts.sites))
            and self.tags <= facts.tags
        )


@dataclass(frozen=True)
class AssignmentGroup:
    name: str
    members: tuple[str, ...] = ()
    strategy: Strategy = "round_robin"

    def __post_init__(self) -> None:
        if self.strategy not in ("round_robin", "least_loaded"):
            raise RoutingError("strategy", f"{self.strategy!r} is not round_robin or least_loaded")
        if len(set(self.members)) != len(self.members):
            raise RoutingError("members", f"group {self.name!r} names a member twice")


@dataclass(frozen=True)
class AssignmentState:
    """Per group the member picked last; per member the open tickets assigned (kept by the caller)."""

    last: Mapping[str, str] = field(default_factory=dict)
    load: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Assignment:
    group: str
    assignee: str | None  # None: the group has no members; the ticket waits in the group's queue
    rule: int | None  # index of the rule that matched; None: the default group


def check_config(rules: Iterable[RoutingRule], groups: Mapping[str, AssignmentGroup], default: str) -> None:
    """Every rule and the default name a configured group."""
    for i, rule in enumerate(rules):
        if rule.group not in groups:
            raise RoutingError(f"rules[{i}].group", f"{rule.group!r} is not a configured group")
    if default not in groups:
        raise RoutingError("default_group", f"{default!r} is not a configured group")


def route(facts: TicketFacts, rules: Sequence[RoutingRule], default: str) -> tuple[str, int | None]:
    """(group, index of the matching rule) for a ticket; (default, None) when no rule matches."""
    check_type(facts.ticket_type)
    return next(((r.group, i) for i, r in enumerate(rules) if r.matches(facts)), (default, None))


def _rotation(members: Sequence[str], last: str | None) -> list[str]:
    """Members in round-robin order: those after `last` first, `last` at the end."""
    if last not in members:
        return list(members)
    i = members.index(last) + 1
    return [*members[i:], *members[:i]]


def pick(group: AssignmentGroup, state: AssignmentState) -> str | None:
    """The member who gets the next ticket of `group`, or None for an empty group."""
    order = _rotation(group.members, state.last.get(group.name))
    if not order:
        return None
    if group.strategy == "least_loaded":
        return min(order, key=lambda m: state.load.get(m, 0))  # min keeps the first of equals: round-robin
    return order[0]


def assign(
    facts: TicketFacts,
    rules: Sequence[RoutingRule],
    groups: Mapping[str, AssignmentGroup],
    default: str,
    state: AssignmentState,
) -> tuple[Assignment, AssignmentState]:
    """Route and pick; the state after the pick (last member and that member's load advanced)."""
    name, rule = route(facts, rules, default)
    if name not in groups:
        raise RoutingError("group", f"{name!r} is not a configured group")
    member = pick(groups[name], state)
    if member is None:
        return Assignment(name, None, rule), state
    after = AssignmentState(
        {**state.last, name: member}, {**state.load, member: state.load.get(member, 0) + 1}
    )
    return Assignment(name, member, rule), after
