"""Tickets end to end (real Kafka and PostgreSQL): opened, moved and commented over the HTTP API, applied
by the ticket stage, projected and read back by number with their SLA timers; a move the machine does
not allow answered 409 naming the allowed ones; a ticket opened from an alert; a command the stage
refuses dead-lettered with the reason; a replay rebuilding the same rows. On a driven clock (commands
dated in the past), the SLA warnings and the breach each emitted once across a stage killed with -9.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ems.agents.tickets_worker import tick
from ems.schemas.command import Command
from tests.integration.harness import Pipeline, dead_letters, send, wait_for

ACTOR = "key:pipeline-admin"  # the authenticated principal: the pipeline's admin key
TABLES = {
    "tickets": "ticket_id",
    "ticket_comments": "ticket_id, version",
    "ticket_links": "ticket_id, kind, ref",
    "sla_timers": "ticket_id, kind",
    "ticket_history": "ticket_id, version",
    "ticket_attachments": "ticket_id, attachment_id",
}


@pytest.fixture
def desk_pipeline(servers: dict[str, str], tmp_path) -> Iterator[Pipeline]:
    """A pipeline with the assignment group `network` configured (assigning to others is refused), the
    test's admin key one of its members (`group=mine`)."""
    p = Pipeline(servers, tmp_path, ticket_groups=json.dumps({"network": ["ann", ACTOR]}))
    try:
        yield p
    finally:
        p.stop_all()


