"""A maintenance window in drop mode end to end (real Kafka and PostgreSQL): an alert it covers is
decided dropped naming the window, never sent to the webhook, not surfaced when the window ends, and
absent from GET /api/v1/alerts and /alerts/count unless asked (`dropped=true`, `include_dropped=true`),
while its detail still answers with the reason; an alert outside the window is notified as usual; a
replay rebuilds the same rows.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ems.agents.notify_worker import tick
from tests.integration.harness import Pipeline, send, wait_for


class Receiver(ThreadingHTTPServer):
    """A webhook receiver keeping the notification key of every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.keys: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.keys.append(self.headers.get("X-EMS-Notification-Key", ""))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_an_alert_in_a_drop_window_is_hidden_never_notified_and_kept_with_its_reason(
    servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/"
    hook = {"name": "hook", "type": "webhook", "url": url, "secret": "drop-window-test"}
    pipeline = Pipeline(
        servers,
        tmp_path_factory.mktemp("logs"),
        notify_receivers=json.dumps([hook]),
        notify_routes=json.dumps([{"matchers": 'source="nms"', "receivers": ["hook"]}]),
    )
    try:
        pipeline.start_worker(stages="normalize,dedupe,projections,suppressions,notify")
        pipeline.start_api()
        now = datetime.now(UTC)
        end = now + timedelta(minutes=5)
        window = {
            "title": "core swap, alarms expected",
            "scope": {"asset_ids": ["ast_drop1"]},
            "schedule": {"start": (now - timedelta(minutes=1)).isoformat(), "end": end.isoformat()},
            "mode": "drop",
        }
        with pipeline.client() as c:

            def raise_alert(asset: str) -> None:
                event = {"source": "nms", "assetId": asset, "event": "NodeDown", "severity": "critical"}
                assert c.post("/api/v1/events", json=event).status_code == 202

            # An alert outside any window is notified (the notification stage is running).
            raise_alert("ast_keep1")
            kept = wait_for(
                lambda: c.get("/api/v1/alerts", params={"asset_id": "ast_keep1"}).json()["alerts"],
                120,
                "the kept alert",
            )[0]["alert_id"]
            wait_for(lambda: [k for k in receiver.keys if k.startswith(kept)], 60, "the kept alert's webhook")

            created = c.post("/api/v1/maintenance-windows", params={"wait": 30}, json=window)
            assert created.status_code == 200, created.text
            window_id = created.json()["window"]["window_id"]
            raise_alert("ast_drop1")

            # The dropped one: listed only when asked, naming the window.
            def dropped() -> list[dict]:
                return c.get("/api/v1/alerts", params={"dropped": "true"}).json()["alerts"]

            [row] = wait_for(dropped, 60, "the dropped alert")
            alert_id = row["alert_id"]
            assert (row["asset_id"], row["dropped"], row["muted"]) == ("ast_drop1", True, True)
            assert row["muted_by"]["dropped_by"] == [window_id] == row["muted_by"]["windows"]
            listed = c.get("/api/v1/alerts", params={"limit": 1000}).json()
            assert [a["alert_id"] for a in listed["alerts"]] == [kept] and listed["total"] == 1
            both = c.get("/api/v1/alerts", params={"include_dropped": "true"}).json()
            assert sorted(a["alert_id"] for a in both["alerts"]) == sorted([kept, alert_id])
            assert c.get("/api/v1/alerts/count").json()["total"] == 1
            assert c.get("/api/v1/alerts/count", params={"include_dropped": "true"}).json()["total"] == 2
            assert c.get("/api/v1/alerts/count", params={"dropped": "true"}).json()["total"] == 1
            bad = c.get("/api/v1/alerts", params={"include_dropped": "maybe"})
            assert bad.status_code == 400 and "include_dropped" in bad.json()["error"], bad.text

            # Its detail and its notifications still answer, with the reason.
            detail = c.get(f"/api/v1/alerts/{alert_id}").json()
            assert detail["alert"]["dropped"] is True and detail["history"]
            assert [(w["window_id"], w["mode"]) for w in detail["muting"]["suppressed_by"]] == [
                (window_id, "drop")
            ]
            sent = c.get(f"/api/v1/alerts/{alert_id}/notifications").json()
            [decision] = sent["decisions"]
            assert (decision["notify"], decision["dropped_by"], decision["receivers"]) == (
                False,
                [window_id],
                [],
            )
            assert any(r.startswith(f"dropped: {window_id}") for r in decision["reasons"])
            assert sent["attempts"] == []

            # The clock past the window's end surfaces nothing (a suppress window would notify it).
            send(pipeline, "commands", [tick(end + timedelta(seconds=1))])
            pipeline.wait_quiet(60, quiet=1.0)
            assert not [k for k in receiver.keys if k.startswith(alert_id)]
            assert len(c.get(f"/api/v1/alerts/{alert_id}/notifications").json()["decisions"]) == 1
            assert [a["alert_id"] for a in dropped()] == [alert_id]

        # A replay rebuilds the same marks and decisions from the log.
        target = f"{pipeline.name}_rb"
        done = pipeline.run("replay", "--schema", target)
        assert done.returncode == 0, done.stderr
        for select in (
            "SELECT alert_id, muted, dropped, muted_by FROM alerts ORDER BY alert_id",
            "SELECT alert_id, version, notify, dropped_by, reasons FROM notification_decisions ORDER BY 1, 2",
        ):
            live = pipeline.query(select)
            assert live and live == pipeline.query(select, schema=target), select
    finally:
        pipeline.stop_all()
