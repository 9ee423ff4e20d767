"""`GET /api/v1/alerts/{id}/notifications`: an alert's notification decisions and delivery attempts,
from the `notification_decisions` and `notification_attempts` read models (projections/notifications.py),
with the steps of the escalations its notified firing changes started (under `<alert id>:esc<version>`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ems.api.errors import ApiError
from ems.api.queries import fetch_alert
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import tenant_of
from ems.notify.escalation import escalation_id

DECISIONS_SQL = (
    "SELECT alert_id, version, kind, at, notify, suppressed_by, silenced_by, inhibited_by, flapping, reasons,"
    " receivers, surfaced, dropped_by FROM notification_decisions WHERE alert_id = ANY(%s)"
    " ORDER BY alert_id, version, surfaced"
)
ATTEMPTS_SQL = (
    "SELECT key, attempt, receiver, outcome, reason, at FROM notification_attempts"
    " WHERE alert_id = ANY(%s) ORDER BY at, key, attempt LIMIT 1000"
)


class AlertNotifications(BaseModel):
    alert_id: str
    decisions: list[dict[str, Any]] = Field(
        description="per alert change that calls for a notification, by version: notified or muted "
        "(suppressed_by windows, dropped_by those in drop mode, silenced_by silences, inhibited_by, "
        "flapping, reasons) and the receivers; "
        "then the escalation steps (alert_id `<alert id>:esc<version>`, version = the step's number); "
        "a muted alert notified when its window, silence or flapping ended has a second decision of its "
        "version naming what ended in `surfaced` (else '')"
    )
    attempts: list[dict[str, Any]] = Field(
        description="every attempt (oldest first, at most 1,000): queued (attempt 0), delivered, retried "
        "or failed with the reason, per idempotency key"
    )


async def alert_notifications(call: Call) -> Any:
    alert_id = call.path["alert_id"]
    async with call.state.pool.connection() as conn:
        alert = await fetch_alert(conn, alert_id, tenant=tenant_of(call))
        if alert is None:  # also an alert of another tenant: its existence is not revealed
            raise ApiError(404, f"no alert {alert_id!r}")
        found = alert["alert_id"]
        decisions = await (await conn.execute(DECISIONS_SQL, ([found],))).fetchall()
        steps = [
            escalation_id(found, d["version"]) for d in decisions if d["kind"] == "firing" and d["notify"]
        ]
        if steps:  # the escalations the notified firing changes may have started
            decisions += await (await conn.execute(DECISIONS_SQL, (steps,))).fetchall()
        attempts = await (await conn.execute(ATTEMPTS_SQL, ([found, *steps],))).fetchall()
    return {"alert_id": found, "decisions": decisions, "attempts": attempts}


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/alerts/{alert_id}/notifications",
        alert_notifications,
        permission="read:alerts",
        summary="An alert's notifications: each decision (notified or muted, and by what) and every attempt",
        response=AlertNotifications,
        responses={404: "no such alert"},
        tags=("alerts",),
    ),
]