def test_tickets_over_the_api(desk_pipeline: Pipeline) -> None:
    pipeline = desk_pipeline
    pipeline.start_worker(stages="normalize,dedupe,projections,tickets")
    pipeline.start_api()
    with pipeline.client(timeout=60) as c:
        # 1. Open an incident: numbered, P1 from high impact x high urgency, routed, timers running.
        body = {"title": "Core router down", "urgency": 1, "impact": 1, "reason": "seen on the wall"}
        created = c.post("/api/v1/tickets", params={"wait": 30}, json=body)
        assert created.status_code == 200, created.text
        number = created.json()["number"]
        ticket = created.json()["ticket"]["ticket"]
        assert number == "INC0000001" and ticket["number"] == number
        assert (ticket["priority"], ticket["status"], ticket["assignment_group"]) == (
            "P1",
            "new",
            "service-desk",
        )
        assert ticket["created_by"] == ACTOR
        accepted = c.post("/api/v1/tickets", json={"type": "problem", "title": "Why do routers die"})
        assert accepted.status_code == 202 and accepted.json()["ticket_id"].startswith("tkt_")
        assert c.post("/api/v1/tickets", json={"urgency": 1}).status_code == 422  # no title, no alert

        # 2. A move the incident machine does not allow from `new`: 409 naming the allowed ones.
        refused = c.post(f"/api/v1/tickets/{number}/transition", json={"to": "closed"})
        assert refused.status_code == 409, refused.text
        assert "allowed from new: in_progress, on_hold, resolved" in refused.json()["error"]
        no_reason = c.post(f"/api/v1/tickets/{number}/transition", json={"to": "on_hold"})
        assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "pending_reason"
        assert c.post("/api/v1/tickets/INC0009999/transition", json={"to": "closed"}).status_code == 404

        # 3. Transition and comment (lower-case number accepted).
        moved = c.post(
            f"/api/v1/tickets/{number.lower()}/transition",
            params={"wait": 30},
            json={"to": "in_progress", "reason": "on it"},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["ticket"]["ticket"]["status"] == "in_progress"
        noted = c.post(
            f"/api/v1/tickets/{number}/comments",
            params={"wait": 30},
            json={"text": "line card replaced", "visibility": "customer"},
        )
        assert noted.status_code == 200, noted.text
        assigned = c.post(
            f"/api/v1/tickets/{number}/assign",
            params={"wait": 30},
            json={"group": "network", "assignee": "ann"},
        )
        assert assigned.status_code == 200, assigned.text
        assert c.post(f"/api/v1/tickets/{number}/assign", json={}).status_code == 422
        typo = c.post(f"/api/v1/tickets/{number}/assign", json={"group": "netwrok"})
        assert typo.status_code == 422 and typo.json()["errors"][0]["field"] == "group", typo.text
        link = {"kind": "asset", "ref": "ast_core1"}
        linked = c.post(f"/api/v1/tickets/{number}/links", params={"wait": 30}, json=link)
        assert linked.status_code == 200, linked.text
        assert c.post(f"/api/v1/tickets/{number}/links", json=link).status_code == 409
        bad_ref = c.post(f"/api/v1/tickets/{number}/links", json={"kind": "ticket", "ref": "bogus"})
        assert bad_ref.status_code == 422 and bad_ref.json()["errors"][0]["field"] == "ref"

        # 4. Read back by number: the timers read now, the comment, the history with its actors.
        detail = c.get(f"/api/v1/tickets/{number}").json()
        assert detail["ticket"]["status"] == "in_progress" and detail["ticket"]["comments"] == 1
        assert (detail["ticket"]["assignment_group"], detail["ticket"]["assignee"]) == ("network", "ann")
        assert [(x["kind"], x["ref"], x["by"]) for x in detail["links"]] == [("asset", "ast_core1", ACTOR)]
        sla = {t["kind"]: t for t in detail["sla"]}
        assert (sla["response"]["target_s"], sla["resolution"]["target_s"]) == (900, 4 * 3600)
        assert sla["response"]["now"]["state"] == "stopped"  # responded: it left `new`
        resolution = sla["resolution"]["now"]
        assert resolution["state"] == "running" and not resolution["breached"]
        assert resolution["summary"].startswith("SLA resolution: ") and "remaining" in resolution["summary"]
        assert [(h["kind"], h["status"], h["actor"]) for h in detail["history"]] == [
            ("created", "new", ACTOR),
            ("transitioned", "in_progress", ACTOR),
            ("commented", "in_progress", ACTOR),
            ("assigned", "in_progress", ACTOR),
            ("linked", "in_progress", ACTOR),
        ]
        assert detail["history"][1]["from_status"] == "new" and detail["history"][1]["reason"] == "on it"
        assert [(x["visibility"], x["text"]) for x in detail["comments"]] == [
            ("customer", "line card replaced")
        ]
        assert c.get("/api/v1/tickets/INC0009999").status_code == 404
        assert c.get("/api/v1/tickets/not-a-number").status_code == 404

        # 4b. Attachments: links to files, kept with who attached them; one removed stays in the history.
        path = f"/api/v1/tickets/{number}/attachments"
        doc = {
            "name": "trace.pcap",
            "url": "https://files.example/t.pcap",
            "content_type": "x/pcap",
            "size": 9,
        }
        attached = c.post(path, params={"wait": 30}, json=doc)
        assert attached.status_code == 200, attached.text
        kept = attached.json()["attachment_id"]
        shown = attached.json()["ticket"]["attachments"]
        assert [(a["attachment_id"], a["name"], a["size"], a["by"]) for a in shown] == [
            (kept, "trace.pcap", 9, ACTOR)
        ]
        other = c.post(path, params={"wait": 30}, json={"name": "old.log", "url": "http://files.example/o"})
        assert other.status_code == 200, other.text
        gone = other.json()["attachment_id"]
        removed = c.delete(f"{path}/{gone}", params={"wait": 30})
        assert removed.status_code == 200, removed.text
        assert [a["attachment_id"] for a in removed.json()["ticket"]["attachments"]] == [kept]
        assert [h["kind"] for h in removed.json()["ticket"]["history"][-3:]] == [
            "attached",
            "attached",
            "detached",
        ]
        assert c.delete(f"{path}/{gone}").status_code == 404
        for bad, field in (
            ({"name": "x", "url": "file:///etc/passwd"}, "url"),
            ({"url": doc["url"]}, "name"),
        ):
            refused = c.post(path, json=bad)
            assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field, refused.text
        assert c.post("/api/v1/tickets/INC0009999/attachments", json=doc).status_code == 404

        # 5. The list: filters, breached, a cursor.
        wait_for(lambda: c.get("/api/v1/tickets").json()["total"] == 2, 30, "the problem ticket")
        mine = c.get(
            "/api/v1/tickets", params={"assignee": "ann", "group": "network", "priority": "P1"}
        ).json()
        assert [t["number"] for t in mine["tickets"]] == [number]
        ours = c.get("/api/v1/tickets", params={"group": "mine"}).json()  # the admin key is in `network`
        assert [t["number"] for t in ours["tickets"]] == [number]
        assert c.get("/api/v1/tickets", params={"group": "!mine"}).json()["total"] == 1
        assert c.get("/api/v1/tickets", params={"breached": "true"}).json()["total"] == 0
        assert (
            c.get("/api/v1/tickets", params={"type": "problem"}).json()["tickets"][0]["number"]
            == "PRB0000001"
        )
        first = c.get("/api/v1/tickets", params={"limit": 1}).json()
        rest = c.get("/api/v1/tickets", params={"limit": 1, "cursor": first["next_cursor"]}).json()
        assert {first["tickets"][0]["number"], rest["tickets"][0]["number"]} == {number, "PRB0000001"}
        assert c.get("/api/v1/tickets", params={"breached": "maybe"}).status_code == 400

        # 5b. A service desk's queue: mine (the caller), due soon, and the counts.
        took = c.post("/api/v1/tickets/PRB0000001/assign", params={"wait": 30}, json={"assignee": ACTOR})
        assert took.status_code == 200, took.text

        def numbers(**params) -> list[str]:
            answer = c.get("/api/v1/tickets", params=params)
            assert answer.status_code == 200, answer.text
            return [t["number"] for t in answer.json()["tickets"]]

        assert numbers(assignee="me") == ["PRB0000001"]
        assert numbers(assignee="!me") == [number]
        # The P1's resolution (4 h round the clock) is running; its response stopped; the P4
        # problem's timers count 40 and 320 business hours.
        assert numbers(due_within="5h") == [number]
        assert numbers(due_within="30m") == []
        for path in ("/api/v1/tickets", "/api/v1/tickets/counts"):
            bad = c.get(path, params={"due_within": "soon"})
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "due_within", bad.text
        counts = c.get("/api/v1/tickets/counts")
        assert counts.status_code == 200, counts.text
        assert counts.json() == {
            "total": 2,
            "by_status": {"in_progress": 1, "new": 1},
            "by_priority": {"P1": 1, "P4": 1},
            "by_type": {"incident": 1, "problem": 1},
            "by_group": {"network": 1, "service-desk": 1},
            "breached": {"true": 0, "false": 2},
        }
        mine = c.get("/api/v1/tickets/counts", params={"assignee": "me"}).json()
        assert (mine["total"], mine["by_type"]) == (1, {"problem": 1})
        soon = c.get("/api/v1/tickets/counts", params={"due_within": "5h", "breached": "false"}).json()
        assert (soon["total"], soon["by_priority"]) == (1, {"P1": 1})
        assert c.get("/api/v1/tickets/counts", params={"limit": 1}).status_code == 400  # no paging

        # 6. From an alert: title, link and urgency come from it.
        event = {"source": "nms", "assetId": "ast_edge1", "severity": "critical", "title": "Edge1 down"}
        assert c.post("/api/v1/events", json=event).status_code == 202
        alert = wait_for(
            lambda: c.get("/api/v1/alerts", params={"asset_id": "ast_edge1"}).json()["alerts"],
            120,
            "the alert",
        )[0]
        from_alert = c.post("/api/v1/tickets", params={"wait": 30}, json={"alert_id": alert["alert_id"]})
        assert from_alert.status_code == 200, from_alert.text
        opened = from_alert.json()["ticket"]
        assert (opened["ticket"]["title"], opened["ticket"]["urgency"]) == ("Edge1 down", 1)
        assert {(x["kind"], x["ref"]) for x in opened["links"]} == {
            ("alert", alert["alert_id"]),
            ("asset", "ast_edge1"),
        }
        by_link = c.get("/api/v1/tickets", params={"link": f"alert:{alert['alert_id']}"}).json()
        assert [t["number"] for t in by_link["tickets"]] == [opened["ticket"]["number"]]
        by_asset = c.get("/api/v1/tickets", params=[("link", "asset:ast_core1"), ("link", "asset:ast_edge1")])
        assert {t["number"] for t in by_asset.json()["tickets"]} == {number, opened["ticket"]["number"]}
        assert c.get("/api/v1/tickets", params={"link": "incident:inc_none"}).json()["total"] == 0
        for bad in ("inc_1", "widget:w1"):
            refused = c.get("/api/v1/tickets", params={"link": bad})
            assert refused.status_code == 400 and "link" in refused.text, refused.text
        missing = c.post("/api/v1/tickets", json={"alert_id": "no-such-alert"})
        assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "alert_id"

    # 7. A command that reached the stage without the API's check (a lost race) is dead-lettered.
    ticket_id = ticket["ticket_id"]
    send(
        pipeline,
        "commands",
        [Command(name="ticket.transition", target=ticket_id, actor="x", args={"to": "new"})],
    )
    letters = wait_for(
        lambda: [d for d in dead_letters(pipeline) if d.stage == "tickets"], 60, "the refused command"
    )
    assert "cannot move from in_progress to new" in letters[0].reason

    # 8. A replay rebuilds the ticket read models row for row.
    pipeline.wait_quiet(60, quiet=1.0)
    target = f"{pipeline.name}_rb"
    done = pipeline.run("replay", "--schema", target)
    assert done.returncode == 0, done.stderr
    for table, key in TABLES.items():
        live = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}")
        rebuilt = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}", schema=target)
        assert live and live == rebuilt, f"{table} differs after replay"


