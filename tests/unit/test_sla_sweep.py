"""The SLA sweep (Desk.advance): crossings emitted in event time without a command, once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ems.agents.tickets import SWEEP_ACTOR, Desk, DeskConfig
from ems.itsm import sla
from ems.itsm.calendar import AlwaysOpen
from ems.itsm.priority import Priority
from ems.itsm.routing import AssignmentGroup, RoutingError
from ems.schemas.command import Command

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)


class Feed:
    def __init__(self, desk: Desk) -> None:
        self.desk, self.offset = desk, 0

    def __call__(self, action: str, target: str, minutes: float, **args):
        cmd = Command(
            name=f"ticket.{action}", target=target, actor="alice", args=args, occurred_at=T0 + minutes * M
        )
        outcome = self.desk.apply(cmd, "commands:0", self.offset)
        self.offset += 1
        assert outcome.refused is None, outcome.refused
        return outcome.change


def _p1(feed: Feed, target: str, minutes: float = 0):
    return feed("create", target, minutes, title="down", urgency=1, impact=1)  # response 15 min, 4 h


def crossings(changes) -> list[tuple[str, str, int, datetime]]:
    return [(c.ticket.ticket_id, e.kind, e.threshold, e.at) for c in changes for e in c.sla]


def test_next_crossing_is_the_earliest_threshold_not_emitted() -> None:
    timer = sla.timers_for(sla.policy_for(sla.DEFAULT_POLICIES, "incident", Priority.P1), T0)[0]  # response
    assert sla.next_crossing(timer, AlwaysOpen()) == T0 + 7.5 * M
    emitted = sla.mark_emitted(timer, sla.due_warnings(timer, AlwaysOpen(), T0 + 12 * M))
    assert sla.next_crossing(emitted, AlwaysOpen()) == T0 + 13.5 * M
    stopped = sla.with_change(timer, sla.StatusChange(T0 + M, "in_progress"))
    assert sla.next_crossing(stopped, AlwaysOpen()) is None  # responded in time: nothing more


def test_the_sweep_emits_due_crossings_without_a_command_once_each_at_their_own_times() -> None:
    desk = Desk()
    feed = Feed(desk)
    _p1(feed, "tkt_a")
    assert desk.advance(T0 + 7 * M) == []
    first = desk.advance(T0 + 8 * M)
    assert crossings(first) == [("tkt_a", "response", 50, T0 + 7.5 * M)]
    assert (first[0].kind, first[0].actor, first[0].occurred_at) == ("sla", SWEEP_ACTOR, T0 + 7.5 * M)
    assert desk.advance(T0 + 8 * M) == [] and desk.advance(T0 + 5 * M) == []  # never back, never twice
    late = desk.advance(T0 + 20 * M)  # a sweep that looks late gets all it missed, in one change
    assert [(k, t) for _, k, t, _ in crossings(late)] == [
        ("response", 75),
        ("response", 90),
        ("response", 100),
    ]
    assert late[0].occurred_at == T0 + 15 * M and late[0].ticket.timers[0].breached_at == T0 + 15 * M
    resolution = desk.advance(T0 + 2 * 60 * M)
    assert crossings(resolution) == [("tkt_a", "resolution", 50, T0 + 2 * 60 * M)]


def test_only_due_tickets_are_visited_and_paused_timers_cross_nothing() -> None:
    desk = Desk()
    feed = Feed(desk)
    _p1(feed, "tkt_a", 0)
    _p1(feed, "tkt_b", 5)
    _p1(feed, "tkt_c", 6)
    feed("transition", "tkt_c", 7, to="on_hold", pending_reason="awaiting_vendor")
    assert desk.due.pending(0) == 2  # c: response stopped in time, resolution paused
    assert [c.ticket.ticket_id for c in desk.advance(T0 + 10 * M)] == ["tkt_a"]
    assert desk.due.pending(0) == 2
    assert [c.ticket.ticket_id for c in desk.advance(T0 + 13 * M)] == ["tkt_a", "tkt_b"]
    assert all(c.ticket.ticket_id != "tkt_c" for c in desk.advance(T0 + 10 * 60 * M))


def test_a_restarted_desk_repeats_no_crossing() -> None:
    desk = Desk()
    feed = Feed(desk)
    made = [_p1(feed, "tkt_a")]
    made += desk.advance(T0 + 8 * M)
    restarted = Desk()
    restarted.restore([desk.batch(made)])
    assert restarted.advance(T0 + 9 * M) == []  # 50 % is in the emitted set
    assert [t for _, _, t, _ in crossings(restarted.advance(T0 + 12 * M))] == [75]


def test_a_tick_command_changes_nothing_itself() -> None:
    desk = Desk()
    tick = Command(name="ticket.tick", target="tickets", actor="ticker", occurred_at=T0)
    outcome = desk.apply(tick, "commands:0", 0)
    assert (outcome.change, outcome.refused, outcome.skipped) == (None, None, False)


def _chain() -> DeskConfig:
    return DeskConfig(
        groups={"l2": AssignmentGroup("l2", ("ann", "bob")), "l3": AssignmentGroup("l3", ("cy",))},
        escalations={"service-desk": "l2", "l2": "l3"},
    )


def test_a_warning_at_90_and_the_breach_each_escalate_one_level_up_the_chain() -> None:
    desk = Desk(_chain())
    feed = Feed(desk)
    _p1(feed, "tkt_a")
    (half,) = desk.advance(T0 + 8 * M)  # 50 %: no escalation
    assert (half.ticket.group, half.reason) == ("service-desk", "")
    (ninety,) = desk.advance(T0 + 14 * M)  # 75 and 90 %
    assert (ninety.ticket.group, ninety.ticket.assignee) == ("l2", "ann")
    assert ninety.reason == "escalated from service-desk to l2: SLA response 90 %"
    (breach,) = desk.advance(T0 + 16 * M)
    assert (breach.ticket.group, breach.ticket.assignee) == ("l3", "cy")
    late = Desk(_chain())
    _p1(Feed(late), "tkt_b")
    (both,) = late.advance(T0 + 20 * M)  # a late sweep: both crossings, two levels
    assert both.ticket.group == "l3" and both.reason.count("escalated") == 2


def test_a_resolved_ticket_or_the_top_of_the_chain_does_not_escalate() -> None:
    desk = Desk(_chain())
    feed = Feed(desk)
    _p1(feed, "tkt_a")
    feed("transition", "tkt_a", 1, to="resolved")
    assert desk.advance(T0 + 60 * M) == []  # both timers stopped: nothing crosses
    top = Desk(DeskConfig(groups={"l3": AssignmentGroup("l3", ("cy",))}, escalations={"service-desk": "l3"}))
    _p1(Feed(top), "tkt_b")
    (change,) = top.advance(T0 + 20 * M)
    assert change.ticket.group == "l3" and change.reason.count("escalated") == 1


def test_an_escalation_chain_naming_an_unknown_group_is_refused() -> None:
    with pytest.raises(RoutingError, match="escalations"):
        DeskConfig(escalations={"service-desk": "nowhere"})
