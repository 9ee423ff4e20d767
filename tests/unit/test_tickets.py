"""The ticket stage's pure core (agents/tickets.py), its projection's rows and the list's filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.datastructures import QueryParams

from ems.agents.tickets import Desk, DeskConfig
from ems.api.errors import ApiError
from ems.api.queries import build_list
from ems.api.tickets_query import LIST_COLUMNS, TICKETS, parse_link
from ems.itsm.routing import AssignmentGroup, RoutingRule
from ems.projections.tickets import TicketsProjection
from ems.schemas.command import Command
from ems.schemas.ticket import TicketBatch

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


class Feed:
    """Commands to one desk at increasing offsets of partition 0, each at T0 + `minutes`."""

    def __init__(self, desk: Desk) -> None:
        self.desk, self.offset = desk, 0

    def __call__(self, action: str, target: str, minutes: float = 0, **args):
        at = T0 + timedelta(minutes=minutes)
        cmd = Command(name=f"ticket.{action}", target=target, actor="alice", args=args, occurred_at=at)
        outcome = self.desk.apply(cmd, "commands:0", self.offset)
        self.offset += 1
        return outcome


def p1(feed: Feed, target: str = "tkt_a", minutes: float = 0):
    return feed("create", target, minutes, title="core router down", urgency=1, impact=1)


def test_create_numbers_per_type_priority_from_the_matrix_and_timers_from_the_policy() -> None:
    feed = Feed(Desk())
    first = p1(feed).change.ticket
    second = feed("create", "tkt_b", title="slow page", urgency=2, criticality=5).change.ticket
    problem = feed("create", "tkt_c", type="problem", title="why", urgency=3, impact=3).change.ticket
    assert (first.number, second.number, problem.number) == ("INC0000001", "INC0000002", "PRB0000001")
    assert (first.priority, first.status, first.group) == ("P1", "new", "service-desk")
    # criticality 5 -> high impact; high x medium urgency -> P2
    assert (second.impact, second.priority) == (1, "P2")
    assert (problem.status, problem.priority) == ("new", "P4")
    timers = {t.kind: t for t in first.timers}
    assert (timers["response"].target_s, timers["resolution"].target_s) == (900, 4 * 3600)
    assert timers["response"].due_at == T0 + timedelta(minutes=15)
    assert timers["response"].calendar == "24x7" and timers["response"].state == "running"


def test_routing_rules_and_round_robin_inside_the_group() -> None:
    config = DeskConfig(
        groups={"network": AssignmentGroup("network", ("ann", "bob"))},
        rules=(RoutingRule("network", tags=frozenset({"net"})),),
    )
    feed = Feed(Desk(config))
    picks = [feed("create", f"tkt_{i}", title="t", tags=["net", "core"]).change.ticket for i in range(3)]
    assert [(t.group, t.assignee) for t in picks] == [
        ("network", "ann"),
        ("network", "bob"),
        ("network", "ann"),
    ]
    other = feed("create", "tkt_x", title="t").change.ticket
    assert (other.group, other.assignee) == ("service-desk", None)


def test_a_transition_the_machine_refuses_names_the_allowed_moves_and_changes_nothing() -> None:
    desk = Desk()
    feed = Feed(desk)
    p1(feed)
    refused = feed("transition", "tkt_a", 1, to="closed")
    assert refused.change is None
    assert refused.refused.endswith("allowed from new: in_progress, on_hold, resolved")
    no_reason = feed("transition", "tkt_a", 1, to="on_hold")
    assert "pending_reason is required" in no_reason.refused
    assert desk.tickets["tkt_a"].status == "new" and desk.tickets["tkt_a"].version == 1
    held = feed("transition", "tkt_a", 2, to="on_hold", pending_reason="awaiting_vendor").change
    assert (held.from_status, held.ticket.status, held.ticket.pending_reason) == (
        "new",
        "on_hold",
        "awaiting_vendor",
    )
    assert held.ticket.version == 2 and held.actor == "alice"
    resolution = next(t for t in held.ticket.timers if t.kind == "resolution")
    assert resolution.state == "paused" and resolution.due_at is None


def test_unknown_ticket_and_bad_arguments_are_refused_with_the_reason() -> None:
    feed = Feed(Desk())
    assert "no ticket 'tkt_zz'" in feed("comment", "tkt_zz", text="hi").refused
    assert "ticket.create: urgency" in feed("create", "tkt_q", title="t", urgency=7).refused
    assert "ticket.transition: to" in feed("transition", "tkt_q").refused
    p1(feed)
    assert "exists already" in p1(feed).refused
    assert "not a ticket id" in feed("create", "abc", title="t").refused


def test_sla_warnings_ride_on_changes_once_each_at_their_crossing_times() -> None:
    feed = Feed(Desk())
    p1(feed)  # response target 15 min round the clock
    first = feed("comment", "tkt_a", 8, text="looking").change
    assert [(e.kind, e.threshold, e.at) for e in first.sla] == [("response", 50, T0 + timedelta(minutes=7.5))]
    assert feed("comment", "tkt_a", 9, text="still").change.sla == []
    late = feed("comment", "tkt_a", 20, text="late").change
    assert [(e.threshold, e.at - T0) for e in late.sla] == [
        (75, timedelta(minutes=11.25)),
        (90, timedelta(minutes=13.5)),
        (100, timedelta(minutes=15)),
    ]
    response = next(t for t in late.ticket.timers if t.kind == "response")
    assert response.breached_at == T0 + timedelta(minutes=15) and response.emitted == [50, 75, 90, 100]
    moved = feed("transition", "tkt_a", 30, to="in_progress").change
    response = next(t for t in moved.ticket.timers if t.kind == "response")
    assert response.state == "stopped" and moved.sla == []


def test_a_redelivered_command_is_skipped_and_a_restored_desk_repeats_no_warning() -> None:
    desk = Desk()
    feed = Feed(desk)
    changes = [p1(feed).change, feed("comment", "tkt_a", 8, text="x").change]
    batch = desk.batch(changes)
    again = Command(name="ticket.comment", target="tkt_a", actor="alice", args={"text": "x"})
    assert desk.apply(again, "commands:0", 1).skipped
    restored = Desk()
    restored.restore([TicketBatch.model_validate_json(batch.model_dump_json())])
    assert restored.tickets == desk.tickets
    assert (restored.sequences, restored.positions) == ({"incident": 1}, {"commands:0": 2})
    assert restored.apply(again, "commands:0", 1).skipped
    feed2 = Feed(restored)
    feed2.offset = 2
    assert feed2("comment", "tkt_a", 9, text="y").change.sla == []  # the 50 % was emitted before
    assert feed2("create", "tkt_b", title="next").change.ticket.number == "INC0000002"


def test_projection_rows_of_a_creation_and_a_comment() -> None:
    desk = Desk()
    feed = Feed(desk)
    created = feed(
        "create", "tkt_a", title="t", urgency=1, impact=1, links=[{"kind": "alert", "ref": "al-1"}]
    ).change
    commented = feed("comment", "tkt_a", 8, text="note", visibility="customer").change
    proj = TicketsProjection()
    rows = list(proj.rows(desk.batch([created, commented])))
    tables = [u.table for u, _ in rows]
    assert tables.count("tickets") == 2 and tables.count("sla_timers") == 4
    assert tables.count("ticket_history") == 2
    assert [r for u, r in rows if u.table == "ticket_links"] == [("tkt_a", "alert", "al-1", T0, "alice")]
    comment = [r for u, r in rows if u.table == "ticket_comments"]
    assert comment == [("tkt_a", 2, T0 + timedelta(minutes=8), "alice", "customer", "note")]
    ticket = dict(zip(proj.ticket.columns, [r for u, r in rows if u.table == "tickets"][-1], strict=True))
    assert (ticket["number"], ticket["version"], ticket["comments"]) == ("INC0000001", 2, 1)
    assert ticket["sla_due_at"] == T0 + timedelta(minutes=15) and ticket["sla_breached_at"] is None


def test_the_breached_filter_takes_true_or_false_only() -> None:
    query = build_list(TICKETS, QueryParams("breached=true&status=new"), LIST_COLUMNS)
    assert "sla_breached_at IS NOT NULL" in query.select.as_string(None)
    negated = build_list(TICKETS, QueryParams("breached=false"), LIST_COLUMNS)
    assert "NOT (sla_breached_at" in negated.select.as_string(None)
    with pytest.raises(ApiError, match="breached must be true or false"):
        build_list(TICKETS, QueryParams("breached=maybe"), LIST_COLUMNS)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("incident:inc_42", ("incident", "inc_42")),
        ("alert: alt_1 ", ("alert", "alt_1")),
        ("asset:ast:with:colons", ("asset", "ast:with:colons")),
        ("ticket:inc0000007", ("ticket", "INC0000007")),
    ],
)
def test_a_link_filter_value_is_kind_colon_ref(value, parsed) -> None:
    assert parse_link(value) == parsed


@pytest.mark.parametrize("value", ["inc_42", "incident:", "widget:w1", "ticket:bogus", ":inc_42"])
def test_a_bad_link_filter_value_is_a_400_naming_link(value) -> None:
    with pytest.raises(ApiError, match="link") as refused:
        parse_link(value)
    assert refused.value.status == 400


def test_the_link_filter_is_an_exists_on_ticket_links_with_its_values_as_parameters() -> None:
    query = build_list(TICKETS, QueryParams("link=incident:inc_1&link=alert:a';--&status=new"), LIST_COLUMNS)
    text = query.select.as_string(None)
    assert text.count("EXISTS (SELECT 1 FROM ticket_links") == 2 and "a';--" not in text
    assert query.params[:5] == [["new"], "incident", "inc_1", "alert", "a';--"]
