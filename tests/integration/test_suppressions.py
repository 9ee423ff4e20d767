"""Silences and maintenance windows end to end (real Kafka and PostgreSQL): created over the HTTP API,
applied by the suppression stage, projected and read back with their status computed now; a bad
matcher or schedule answered 422 naming the field; expire and cancel; an alert's detail showing the
silence and the window muting it (computed when read), and neither once expired and cancelled; a
command the stage refuses dead-lettered with the reason; a replay rebuilding the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ems.schemas.command import Command
from tests.integration.harness import Pipeline, dead_letters, send, wait_for

ACTOR = "key:pipeline-admin"  # the authenticated principal: the pipeline's admin key
TABLES = {"silences": "silence_id", "maintenance_windows": "window_id", "suppression_history": "id, version"}


def test_silences_and_windows_over_the_api(pipeline: Pipeline) -> None:
    pipeline.start_worker(stages="normalize,dedupe,projections,suppressions")
    pipeline.start_api()
    now = datetime.now(UTC)
    with pipeline.client(timeout=60) as c:
        # 1. A silence active now, and one that starts tomorrow.
        body = {
            "matchers": [
                {"name": "service", "op": "=", "value": "web"},
                {"name": "severity", "op": "=~", "value": "crit.*"},
            ],
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            "comment": "deploying web",
        }
        created = c.post("/api/v1/silences", params={"wait": 30}, json=body)
        assert created.status_code == 200, created.text
        silence = created.json()["silence"]
        assert (silence["status"], silence["created_by"]) == ("active", ACTOR)
        assert silence["matchers"][1] == {"name": "severity", "op": "=~", "value": "crit.*"}
        later = {
            **body,
            "starts_at": (now + timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=2)).isoformat(),
        }
        pending = c.post("/api/v1/silences", params={"wait": 30}, json=later)
        assert pending.status_code == 200 and pending.json()["silence"]["status"] == "pending"

        # An alert the active silence matches shows it, computed when the alert is read.
        event = {"source": "nms", "assetId": "ast_core1", "event": "NodeDown", "severity": "critical"}
        assert c.post("/api/v1/events", json={**event, "service": ["web"]}).status_code == 202
        alert = wait_for(
            lambda: c.get("/api/v1/alerts", params={"asset_id": "ast_core1"}).json()["alerts"],
            120,
            "the alert",
        )[0]

        def muting() -> dict:
            return c.get(f"/api/v1/alerts/{alert['alert_id']}").json()["muting"]

        assert (muting()["muted"], muting()["silenced_by"], muting()["suppressed_by"]) == (
            True,
            [silence["silence_id"]],
            [],
        )

        # 2. Bad rules: 422 naming the field, nothing appended.
        bad_regex = {**body, "matchers": [{"name": "service", "op": "=~", "value": "web("}]}
        refused = c.post("/api/v1/silences", json=bad_regex)
        assert refused.status_code == 422, refused.text
        error = refused.json()["errors"][0]
        assert error["field"] == "matchers.0" and "invalid regular expression" in error["message"]
        unknown = c.post("/api/v1/silences", json={**body, "matchers": [{"name": "colour", "value": "red"}]})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "matchers.0"
        backwards = c.post(
            "/api/v1/silences", json={**body, "ends_at": (now - timedelta(hours=1)).isoformat()}
        )
        assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "ends_at"
        bad_op = c.post(
            "/api/v1/silences", json={**body, "matchers": [{"name": "service", "op": "~", "value": "x"}]}
        )
        assert bad_op.status_code == 422 and bad_op.json()["errors"][0]["field"] == "matchers.0.op"

        # 3. Expire the active one: expired now, a second expiry is a 409.
        sid = silence["silence_id"]
        expired = c.post(
            f"/api/v1/silences/{sid}/expire", params={"wait": 30}, json={"reason": "deploy done"}
        )
        assert expired.status_code == 200, expired.text
        assert expired.json()["silence"]["status"] == "expired"
        assert [(h["kind"], h["actor"]) for h in expired.json()["history"]] == [
            ("created", ACTOR),
            ("expired", ACTOR),
        ]
        assert c.post(f"/api/v1/silences/{sid}/expire").status_code == 409
        assert (muting()["muted"], muting()["silenced_by"]) == (False, [])  # expired: no longer muted
        other = c.post("/api/v1/silences", params={"wait": 30}, json={**body, "tenant": "acme"})
        assert other.status_code == 200 and other.json()["silence"]["status"] == "active"
        assert muting()["silenced_by"] == []  # another tenant's silence: not for this (tenant-less) alert
        assert c.post("/api/v1/silences/sil_nosuch/expire").status_code == 404
        assert c.get("/api/v1/silences/sil_nosuch").status_code == 404
        listed = c.get("/api/v1/silences", params={"status": "pending"}).json()
        assert [s["status"] for s in listed["silences"]] == ["pending"] and listed["total"] == 1
        assert c.get("/api/v1/silences").json()["total"] == 3

        # 4. A one-off window open now, and a weekly one across the Berlin clock change.
        oneoff = {
            "title": "core swap",
            "scope": {
                "asset_ids": ["ast_core1"],
                "matchers": [{"name": "source", "op": "!=", "value": "heartbeat"}],
            },
            "schedule": {
                "start": (now - timedelta(minutes=5)).isoformat(),
                "end": (now + timedelta(hours=1)).isoformat(),
            },
        }
        w1 = c.post("/api/v1/maintenance-windows", params={"wait": 30}, json=oneoff)
        assert w1.status_code == 200, w1.text
        window = w1.json()["window"]
        assert (window["status"], window["mode"], window["created_by"]) == ("active", "suppress", ACTOR)
        suppressed = muting()["suppressed_by"]
        assert [(w["window_id"], w["mode"]) for w in suppressed] == [(window["window_id"], "suppress")]
        weekly = {
            "title": "patch night",
            "scope": {"sites": ["fra1"]},
            "schedule": {
                "frequency": "weekly",
                "weekdays": ["sun"],
                "hours": "02:00-04:00",
                "timezone": "Europe/Berlin",
            },
            "mode": "drop",
        }
        w2 = c.post("/api/v1/maintenance-windows", params={"wait": 30}, json=weekly)
        assert w2.status_code == 200, w2.text
        assert w2.json()["window"]["status"] in ("pending", "active")

        # 5. Bad windows: 422 naming the field.
        def field_of(payload: dict) -> str:
            r = c.post("/api/v1/maintenance-windows", json=payload)
            assert r.status_code == 422, r.text
            return r.json()["errors"][0]["field"]

        assert field_of({**weekly, "scope": {}}) == "scope"
        assert (
            field_of({**weekly, "schedule": {**weekly["schedule"], "timezone": "Mars/Olympus"}})
            == "schedule.timezone"
        )
        assert field_of({**weekly, "schedule": {**weekly["schedule"], "hours": "2-4"}}) == "schedule.hours"
        assert (
            field_of({**oneoff, "scope": {"matchers": [{"name": "x", "value": "y"}]}}) == "scope.matchers.0"
        )

        # 6. Update (PATCH) and cancel.
        wid = window["window_id"]
        patched = c.patch(f"/api/v1/maintenance-windows/{wid}", params={"wait": 30}, json={"mode": "drop"})
        assert patched.status_code == 200, patched.text
        assert (patched.json()["window"]["mode"], patched.json()["window"]["version"]) == ("drop", 2)
        bad_patch = c.patch(f"/api/v1/maintenance-windows/{wid}", json={"scope": {}})
        assert bad_patch.status_code == 422 and bad_patch.json()["errors"][0]["field"] == "scope"
        cancelled = c.post(f"/api/v1/maintenance-windows/{wid}/cancel", params={"wait": 30})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["window"]["status"] == "ended"
        after = muting()
        assert (after["muted"], after["silenced_by"], after["suppressed_by"]) == (False, [], [])
        assert c.post(f"/api/v1/maintenance-windows/{wid}/cancel").status_code == 409
        assert c.patch(f"/api/v1/maintenance-windows/{wid}", json={"title": "x"}).status_code == 409
        assert c.get("/api/v1/maintenance-windows/mw_nosuch").status_code == 404
        ended = c.get("/api/v1/maintenance-windows", params={"status": "ended"}).json()["windows"]
        assert [w["window_id"] for w in ended] == [wid]
        assert c.get("/api/v1/maintenance-windows", params={"status": "over"}).status_code == 400

    # 7. A command that reached the stage without the API's check is dead-lettered with the reason.
    send(pipeline, "commands", [Command(name="window.cancel", target=wid, actor="x")])
    letters = wait_for(
        lambda: [d for d in dead_letters(pipeline) if d.stage == "suppressions"], 60, "the refused command"
    )
    assert "cancelled already" in letters[0].reason

    # 8. A replay rebuilds the rows.
    pipeline.wait_quiet(60, quiet=1.0)
    target = f"{pipeline.name}_rb"
    done = pipeline.run("replay", "--schema", target)
    assert done.returncode == 0, done.stderr
    for table, key in TABLES.items():
        live = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}")
        rebuilt = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}", schema=target)
        assert live and live == rebuilt, f"{table} differs after replay"
