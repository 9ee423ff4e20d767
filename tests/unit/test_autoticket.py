"""Auto-ticketing's pure core (agents/autoticket.py) on incidents the offline correlator makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ems.agents.autoticket import AutoTicketer, incident_facts
from ems.agents.autoticket_policy import ACTOR, matches, ticket_id_for
from ems.agents.tickets import Desk, DeskConfig
from ems.itsm.routing import AssignmentGroup, RoutingError
from ems.ml.offline import alert_changes, correlate
from ems.schemas.asset import Asset, Edge
from ems.schemas.incident import IncidentChanged
from ems.schemas.observation import EventBody, Observation
from ems.schemas.ticket import AutoPolicy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
P1_CRITICAL = AutoPolicy(name="p1-critical", severities=["critical"], min_criticality=4, priority="P1")
LEAVES = [f"sw{i:02}" for i in range(29)]


def _assets() -> list[Asset]:
    core = Asset(
        asset_id="ast_core",
        name="core",
        type="router",
        criticality=5,
        edges=[Edge(type="connected_to", target=f"ast_{x}") for x in LEAVES],
        created_at=T0,
        updated_at=T0,
    )
    leaves = [Asset(asset_id=f"ast_{x}", name=x, type="switch", created_at=T0, updated_at=T0) for x in LEAVES]
    return [core, *leaves]


def _obs(at: float, name: str, severity: str = "critical") -> Observation:
    return Observation(
        event_id=f"{name}-{at}-{severity}",
        source="nms",
        asset_id=f"ast_{name}",
        occurred_at=T0 + timedelta(seconds=at),
        body=EventBody(event="Device Unreachable", severity=severity, resource=name),
    )


def _storm(clear_at: float | None = None) -> list[IncidentChanged]:
    """The core and 29 switches behind it down within a minute (then all clear at `clear_at`)."""
    obs = [_obs(0, "core")] + [_obs(2 + 2 * i, x) for i, x in enumerate(LEAVES)]
    if clear_at is not None:
        obs += [_obs(clear_at + i, x, "ok") for i, x in enumerate(["core", *LEAVES])]
    _, records = correlate(alert_changes(obs), _assets())
    return records


def _run(desk: Desk, auto: AutoTicketer, changes: list[IncidentChanged]) -> list:
    made = []
    for change in changes:
        for command in auto.on_incident(change, desk.tickets):
            outcome = desk.execute(command)
            assert outcome.refused is None, outcome.refused
            made.append(outcome.change)
    return made


def test_a_storm_of_30_alerts_opens_one_p1_ticket_linked_to_the_incident_and_every_alert() -> None:
    changes = _storm()
    incident = changes[-1].incident
    assert incident.alerts == 30 and len({c.incident.incident_id for c in changes}) >= 1
    desk = Desk(DeskConfig(auto=(P1_CRITICAL,)))
    made = _run(desk, AutoTicketer([P1_CRITICAL]), changes)
    assert len(desk.tickets) == 1
    ticket = desk.tickets[ticket_id_for(incident.incident_id)]
    assert (ticket.priority, ticket.status, ticket.created_by, ticket.number) == (
        "P1",
        "new",
        ACTOR,
        "INC0000001",
    )
    assert "p1-critical" in ticket.tags
    alerts = {x.ref for x in ticket.links if x.kind == "alert"}
    assert len(alerts) == 30 and ("incident", incident.incident_id) in {(x.kind, x.ref) for x in ticket.links}
    assert sum(1 for c in made if c.kind == "created") == 1
    # Event time: the ticket opened when the incident did (as the correlator dated it), not now.
    assert ticket.created_at < T0 + timedelta(minutes=5)


def test_redelivery_and_a_restart_midway_open_no_second_ticket_and_link_the_rest() -> None:
    changes = _storm()
    half = len(changes) // 2
    desk = Desk(DeskConfig(auto=(P1_CRITICAL,)))
    _run(desk, AutoTicketer([P1_CRITICAL]), changes[:half])
    # A restart: the state from the published tickets, the incidents folded up to the position.
    restarted = Desk(DeskConfig(auto=(P1_CRITICAL,)))
    restarted.tickets, restarted.sequences = dict(desk.tickets), dict(desk.sequences)
    auto = AutoTicketer([P1_CRITICAL])
    auto.restore(restarted.tickets.values())
    for change in changes[:half]:
        auto.fold(change)
    _run(restarted, auto, changes[half:])
    _run(restarted, auto, changes)  # everything again (a replay from the beginning): nothing new
    assert len(restarted.tickets) == 1
    (ticket,) = restarted.tickets.values()
    assert len([x for x in ticket.links if x.kind == "alert"]) == 30


@pytest.mark.parametrize(("on_clear", "status"), [("resolve", "resolved"), ("note", "new")])
def test_when_every_alert_clears_the_ticket_is_resolved_or_noted(on_clear: str, status: str) -> None:
    policy = P1_CRITICAL.model_copy(update={"on_clear": on_clear})
    changes = _storm(clear_at=600)
    assert changes[-1].incident.status == "resolved"
    desk = Desk(DeskConfig(auto=(policy,)))
    made = _run(desk, AutoTicketer([policy]), changes)
    (ticket,) = desk.tickets.values()
    assert ticket.status == status
    last = made[-1]
    assert last.kind == ("transitioned" if on_clear == "resolve" else "commented")
    assert last.occurred_at == changes[-1].incident.updated_at  # the incident's (event) time
    if on_clear == "resolve":
        assert ticket.resolved_at == changes[-1].incident.resolved_at
        assert [t.state for t in ticket.timers] == ["stopped", "stopped"]


def test_a_policy_that_does_not_match_opens_nothing() -> None:
    changes = _storm()
    incident = changes[-1].incident
    for policy in (
        AutoPolicy(name="majors", severities=["major"]),
        AutoPolicy(name="payments", services=["payments"]),
        AutoPolicy(name="tagged", tags=["pci"]),
    ):
        assert not matches(policy, incident_facts(incident, []))
        desk = Desk(DeskConfig(auto=(policy,)))
        assert _run(desk, AutoTicketer([policy]), changes) == [] and not desk.tickets


def test_a_policy_picks_the_group_and_the_impact_and_urgency() -> None:
    policy = AutoPolicy(name="net", impact=2, urgency=1, group="network")
    config = DeskConfig(groups={"network": AssignmentGroup("network", ("ann", "bob"))}, auto=(policy,))
    desk = Desk(config)
    _run(desk, AutoTicketer([policy]), _storm())
    (ticket,) = desk.tickets.values()
    assert (ticket.priority, ticket.group, ticket.assignee) == ("P2", "network", "ann")


def test_bad_policies_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="not both"):
        AutoPolicy(name="x", priority="P1", urgency=1)
    with pytest.raises(RoutingError, match="auto_policies"):
        DeskConfig(auto=(AutoPolicy(name="x", group="nowhere"),))


def test_a_merge_notes_the_merged_incidents_ticket_with_the_survivors() -> None:
    """a - b - c - d - e: a and e alone first (two incidents, two tickets), then c relates both."""
    chain = "abcde"
    assets = [
        Asset(
            asset_id=f"ast_{x}",
            name=x,
            type="switch",
            edges=[Edge(type="connected_to", target=f"ast_{y}")] if y else [],
            created_at=T0,
            updated_at=T0,
        )
        for x, y in zip(chain, [*chain[1:], None], strict=True)
    ]
    _, changes = correlate(alert_changes([_obs(0, "a"), _obs(10, "e"), _obs(20, "c")]), assets)
    merged = next(c.incident for c in changes if c.kind == "merged")
    policy = AutoPolicy(name="all")
    desk = Desk(DeskConfig(auto=(policy,)))
    _run(desk, AutoTicketer([policy]), changes)
    assert len(desk.tickets) == 2
    gone = desk.tickets[ticket_id_for(merged.incident_id)]
    survivor = desk.tickets[ticket_id_for(merged.merged_into)]
    assert gone.comments == 1 and survivor.comments == 0
    assert len({x.ref for x in survivor.links if x.kind == "alert"}) == 3  # c and the merged member
