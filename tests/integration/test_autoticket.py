"""Auto-ticketing end to end (real Kafka and PostgreSQL): a storm of 30 alerts posted to the HTTP API,
correlated into one incident, gets exactly one P1 ticket from a policy, linked to the incident and
every alert, across a ticket stage killed with -9 mid-storm; the ticket resolves when the alerts clear;
a replay rebuilds the ticket read models.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import EventBody, Observation
from tests.integration.harness import Pipeline, dead_letters, send, wait_for

# A stage killed mid-stream rejoins its group and rebuilds its state from the broker's log.
pytestmark = pytest.mark.embedded

T0 = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
LEAVES = [f"sw{i}" for i in range(4)] + [f"srv{i}{j}" for i in range(4) for j in range(7) if i * 7 + j < 25]
TABLES = {
    "tickets": "ticket_id",
    "ticket_links": "ticket_id, kind, ref",
    "sla_timers": "ticket_id, kind",
    "ticket_history": "ticket_id, version",
}
POLICY = {"name": "p1-critical", "severities": ["critical"], "min_criticality": 4, "priority": "P1"}


def aid(name: str) -> str:
    return asset_id_for(f"at:{name}")


def topology() -> list[Command]:
    """A core router (criticality 5) with 4 switches and 25 servers behind them."""

    def create(name: str, kind: str, links=(), **fields) -> Command:
        args = {
            "name": name,
            "type": kind,
            "dependencies": [{"type": "connected_to", "target": aid(x)} for x in links],
        }
        return Command(name="asset.create", target=aid(name), actor="test", args={**args, **fields})

    out = [create("core", "router", [f"sw{i}" for i in range(4)], criticality=5)]
    out += [create(f"sw{i}", "switch") for i in range(4)]
    out += [create(x, "server", [f"sw{x[3]}"]) for x in LEAVES if x.startswith("srv")]
    return out


def alert(at: float, name: str, severity: str = "critical") -> dict:
    obs = Observation(
        event_id=f"at-{name}-{at}-{severity}",
        source="nms",
        asset_id=aid(name),
        occurred_at=T0 + timedelta(seconds=at),
        body=EventBody(event="Device Unreachable", severity=severity, resource=name, title=f"{name} down"),
    )
    return obs.model_dump(mode="json")


def test_a_storm_gets_one_ticket_across_a_killed_stage_and_it_resolves_on_clear(servers, tmp_path) -> None:
    pipeline = Pipeline(
        servers, tmp_path, broker_session_timeout="4", ticket_auto_policies=json.dumps([POLICY])
    )
    try:
        run(pipeline)
    finally:
        pipeline.stop_all()


def run(pipeline: Pipeline) -> None:
    pipeline.start_worker(stages="normalize,dedupe,projections,assets")
    pipeline.start("correlate", "worker", "--stages", "correlate")
    pipeline.start("tickets", "worker", "--stages", "tickets")
    pipeline.start_api()
    commands = topology()
    send(pipeline, "commands", commands)
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM assets") == len(commands), 60, "the assets")

    storm = [alert(0, "core")] + [alert(2 + 2 * n, name) for n, name in enumerate(LEAVES)]
    assert len(storm) == 30

    def post(items: list[dict]) -> None:
        with pipeline.client() as c:
            r = c.post("/api/v1/events", json=items)
            assert r.status_code == 202, r.text

    def links(kind: str) -> set[str]:
        rows = pipeline.query("SELECT ref FROM ticket_links WHERE kind = %s", (kind,))
        return {r["ref"] for r in rows}

    # The first half opens the ticket; the ticket stage is killed (-9); the rest joins the same one.
    post(storm[:15])
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM tickets") == 1, 120, "the auto ticket")
    pipeline.kill_supervised_child("tickets")
    post(storm[15:])
    wait_for(lambda: len(links("alert")) == 30, 240, "30 alerts linked to the ticket")

    tickets = pipeline.query("SELECT * FROM tickets")
    assert len(tickets) == 1, tickets
    ticket = tickets[0]
    assert (ticket["priority"], ticket["status"], ticket["number"]) == ("P1", "new", "INC0000001")
    incident_ids = {r["incident_id"] for r in pipeline.query("SELECT DISTINCT incident_id FROM alerts")}
    assert len(incident_ids) == 1 and links("incident") == incident_ids
    alert_ids = {r["alert_id"] for r in pipeline.query("SELECT alert_id FROM alerts")}
    assert links("alert") == alert_ids
    with pipeline.client() as c:
        detail = c.get(f"/api/v1/tickets/{ticket['number']}").json()
    assert detail["ticket"]["created_by"] == "auto-ticket"
    assert {s["kind"]: s["target_s"] for s in detail["sla"]} == {"response": 900, "resolution": 4 * 3600}

    # Every alert clears: the incident resolves, and so does its ticket (no second one).
    post([alert(600 + n, name, "ok") for n, name in enumerate(["core", *LEAVES])])
    wait_for(lambda: pipeline.scalar("SELECT status FROM tickets") == "resolved", 120, "the ticket resolved")
    assert pipeline.scalar("SELECT count(*) FROM tickets") == 1
    assert not [d for d in dead_letters(pipeline) if d.stage == "tickets"]

    # A replay rebuilds the ticket read models row for row.
    pipeline.wait_quiet(60, quiet=1.0)
    target = f"{pipeline.name}_rb"
    done = pipeline.run("replay", "--schema", target)
    assert done.returncode == 0, done.stderr
    for table, key in TABLES.items():
        live = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}")
        rebuilt = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}", schema=target)
        assert live and live == rebuilt, f"{table} differs after replay"