def test_sla_crossings_are_emitted_once_across_a_killed_stage(servers, tmp_path) -> None:
    # A short session timeout: the killed stage's consumer leaves its group sooner.
    # A two-level escalation chain: the 90 % warning moves a ticket from the service desk to l2.
    chain = {"ticket_groups": '{"l2": ["ann"]}', "ticket_escalations": '{"service-desk": "l2"}'}
    pipeline = Pipeline(servers, tmp_path, broker_session_timeout="4", **chain)
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def command(action: str, target: str, minutes: float, **args) -> Command:
        at = t0 + timedelta(minutes=minutes)
        return Command(name=f"ticket.{action}", target=target, actor="ops", args=args, occurred_at=at)

    def history() -> list[dict]:
        return pipeline.query(
            "SELECT version, kind, actor, reason, sla FROM ticket_history WHERE ticket_id = 'tkt_sla' "
            "ORDER BY version"
        )

    try:
        pipeline.start_worker(stages="projections")
        pipeline.start("tickets", "worker", "--stages", "tickets")
        # A P1 incident: response due in 15 minutes round the clock. At +8 min it has crossed 50 %.
        send(pipeline, "commands", [command("create", "tkt_sla", 0, title="P1", urgency=1, impact=1)])
        send(pipeline, "commands", [command("comment", "tkt_sla", 8, text="looking")])
        # The comment at +8 min moves the stage's clock: the sweep emits the 50 % (crossed at +7.5)
        # as a change of its own, before the comment.
        wait_for(lambda: len(history()) == 3, 120, "the first three changes")
        pipeline.kill_supervised_child("tickets")
        later = [
            command("comment", "tkt_sla", 9, text="still looking"),
            command("comment", "tkt_sla", 20, text="late"),
            command("transition", "tkt_sla", 25, to="in_progress"),
        ]
        send(pipeline, "commands", later)
        send(pipeline, "commands", [command("create", "tkt_next", 26, title="next")])
        # The restarted stage rebuilds its state from ems.tickets first: slower on the embedded broker.
        rows = wait_for(lambda: [h for h in [history()] if len(h) == 7], 240, "seven changes")[0]
        assert [(r["kind"], [(e["kind"], e["threshold"]) for e in r["sla"]]) for r in rows] == [
            ("created", []),
            ("sla", [("response", 50)]),
            ("commented", []),
            ("commented", []),  # 50 % was emitted before the kill: not again
            ("sla", [("response", 75), ("response", 90), ("response", 100)]),
            ("commented", []),
            ("transitioned", []),
        ]
        assert rows[4]["sla"][-1]["at"].startswith("2026-03-02T10:15:00")
        assert rows[4]["reason"] == "escalated from service-desk to l2: SLA response 90 %"
        escalated = pipeline.query(
            "SELECT assignment_group, assignee FROM tickets WHERE ticket_id = 'tkt_sla'"
        )
        assert escalated == [{"assignment_group": "l2", "assignee": "ann"}]
        timer = pipeline.query("SELECT * FROM sla_timers WHERE ticket_id = 'tkt_sla' AND kind = 'response'")[
            0
        ]
        assert (timer["state"], timer["emitted"]) == ("stopped", [50, 75, 90, 100])
        assert timer["breached_at"] == t0 + timedelta(minutes=15)
        # The number sequence survived the restart too.
        number = wait_for(
            lambda: pipeline.scalar("SELECT number FROM tickets WHERE ticket_id = 'tkt_next'"),
            60,
            "the next ticket",
        )
        assert number == "INC0000002"
        listed = pipeline.scalar("SELECT count(*) FROM tickets WHERE sla_breached_at IS NOT NULL")
        assert listed == 1

        # No command for either ticket, only the clock (a tick, as the ticker appends when idle) at
        # +2 h 30: the sweep emits what each crossed by then, at the times they were crossed.
        send(pipeline, "commands", [tick(t0 + timedelta(hours=2, minutes=30))])
        rows = wait_for(lambda: [h for h in [history()] if len(h) == 8], 120, "the swept 50 %")[0]
        assert rows[-1]["kind"] == "sla" and rows[-1]["actor"] == "sla-sweep"
        assert [(e["kind"], e["threshold"], e["at"][:19]) for e in rows[-1]["sla"]] == [
            ("resolution", 50, "2026-03-02T12:00:00")
        ]

        def swept() -> list[list[tuple]]:
            rows = pipeline.query(
                "SELECT sla FROM ticket_history WHERE ticket_id = 'tkt_next' AND kind = 'sla' "
                "ORDER BY version"
            )
            return [[(e["kind"], e["threshold"], e["at"][11:19]) for e in r["sla"]] for r in rows]

        assert swept() == []  # a P4 in business hours (09-17): its response reaches 50 % at 14:26
        send(pipeline, "commands", [tick(t0 + timedelta(hours=4, minutes=30))])
        assert wait_for(swept, 120, "the P4's swept 50 %") == [[("response", 50, "14:26:00")]]
        rows = wait_for(lambda: [h for h in [history()] if len(h) == 9], 120, "the P1's breach")[0]
        assert [(e["threshold"], e["at"][11:19]) for e in rows[-1]["sla"]] == [
            (75, "13:00:00"),
            (90, "13:36:00"),
            (100, "14:00:00"),
        ]
    finally:
        pipeline.stop_all()


