"""Which silences and maintenance windows mute an alert now: computed when the alert is read, from the
`silences` and `maintenance_windows` read models with the noise core (`ems.noise`), for the alert
detail route.

A silence or window of a tenant applies to that tenant's alerts only; one without a tenant to every
alert. The alert's asset facts the window scopes and matchers read (`asset.tags`,
`asset.business_service`, `asset.site` = the asset's `location`, else its `site` attribute, as the
notification stage and the correlation read it, `asset.type`, `asset.name`) come from the `assets`
table. This is a read-time view; the notification stage's decision, at the change's event time, is
on the alert's row (`muted`, `muted_by`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ems.noise import windows
from ems.noise.matchers import alert_fields
from ems.noise.silences import silencing
from ems.schemas.suppression import SilenceArgs, WindowArgs

SILENCES_SQL = """
SELECT silence_id, matchers, starts_at, ends_at, expired_at, comment, created_by FROM silences
WHERE starts_at <= %(at)s AND ends_at > %(at)s AND (expired_at IS NULL OR expired_at > %(at)s)
  AND (tenant IS NULL OR tenant = %(tenant)s)
"""
WINDOWS_SQL = """
SELECT window_id, title, mode, scope, schedule, created_by, cancelled_at FROM maintenance_windows
WHERE (cancelled_at IS NULL OR cancelled_at > %(at)s) AND (tenant IS NULL OR tenant = %(tenant)s)
"""
ASSET_SQL = """
SELECT tags, business_service, coalesce(nullif(location, ''), attributes->>'site') AS site, type, name
FROM assets WHERE asset_id = %s
"""


async def muting(conn: Any, alert: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """`{at, muted, silenced_by: [silence ids], suppressed_by: [{window_id, title, mode, ends_at}]}`
    for the `alerts` row `alert` at `at` (default now)."""
    at = at or datetime.now(UTC)
    params = {"at": at, "tenant": alert.get("tenant")}
    asset = None
    if alert.get("asset_id"):
        asset = await (await conn.execute(ASSET_SQL, (alert["asset_id"],))).fetchone()
    fields = alert_fields(json.loads(json.dumps(alert, default=str)), asset)
    silences = [
        SilenceArgs.model_validate({k: r[k] for k in ("matchers", "starts_at", "ends_at", "comment")}).rule(
            r["silence_id"], r["created_by"], r["expired_at"]
        )
        for r in await (await conn.execute(SILENCES_SQL, params)).fetchall()
    ]
    rules = [
        WindowArgs.model_validate({k: r[k] for k in ("title", "mode", "scope", "schedule")}).rule(
            r["window_id"], r["created_by"], r["cancelled_at"]
        )
        for r in await (await conn.execute(WINDOWS_SQL, params)).fetchall()
    ]
    silenced = silencing(silences, fields, at)
    suppressed = [
        {"window_id": w.id, "title": w.title, "mode": w.mode, "ends_at": windows.next_end(w, at)}
        for w in windows.covering(rules, fields, at)
    ]
    return {
        "at": at,
        "muted": bool(silenced or suppressed),
        "silenced_by": silenced,
        "suppressed_by": suppressed,
    }
