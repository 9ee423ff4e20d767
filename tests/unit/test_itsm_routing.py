"""Routing rules to an assignment group, and round-robin / least-loaded picks inside it."""

from __future__ import annotations

import pytest

from ems.itsm.routing import (
    Assignment,
    AssignmentGroup,
    AssignmentState,
    RoutingError,
    RoutingRule,
    TicketFacts,
    assign,
    check_config,
    route,
)
from ems.itsm.states import UnknownTicketType

RULES = [
    RoutingRule(
        "dc-network",
        types=frozenset({"incident"}),
        sites=frozenset({"fra1"}),
        tags=frozenset({"network", "core"}),
    ),
    RoutingRule("payments", services=frozenset({"payments", "checkout"})),
    RoutingRule("cab", types=frozenset({"change"})),
    RoutingRule("network", tags=frozenset({"network"})),
]
GROUPS = {
    "dc-network": AssignmentGroup("dc-network", ("ana", "ben", "cem")),
    "payments": AssignmentGroup("payments", ("dan", "eva", "fay"), "least_loaded"),
    "cab": AssignmentGroup("cab", ()),
    "network": AssignmentGroup("network", ("gus",)),
    "service-desk": AssignmentGroup("service-desk", ("hal", "ida")),
}


def facts(kind: str = "incident", services=(), sites=(), tags=()) -> TicketFacts:
    return TicketFacts(kind, frozenset(services), frozenset(sites), frozenset(tags))


def test_the_first_matching_rule_wins_and_the_default_catches_the_rest() -> None:
    core = facts(sites={"fra1"}, tags={"network", "core", "juniper"}, services={"payments"})
    assert route(core, RULES, "service-desk") == ("dc-network", 0)
    assert route(facts(sites={"ams1"}, tags={"network", "core"}), RULES, "service-desk") == ("network", 3)
    assert route(facts(sites={"fra1"}, tags={"network"}), RULES, "service-desk") == (
        "network",
        3,
    )  # not all tags
    assert route(facts("problem", sites={"fra1"}, tags={"network", "core"}), RULES, "service-desk") == (
        "network",
        3,
    )
    assert route(facts("change", services={"checkout"}), RULES, "service-desk") == ("payments", 1)
    assert route(facts("change"), RULES, "service-desk") == ("cab", 2)
    assert route(facts(services={"mail"}, sites={"fra1"}), RULES, "service-desk") == ("service-desk", None)


def test_round_robin_rotates_through_the_members() -> None:
    state, picked = AssignmentState(), []
    for _ in range(5):
        assignment, state = assign(
            facts(sites={"fra1"}, tags={"network", "core"}), RULES, GROUPS, "service-desk", state
        )
        picked.append(assignment.assignee)
    assert picked == ["ana", "ben", "cem", "ana", "ben"]
    assert state.last == {"dc-network": "ben"} and state.load == {"ana": 2, "ben": 2, "cem": 1}


def test_round_robin_restarts_when_the_last_member_left_the_group() -> None:
    state = AssignmentState(last={"service-desk": "zoe"})
    assignment, _ = assign(facts(), RULES, GROUPS, "service-desk", state)
    assert assignment == Assignment("service-desk", "hal", None)


def test_least_loaded_picks_the_fewest_open_tickets_and_rotates_among_equals() -> None:
    ticket = facts(services={"payments"})
    state = AssignmentState(load={"dan": 4, "eva": 1, "fay": 2})
    picked = []
    for _ in range(4):
        assignment, state = assign(ticket, RULES, GROUPS, "service-desk", state)
        picked.append(assignment.assignee)
    assert picked == ["eva", "fay", "eva", "fay"]  # eva 1 -> 2, fay 2 -> 3, eva 2 -> 3, then a tie: after eva
    assert state.load == {"dan": 4, "eva": 3, "fay": 4}


def test_an_empty_group_keeps_the_ticket_in_its_queue() -> None:
    state = AssignmentState(load={"x": 1})
    assignment, after = assign(facts("change"), RULES, GROUPS, "service-desk", state)
    assert assignment == Assignment("cab", None, 2) and after == state


def test_configuration_errors_name_the_part() -> None:
    with pytest.raises(RoutingError) as caught:
        check_config([*RULES, RoutingRule("nobody")], GROUPS, "service-desk")
    assert caught.value.field == "rules[4].group"
    with pytest.raises(RoutingError, match="default_group"):
        check_config(RULES, GROUPS, "helpdesk")
    check_config(RULES, GROUPS, "service-desk")
    with pytest.raises(RoutingError, match="strategy"):
        AssignmentGroup("g", ("a",), "random")  # type: ignore[arg-type]
    with pytest.raises(RoutingError, match="twice"):
        AssignmentGroup("g", ("a", "a"))
    with pytest.raises(UnknownTicketType):
        RoutingRule("g", types=frozenset({"request"}))
    with pytest.raises(RoutingError, match="'helpdesk' is not a configured group"):
        assign(facts(), RULES, GROUPS, "helpdesk", AssignmentState())