def test_the_ticker_drives_the_sla_sweep_of_a_quiet_ticket(servers, tmp_path) -> None:
    # The wall clock, once a second: a P1 opened 20 minutes ago (by its event time) with no command
    # since is swept by the ticks alone: its response breached, 15 minutes after it was opened.
    pipeline = Pipeline(servers, tmp_path, tick_interval="1")
    opened = datetime.now(UTC) - timedelta(minutes=20)
    create = Command(
        name="ticket.create",
        target="tkt_quiet",
        actor="ops",
        args={"title": "quiet", "urgency": 1, "impact": 1},
        occurred_at=opened,
    )
    try:
        pipeline.start_worker(stages="projections,tickets")
        send(pipeline, "commands", [create])
        rows = wait_for(
            lambda: pipeline.query(
                "SELECT actor, sla FROM ticket_history WHERE ticket_id = 'tkt_quiet' AND kind = 'sla'"
            ),
            120,
            "the swept crossings",
        )
        assert rows[0]["actor"] == "sla-sweep"
        assert [e["threshold"] for e in rows[0]["sla"]] == [50, 75, 90, 100]
        breached = pipeline.scalar("SELECT sla_breached_at FROM tickets WHERE ticket_id = 'tkt_quiet'")
        assert breached == opened + timedelta(minutes=15)
    finally:
        pipeline.stop_all()


