"""Auto-ticketing of single alerts (agents/autoticket_alerts.py) on the changes the dedupe core makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ems.agents.autoticket_alerts import AlertTicketer, alert_ticket_id
from ems.agents.autoticket_policy import ACTOR
from ems.agents.tickets import Desk, DeskConfig
from ems.ml.offline import alert_changes
from ems.schemas.alert import AlertChanged
from ems.schemas.asset import Asset, Edge
from ems.schemas.command import Command
from ems.schemas.observation import EventBody, Observation
from ems.schemas.ticket import AutoPolicy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
P1_CRITICAL = AutoPolicy(name="p1-critical", severities=["critical"], min_criticality=4, priority="P1")


def _assets() -> list[Asset]:
    """A criticality-5 router; a switch of no known criticality that the payments app runs on."""
    router = Asset(
        asset_id="ast_core", name="core", type="router", criticality=5, created_at=T0, updated_at=T0
    )
    switch = Asset(asset_id="ast_sw", name="sw", type="switch", created_at=T0, updated_at=T0)
    app = Asset(
        asset_id="ast_pay",
        name="payments",
        type="service",
        criticality=4,
        edges=[Edge(type="runs_on", target="ast_sw")],
        created_at=T0,
        updated_at=T0,
    )
    return [router, switch, app]


def _obs(at: float, name: str, severity: str = "critical", event: str = "Device Unreachable") -> Observation:
    return Observation(
        event_id=f"{name}-{at}-{severity}",
        source="nms",
        asset_id=f"ast_{name}",
        occurred_at=T0 + timedelta(minutes=at),
        body=EventBody(event=event, severity=severity, resource=name, title=f"{name} down"),
    )


def _ticketer(*policies: AutoPolicy) -> AlertTicketer:
    auto = AlertTicketer(policies or (P1_CRITICAL,))
    for asset in _assets():
        auto.asset(asset)
    return auto


def _run(desk: Desk, auto: AlertTicketer, changes: list[AlertChanged]) -> list:
    made = []
    for change in changes:
        for command in auto.on_alert(change, desk.tickets):
            outcome = desk.execute(command)
            assert outcome.refused is None, outcome.refused
            made.append(outcome.change)
    return made


def _desk(*policies: AutoPolicy) -> Desk:
    return Desk(DeskConfig(auto=policies or (P1_CRITICAL,)))


def test_a_critical_alert_on_a_criticality_5_asset_gets_one_p1_ticket_linked_to_it() -> None:
    changes = alert_changes([_obs(0, "core"), _obs(1, "core"), _obs(2, "core")])  # then two repeats
    alert = changes[0].alert
    desk = _desk()
    made = _run(desk, _ticketer(), changes)
    assert [c.kind for c in made] == ["created"]
    ticket = desk.tickets[alert_ticket_id(alert.alert_id, 0)]
    assert (ticket.priority, ticket.status, ticket.created_by, ticket.title) == (
        "P1",
        "new",
        ACTOR,
        "core down",
    )
    assert {(x.kind, x.ref) for x in ticket.links} == {("alert", alert.alert_id), ("asset", "ast_core")}
    assert "p1-critical" in ticket.tags
    assert ticket.created_at == T0  # the alert's (event) time, not now


def test_redelivery_replay_and_a_restart_open_no_second_ticket() -> None:
    changes = alert_changes([_obs(0, "core"), _obs(1, "core"), _obs(5, "core", "ok")])
    desk = _desk()
    _run(desk, _ticketer(), changes[:2])
    restarted = _desk()  # the state from the published tickets; the topology from the assets
    restarted.tickets, restarted.sequences = dict(desk.tickets), dict(desk.sequences)
    auto = _ticketer()
    assert _run(restarted, auto, changes[:2]) == []  # redelivered
    _run(restarted, auto, changes)  # a replay from the beginning: only the clear is new
    (ticket,) = restarted.tickets.values()
    assert ticket.status == "resolved" and ticket.number == "INC0000001"


def test_the_same_change_always_makes_the_same_command_ids() -> None:
    (change,) = alert_changes([_obs(0, "core")])
    first = _ticketer().on_alert(change, {})
    again = _ticketer().on_alert(change, {})
    assert [c.event_id for c in first] == [c.event_id for c in again] == [f"auto:{change.alert.alert_id}:1:1"]


def test_an_alert_that_becomes_critical_later_gets_its_ticket_then() -> None:
    changes = alert_changes([_obs(0, "core", "major"), _obs(3, "core", "critical")])
    desk = _desk()
    assert _run(desk, _ticketer(), changes[:1]) == []
    _run(desk, _ticketer(), changes[1:])
    (ticket,) = desk.tickets.values()
    assert ticket.created_at == T0 + timedelta(minutes=3)


@pytest.mark.parametrize(("on_clear", "status"), [("resolve", "resolved"), ("note", "new")])
def test_the_alert_clearing_resolves_or_notes_the_ticket_and_reopening_resumes_it(
    on_clear: str, status: str
) -> None:
    policy = P1_CRITICAL.model_copy(update={"on_clear": on_clear})
    changes = alert_changes([_obs(0, "core"), _obs(10, "core", "ok"), _obs(20, "core")])
    desk = _desk(policy)
    auto = _ticketer(policy)
    made = _run(desk, auto, changes[:2])
    (ticket,) = desk.tickets.values()
    assert ticket.status == status
    assert made[-1].kind == ("transitioned" if on_clear == "resolve" else "commented")
    assert made[-1].occurred_at == T0 + timedelta(minutes=10)
    _run(desk, auto, changes[2:])  # it fails again: back to work, still one ticket
    (ticket,) = desk.tickets.values()
    assert ticket.status == ("in_progress" if on_clear == "resolve" else "new")


def test_an_alert_failing_again_after_its_ticket_was_closed_gets_a_new_one() -> None:
    changes = alert_changes([_obs(0, "core"), _obs(10, "core", "ok"), _obs(60, "core"), _obs(61, "core")])
    desk = _desk()
    auto = _ticketer()
    _run(desk, auto, changes[:2])
    first = alert_ticket_id(changes[0].alert.alert_id, 0)
    close = Command(name="ticket.transition", target=first, actor="ann", args={"to": "closed"})
    assert desk.execute(close).refused is None
    _run(desk, auto, changes[2:])  # reopened, then a repeat: one new ticket
    _run(desk, auto, changes[2:])  # redelivered: nothing more
    second = desk.tickets[alert_ticket_id(changes[0].alert.alert_id, 1)]
    assert len(desk.tickets) == 2 and desk.tickets[first].status == "closed"
    assert (second.status, second.number) == ("new", "INC0000002")


def test_criticality_and_services_come_from_the_topology_as_the_correlation_works_them_out() -> None:
    """The switch has no criticality; the payments service (criticality 4) runs on it."""
    (change,) = alert_changes([_obs(0, "sw")])
    auto = _ticketer(AutoPolicy(name="payments", services=["payments"], min_criticality=4))
    found = auto.impact(change.alert, change.alert.first_seen, change.occurred_at)
    assert found.criticality == 4 and [s.name for s in found.services] == ["payments"]
    desk = _desk(*auto.policies)
    _run(desk, auto, [change])
    (ticket,) = desk.tickets.values()
    assert ticket.services == ["payments"]


def test_policies_that_do_not_match_and_a_shelved_alert_open_nothing() -> None:
    core = alert_changes([_obs(0, "core", "major")])
    unknown = alert_changes([_obs(0, "elsewhere")])  # an asset the topology does not know: criticality 0
    shelved = alert_changes([_obs(0, "core")])[0]
    shelved = shelved.model_copy(update={"alert": shelved.alert.model_copy(update={"status": "shelved"})})
    for policies, changes in (
        ((P1_CRITICAL,), core),
        ((P1_CRITICAL,), unknown),
        ((AutoPolicy(name="tagged", tags=["pci"]),), alert_changes([_obs(0, "core")])),
        ((AutoPolicy(name="any"),), [shelved]),
        ((), alert_changes([_obs(0, "core")])),
    ):
        desk = _desk(*policies)
        assert _run(desk, _ticketer(*policies) if policies else AlertTicketer(()), changes) == []
        assert not desk.tickets
