"""Heartbeats end to end (real Kafka and PostgreSQL), one pipeline: bad beats answered 422 naming the
field; a native beat, an Alerta beat and the worker's own beat listed ok; the clock moved past the
native one's timeout (a `heartbeat.tick`, event time) expires it and raises `HeartbeatMissing`; its
next beat lists it ok and clears the alert; a replay rebuilds the same rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ems.agents.heartbeats_worker import tick
from ems.streams.liveness import worker_origin
from tests.integration.harness import Pipeline, send, wait_for

ORIGIN = "cron/backup@web01"


def test_heartbeat_listed_expired_alerted_and_cleared(servers, tmp_path) -> None:
    # The worker's own heartbeat on (every 60 s: due in 180 s, past the tick below).
    pipeline = Pipeline(servers, tmp_path, liveness_interval="60")
    try:
        run(pipeline)
    finally:
        pipeline.stop_all()


def run(pipeline: Pipeline) -> None:
    stages = "normalize,dedupe,projections,heartbeats"
    pipeline.start_worker(stages=stages)
    pipeline.start_api()
    worker = worker_origin(stages.split(","))
    with pipeline.client(timeout=60) as c:
        # Bad input: 422 naming the field, nothing appended.
        for body, field in (({"timeout": 60}, "origin"), ({"origin": ORIGIN, "timeout": -5}, "timeout")):
            r = c.post("/api/v1/heartbeats", json=body)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text

        def listed(status: str | None = None) -> dict[str, dict]:
            params = {"status": status} if status else {}
            return {h["origin"]: h for h in c.get("/api/v1/heartbeats", params=params).json()["heartbeats"]}

        def missing_alert() -> dict | None:
            alerts = c.get("/api/v1/alerts", params={"event": "HeartbeatMissing", "resource": ORIGIN}).json()
            return alerts["alerts"][0] if alerts["alerts"] else None

        # A native beat and an Alerta beat feed the same model.
        beat = {"origin": ORIGIN, "timeout": 60, "tags": ["dc1"], "attributes": {"environment": "staging"}}
        sent = c.post("/api/v1/heartbeats", json=beat)
        assert sent.status_code == 202 and sent.json()["heartbeat_id"].startswith("hb_"), sent.text
        alerta = c.post("/api/heartbeat", json={"origin": "alerta/cron", "timeout": 600, "tags": ["x"]})
        assert alerta.status_code == 201, alerta.text
        both = wait_for(lambda: len(h := listed()) == 3 and h, 60, "the heartbeats listed")
        assert set(both) == {ORIGIN, "alerta/cron", worker} and both[worker]["tags"] == ["self-monitoring"]
        hb = both[ORIGIN]
        assert (hb["status"], hb["timeout"], hb["tags"], hb["beats"], hb["expired_at"]) == (
            "ok",
            60,
            ["dc1"],
            1,
            None,
        )
        assert hb["heartbeat_id"] == sent.json()["heartbeat_id"] and 0 <= hb["latency_ms"] < 2000
        assert hb["received_at"] and both["alerta/cron"]["status"] == "ok"
        assert missing_alert() is None

        # The clock (event time) passes the native beat's timeout: expired, alert raised at the due time.
        received = datetime.fromisoformat(hb["received_at"])
        send(pipeline, "commands", [tick(received + timedelta(seconds=90))])
        expired = wait_for(lambda: listed("expired").get(ORIGIN), 60, "the heartbeat expired")
        assert expired["expired_at"] == expired["due_at"] and list(listed("expired")) == [ORIGIN]
        alert = wait_for(missing_alert, 60, "the HeartbeatMissing alert")
        assert (alert["severity"], alert["status"], alert["environment"]) == ("major", "open", "staging")

        # The beat returns: listed ok again, the alert cleared.
        assert c.post("/api/v1/heartbeats", json=beat).status_code == 202
        back = wait_for(
            lambda: (h := listed("ok").get(ORIGIN)) and h["beats"] == 2 and h, 60, "the beat back"
        )
        assert back["expired_at"] is None
        cleared = wait_for(
            lambda: (a := missing_alert()) and a["status"] == "resolved" and a, 60, "the clear"
        )
        assert cleared["alert_id"] == alert["alert_id"] and cleared["severity"] == "ok"

    # A replay rebuilds the rows.
    pipeline.wait_quiet(60, quiet=1.0)
    target = f"{pipeline.name}_rb"
    done = pipeline.run("replay", "--schema", target)
    assert done.returncode == 0, done.stderr
    live = pipeline.query("SELECT * FROM heartbeats ORDER BY heartbeat_id")
    assert live and live == pipeline.query("SELECT * FROM heartbeats ORDER BY heartbeat_id", schema=target)