def test_a_burst_of_commands_on_large_tickets_goes_out_in_records_under_the_request_limit(
    pipeline: Pipeline,
) -> None:
    """40 tickets of 12 kB and 400 short comments on them, fetched as one batch (about 0.6 MB of
    commands): every change carries its whole ticket, about 5.5 MB of changes, past the producer's
    4 MiB request limit as one record (the stage then failed on every restart). They go out as several
    records, each cut between commands; every change is projected, nothing dead-lettered."""

    def command(action: str, i: int, **args) -> Command:
        return Command(name=f"ticket.{action}", target=f"tkt_burst{i:02d}", actor="ops", args=args)

    creates = [command("create", i, title=f"burst {i}", description="x" * 12_000) for i in range(40)]
    comments = [command("comment", n % 40, text=f"note {n}") for n in range(400)]
    pipeline.start_worker(stages="projections")
    send(pipeline, "commands", creates + comments)  # all waiting before the stage starts: one fetch
    pipeline.start("tickets", "worker", "--stages", "tickets")
    pipeline.start_api()

    def projected() -> int:
        burst = "FROM tickets WHERE starts_with(ticket_id, 'tkt_burst')"
        rows = pipeline.query(f"SELECT sum(comments) AS n {burst}")
        return rows[0]["n"] or 0

    wait_for(lambda: projected() == 400, 180, "the 400 comments of the burst projected")
    counts = pipeline.query("SELECT comments FROM tickets WHERE starts_with(ticket_id, 'tkt_burst')")
    assert sorted(r["comments"] for r in counts) == [10] * 40
    assert [d for d in dead_letters(pipeline) if d.stage == "tickets"] == []
    with pipeline.client() as c:  # never paused by a record over the limit (it was, then retried)
        instances = c.get("/health").json()["stages"]["tickets"]["instances"]
    assert [i["restarts"] for i in instances] == [0], instances
