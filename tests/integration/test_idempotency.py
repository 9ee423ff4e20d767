"""Writes sent again are applied once: Idempotency-Key, a record's own id, the tools' natural ids.

Each case sends the same write twice (what a client does after a timeout or a 503) and checks the
read models count it once, and that the second answer is the first one's.
"""

from __future__ import annotations

from tests.integration.harness import Pipeline, wait_for

EVENT = {
    "source": "nms",
    "severity": "major",
    "event": "Link Flap",
    "asset_id": "ast_sw_9",
    "resource": "ge-0/0/1",
}


def test_writes_sent_again_apply_once(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    pipeline.start_api()
    with pipeline.client() as c:
        # 1. An event batch with a key: the same ids both times, counted once.
        key = {"Idempotency-Key": "batch-1"}
        first = c.post("/api/v1/events", json=[EVENT, {**EVENT, "severity": "critical"}], headers=key)
        again = c.post("/api/v1/events", json=[EVENT, {**EVENT, "severity": "critical"}], headers=key)
        assert first.status_code == again.status_code == 202
        assert first.json()["ids"] == again.json()["ids"]
        # 2. The same key with another body is refused rather than meaning two things.
        other = c.post("/api/v1/events", json=[EVENT], headers=key)
        assert other.status_code == 422 and "different request body" in other.json()["error"]
        # 3. A native event naming its own id, sent twice.
        own = {**EVENT, "event_id": "nms-4711"}
        assert [c.post("/api/v1/events", json=own).json()["id"] for _ in range(2)] == ["nms-4711"] * 2
        # 4. Alertmanager sending the same notification twice.
        notification = {
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "DiskFull", "instance": "db1", "severity": "critical"},
                    "startsAt": "2026-11-30T10:00:00Z",
                    "fingerprint": "0123abcd",
                }
            ],
        }
        ids = [c.post("/api/v1/integrations/alertmanager", json=notification).json()["ids"] for _ in range(2)]
        assert ids[0] == ids[1]

        def counted(asset: str | None, event: str) -> int:
            params = {"event": event, **({"asset_id": asset} if asset else {})}
            alerts = c.get("/api/v1/alerts", params=params).json()["alerts"]
            return sum(a["event_count"] for a in alerts)

        wait_for(lambda: counted("ast_sw_9", "Link Flap") == 3, 120, "the keyed batch and the own-id event")
        wait_for(lambda: counted(None, "DiskFull") == 1, 60, "the Alertmanager alert")
        pipeline.wait_quiet()
        assert counted("ast_sw_9", "Link Flap") == 3 and counted(None, "DiskFull") == 1
        assert pipeline.scalar("SELECT count(*) FROM events WHERE asset_id = 'ast_sw_9'") == 3

        # 5. An operator action sent again after it was applied answers as the first did.
        alert = c.get("/api/v1/alerts", params={"asset_id": "ast_sw_9"}).json()["alerts"][0]
        ack = {"Idempotency-Key": "ack-1"}
        r1 = c.post(f"/api/v1/alerts/{alert['alert_id']}/ack?wait=30", json={"comment": "on it"}, headers=ack)
        r2 = c.post(f"/api/v1/alerts/{alert['alert_id']}/ack", json={"comment": "on it"}, headers=ack)
        assert r1.status_code == r2.status_code == 200, (r1.text, r2.text)
        assert r1.json()["command_id"] == r2.json()["command_id"] and r2.json()["status"] == "applied"
        history = c.get(f"/api/v1/alerts/{alert['alert_id']}").json()["history"]
        assert [(h["kind"], h["actor"]) for h in history if h["kind"] == "acked"] == [
            ("acked", "key:pipeline-admin")
        ]

        # 6. An asset created with a generated id: sent again, the same asset, created once.
        create = {"name": "edge router", "type": "router"}
        a1 = c.post("/api/v1/assets?wait=30", json=create, headers={"Idempotency-Key": "asset-1"})
        a2 = c.post("/api/v1/assets?wait=30", json=create, headers={"Idempotency-Key": "asset-1"})
        assert a1.status_code == a2.status_code == 200, (a1.text, a2.text)
        assert a1.json()["asset_id"] == a2.json()["asset_id"]
        assert pipeline.scalar("SELECT count(*) FROM assets WHERE name = 'edge router'") == 1

        # 7. Health: the pipeline's stages report through their heartbeats.
        assert c.get("/health/live").json() == {"status": "ok", "problems": []}
        health = wait_for(lambda: (r := c.get("/health")).status_code == 200 and r.json(), 30, "health")
        assert {"normalize", "dedupe", "projection:alerts", "assets"} <= set(health["stages"])
