"""Auto-ticketing of single alerts end to end (real Kafka and PostgreSQL, no correlation stage): a
critical alert on a criticality-5 asset gets exactly one ticket linked to it, which neither a duplicate
of the alert nor the ticket stage killed with -9 (and restarted) repeats; the alert's clear resolves it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import EventBody, Observation
from tests.integration.harness import Pipeline, dead_letters, send, wait_for

T0 = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
POLICY = {"name": "p1-critical", "severities": ["critical"], "min_criticality": 4, "priority": "P1"}
CORE = asset_id_for("aa:core")


def alert(at: float, severity: str = "critical") -> dict:
    obs = Observation(
        event_id=f"aa-core-{at}-{severity}",
        source="nms",
        asset_id=CORE,
        occurred_at=T0 + timedelta(seconds=at),
        body=EventBody(event="Device Unreachable", severity=severity, resource="core", title="core down"),
    )
    return obs.model_dump(mode="json")


def test_one_ticket_per_alert_across_a_duplicate_and_a_killed_stage_resolved_on_clear(
    servers, tmp_path
) -> None:
    pipeline = Pipeline(
        servers,
        tmp_path,
        broker_session_timeout="4",
        ticket_auto_policies=json.dumps([POLICY]),
        ticket_auto_source="alerts",
    )
    try:
        run(pipeline)
    finally:
        pipeline.stop_all()


def run(pipeline: Pipeline) -> None:
    pipeline.start_worker(stages="normalize,dedupe,projections,assets")
    pipeline.start("tickets", "worker", "--stages", "tickets")
    pipeline.start_api()
    core = Command(
        name="asset.create",
        target=CORE,
        actor="test",
        args={"name": "core", "type": "router", "criticality": 5},
    )
    send(pipeline, "commands", [core])
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM assets") == 1, 60, "the asset")

    def post(items: list[dict]) -> None:
        with pipeline.client() as c:
            r = c.post("/api/v1/events", json=items)
            assert r.status_code == 202, r.text

    post([alert(0)])
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM tickets") == 1, 120, "the auto ticket")
    alert_id = pipeline.scalar("SELECT alert_id FROM alerts")
    ticket = pipeline.query("SELECT * FROM tickets")[0]
    assert (ticket["priority"], ticket["status"], ticket["created_by"]) == ("P1", "new", "auto-ticket")
    links = {(r["kind"], r["ref"]) for r in pipeline.query("SELECT kind, ref FROM ticket_links")}
    assert links == {("alert", alert_id), ("asset", CORE)}

    # A duplicate, and the ticket stage killed (-9) while it may be applying it; the supervisor
    # restarts it, which rebuilds from ems.tickets. The clear comes after the duplicate on the
    # alert's partition, so once the ticket is resolved both were applied.
    post([alert(30)])
    wait_for(lambda: pipeline.scalar("SELECT duplicate_count FROM alerts") == 1, 60, "the duplicate")
    pipeline.kill_supervised_child("tickets")
    post([alert(60, "ok")])
    wait_for(lambda: pipeline.scalar("SELECT status FROM tickets") == "resolved", 120, "the ticket resolved")
    assert pipeline.scalar("SELECT count(*) FROM tickets") == 1
    # (the SLA sweep's changes aside: the asset command, dated now, moved its clock past T0's timers)
    history = pipeline.query("SELECT kind, reason FROM ticket_history WHERE kind <> 'sla' ORDER BY version")
    assert [h["kind"] for h in history] == ["created", "transitioned"], history
    assert history[-1]["reason"].startswith(f"alert {alert_id} resolved")
    assert not [d for d in dead_letters(pipeline) if d.stage == "tickets"]
