"""A scheduled change's window as a maintenance window, end to end (real Kafka and PostgreSQL): a change
with a window over an asset and a service, scheduled over the HTTP API, makes the ticket stage append
one `window.create` that the suppression stage applies; the window is listed active with the change's
scope and mutes the asset's alert. The ticket stage killed with -9 and restarted makes no second
window; closing the change before the window ends cancels it, and the alert is no longer muted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.harness import Pipeline, dead_letters, wait_for

ACTOR = "key:pipeline-admin"


def test_a_scheduled_change_mutes_its_assets_alerts_until_it_is_closed(servers, tmp_path) -> None:
    pipeline = Pipeline(servers, tmp_path, broker_session_timeout="4")  # the killed stage leaves sooner
    now = datetime.now(UTC)
    try:
        pipeline.start_worker(stages="normalize,dedupe,projections,suppressions")
        pipeline.start("tickets", "worker", "--stages", "tickets")
        pipeline.start_api()
        with pipeline.client(timeout=90) as c:
            window = {
                "start": (now - timedelta(minutes=1)).isoformat(),
                "end": (now + timedelta(hours=2)).isoformat(),
            }
            body = {
                "type": "change",
                "title": "Patch db1",
                "services": ["billing"],
                "links": [{"kind": "asset", "ref": "ast_chg1"}],
                "change_window": window,
            }
            created = c.post("/api/v1/tickets", params={"wait": 60}, json=body)
            assert created.status_code == 200, created.text
            number = created.json()["number"]
            assert number.startswith("CHG")

            def move(to: str) -> dict:
                """Moved, as GET shows it (a restarted stage rebuilds first: longer than one ?wait)."""
                moved = c.post(f"/api/v1/tickets/{number}/transition", params={"wait": 30}, json={"to": to})
                assert moved.status_code in (200, 202), moved.text
                return wait_for(
                    lambda: [
                        d for d in [c.get(f"/api/v1/tickets/{number}").json()] if d["ticket"]["status"] == to
                    ],
                    180,
                    f"the change {to}",
                )[0]

            move("assessment")
            late = {"start": window["start"], "end": (now + timedelta(hours=3)).isoformat()}
            reset = c.post(f"/api/v1/tickets/{number}/change-window", params={"wait": 60}, json=late)
            assert reset.status_code == 200, reset.text
            move("approved")
            refused = c.post(f"/api/v1/tickets/{number}/change-window", json=window)
            assert refused.status_code == 409 and "draft or assessment" in refused.text, refused.text
            scheduled = move("scheduled")
            window_id = scheduled["ticket"]["change_window"]["window_id"]
            assert window_id.startswith("mw_chg_")
            assert window_id in scheduled["history"][-1]["reason"]

            # The suppression stage applies the window the ticket stage appended: active, the change's scope.
            def listed() -> list[dict]:
                return c.get("/api/v1/maintenance-windows").json()["windows"]

            [shown] = wait_for(listed, 60, "the change's maintenance window")
            assert (shown["window_id"], shown["status"], shown["created_by"]) == (window_id, "active", ACTOR)
            scope = {k: v for k, v in shown["scope"].items() if v}
            assert scope == {"asset_ids": ["ast_chg1"]}  # its assets (its services when it links none)
            assert shown["title"] == f"{number}: Patch db1"

            # An alert of the asset is muted by it (computed when the alert is read).
            event = {"source": "nms", "assetId": "ast_chg1", "event": "DiskFull", "severity": "major"}
            assert c.post("/api/v1/events", json=event).status_code == 202
            alert = wait_for(
                lambda: c.get("/api/v1/alerts", params={"asset_id": "ast_chg1"}).json()["alerts"],
                120,
                "the alert",
            )[0]

            def muted_by() -> list[str]:
                return [
                    w["window_id"]
                    for w in c.get(f"/api/v1/alerts/{alert['alert_id']}").json()["muting"]["suppressed_by"]
                ]

            assert muted_by() == [window_id]

            # The ticket stage killed and restarted (it rebuilds from ems.tickets): no second window.
            pipeline.kill_supervised_child("tickets")
            move("implementing")
            move("review")
            assert [w["window_id"] for w in listed()] == [window_id]

            # Closed before the window ends: the window is cancelled, the alert no longer muted.
            closed = move("closed")
            assert closed["ticket"]["change_window"]["cancelled_at"] is not None
            ended = wait_for(
                lambda: [w for w in listed() if w["status"] == "ended"], 60, "the cancelled window"
            )
            assert [(w["window_id"], w["cancelled_at"] is not None) for w in ended] == [(window_id, True)]
            assert muted_by() == []
        assert pipeline.scalar("SELECT count(*) FROM maintenance_windows") == 1
        assert [d.reason for d in dead_letters(pipeline)] == []
    finally:
        pipeline.stop_all()
