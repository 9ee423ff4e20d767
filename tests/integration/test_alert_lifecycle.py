"""Operator commands round trip API -> Kafka -> lifecycle agent -> projection -> API, on a driven clock.

The worker runs with no ticker (EMS_TICK_INTERVAL=0): the test appends Tick records itself, so the
timers fire at times the test chooses, and each transition is dated at its timer's due time.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from ems.schemas.alert_command import Tick
from ems.schemas.command import Command
from ems.streams.codecs import encode
from tests.integration.harness import Pipeline, wait_for

ACTOR = "key:pipeline-admin"  # the authenticated principal: the pipeline's admin key


def test_operator_commands_and_timers_round_trip(servers, tmp_path) -> None:
    pipeline = Pipeline(servers, tmp_path, tick_interval="0", alert_timeout="3600")
    try:
        run(pipeline)
    finally:
        pipeline.stop_all()


def run(p: Pipeline) -> None:
    p.start_worker()
    p.start_api()
    with p.client(timeout=60) as c:
        post = {"source": "nms", "assetId": "ast_rtr", "severity": "critical", "title": "NodeDown"}
        assert c.post("/api/v1/events", json=post).status_code == 202
        alert = wait_for(
            lambda: c.get("/api/v1/alerts", params={"asset_id": "ast_rtr"}).json()["alerts"], 120, "the alert"
        )[0]
        aid = alert["alert_id"]

        def act(action: str, body: dict | None = None, status: int = 200) -> dict:
            r = c.post(f"/api/v1/alerts/{aid}/{action}", params={"wait": 20}, json=body)
            assert r.status_code == status, (action, r.status_code, r.text)
            return r.json()

        # 1. ack with a comment: who and why are on the alert and in its history.
        acked = act("ack", {"comment": "looking at it"})["alert"]
        assert (acked["status"], acked["acked_by"]) == ("acknowledged", ACTOR)
        # 2. invalid transitions are refused with the reason, before anything is appended.
        assert "cannot ack an alert that is acknowledged" in act("ack", status=409)["error"]
        assert "cannot unshelve" in act("unshelve", status=409)["error"]
        # 3. assign, shelve for ten minutes.
        assert act("assign", {"user": "bob", "team": "netops"})["alert"]["assignee"] == "bob"
        shelved = act("shelve", {"duration": 600, "comment": "maintenance window"})["alert"]
        assert shelved["status"] == "shelved"
        until = datetime.fromisoformat(shelved["shelved_until"])
        # 4. the clock passes the shelve end: auto-unshelve, dated at the shelve end.
        tick(p, until + timedelta(seconds=1))
        wait_for(lambda: status(c, aid) == "open", 60, "auto-unshelve")
        # 5. an hour with no repeat: expired, dated at last change + timeout.
        tick(p, until + timedelta(seconds=3602))
        wait_for(lambda: status(c, aid) == "expired", 60, "expiry")
        # 6. operator reopens, adds a note, closes; a new event reopens the closed alert.
        assert act("reopen", {"comment": "still broken"})["alert"]["status"] == "open"
        act("note", {"text": "vendor ticket 4711"})
        # The operator is the authenticated principal, never a name in the body.
        r = c.post(f"/api/v1/alerts/{aid}/close", json={"by": "carol"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "by", r.text
        assert act("close")["alert"]["status"] == "closed"
        assert c.post("/api/v1/events", json=post).status_code == 202
        wait_for(lambda: status(c, aid) == "open", 60, "the reopen by a new event")

        history = c.get(f"/api/v1/alerts/{aid}").json()["history"]
        # History is ordered by time; the timers here are dated in the driven clock's future.
        kinds = sorted((h["kind"], h["actor"] or "") for h in history)
        assert kinds == sorted(
            [
                ("opened", ""),
                ("acked", ACTOR),
                ("assigned", ACTOR),
                ("shelved", ACTOR),
                ("auto_unshelved", "system"),
                ("expired", "system"),
                ("reopened", ACTOR),
                ("note", ACTOR),
                ("closed", ACTOR),
                ("reopened", ""),
            ]
        )
        by_kind = {h["kind"]: h for h in history}
        assert by_kind["acked"]["reason"] == "looking at it"
        assert by_kind["note"]["reason"] == "vendor ticket 4711"
        assert datetime.fromisoformat(by_kind["auto_unshelved"]["at"]) == until
        assert (by_kind["expired"]["previous_status"], by_kind["expired"]["status"]) == ("open", "expired")

        # 7. bad requests get precise reasons.
        assert c.post(f"/api/v1/alerts/{aid}/explode").status_code == 404
        with httpx.Client(base_url=p.api, timeout=30) as anonymous:  # nobody authenticated
            r = anonymous.post(f"/api/v1/alerts/{aid}/ack")
            assert r.status_code == 401 and r.json()["error"] == "authentication required", r.text
        r = c.post(f"/api/v1/alerts/{aid}/shelve", json={})
        assert r.status_code == 422 and "exactly one of `until`" in r.json()["error"]
        assert c.post("/api/v1/alerts/alr_nope/ack").status_code == 404
        assert c.post(f"/api/v1/alerts/{aid}/ack", params={"wait": "x"}).status_code == 400

    # 8. a command that passes the API's check but loses a race is dead-lettered with the reason.
    fingerprint = p.scalar("SELECT fingerprint FROM alerts WHERE alert_id = %s", (aid,))
    late = Command(name="alert.unack", target=fingerprint, actor="dave")
    produce(p, p.settings.topic("commands"), encode(late), key=fingerprint.encode())
    letters = wait_for(
        lambda: [d for d in p.dead_letters(1) or [] if d["stage"] == "dedupe"], 60, "the refusal"
    )
    assert "refused alert.unack: cannot unack an alert that is open" in letters[0]["reason"]
    assert orjson.loads(base64.b64decode(letters[0]["payload_b64"]))["command"]["actor"] == "dave"

    # 9. a replay of the log rebuilds the alert and its whole history (commands and timers included).
    target = p.name + "_replay"
    done = p.run("replay", "--schema", target)
    assert done.returncode == 0, done.stderr
    for table, key in (("alerts", "alert_id"), ("alert_history", "alert_id, event_id, kind")):
        live = p.query(f"SELECT * FROM {table} ORDER BY {key}")
        assert live and p.query(f"SELECT * FROM {table} ORDER BY {key}", schema=target) == live


def status(c: httpx.Client, aid: str) -> str:
    return c.get(f"/api/v1/alerts/{aid}").json()["alert"]["status"]


def tick(p: Pipeline, now: datetime) -> None:
    """Append the clock at `now` to every events partition (what the ticker does with the wall clock)."""
    for part in range(int(p.env["EMS_PARTITIONS"])):
        produce(
            p,
            p.settings.topic("events"),
            encode(Tick(partition=part, occurred_at=now.astimezone(UTC))),
            partition=part,
        )


def produce(p: Pipeline, topic: str, value: bytes, **kwargs) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=p.settings.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value=value, **kwargs)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_the_ticker_expires_a_quiet_alert_on_the_wall_clock(servers, tmp_path) -> None:
    pipeline = Pipeline(servers, tmp_path, tick_interval="0.5")
    try:
        pipeline.start_worker()
        pipeline.start_api()
        quiet = {
            "source": "synthetic",
            "asset_id": "ast_quiet",
            "body": {"kind": "event", "event": "HighLatency", "severity": "warning", "timeout": 3},
        }
        with pipeline.client() as c:
            assert c.post("/api/v1/events", json=quiet).status_code == 202
            alert = wait_for(
                lambda: c.get("/api/v1/alerts", params={"asset_id": "ast_quiet"}).json()["alerts"],
                60,
                "the alert",
            )[0]
            assert alert["timeout"] == 3
            wait_for(lambda: status(c, alert["alert_id"]) == "expired", 60, "expiry by the ticker")
            history = c.get(f"/api/v1/alerts/{alert['alert_id']}").json()["history"]
        expired = history[-1]
        assert (expired["kind"], expired["actor"], expired["reason"]) == (
            "expired",
            "system",
            "no repeat within 3 s",
        )
        first_seen = datetime.fromisoformat(alert["first_seen"])
        assert datetime.fromisoformat(expired["at"]) == first_seen + timedelta(seconds=3)
    finally:
        pipeline.stop_all()
