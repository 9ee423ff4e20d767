"""Operator actions on alerts: `POST /api/v1/alerts/{id}/{action}` -> an `alert.*` command on Kafka.

Actions: ack, unack, shelve, unshelve, assign, close, reopen, note. The body (optional for most)
holds the comment (`comment` or `text`) and the action's arguments (`timeout` for ack; `until` or
`duration` for shelve; `user`/`team` for assign). The operator is the authenticated principal.
The API checks the action against the alert's current read-model status (409 with the reason when
it is not valid), appends the command (202 with its id), and with `?wait=SECONDS` waits until the
lifecycle stage has applied it (200 with the alert). The lifecycle stage checks again against its
authoritative state; a command that lost a race is dead-lettered with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ems.agents.lifecycle import Refused, check_command
from ems.api.errors import ApiError, field_errors
from ems.api.idempotency import keyed_write
from ems.api.queries import fetch_alert
from ems.api.responses import JSON
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import tenant_of
from ems.api.waiting import WaitQuery, poll
from ems.schemas.alert_command import ARGS, BadCommand, parse_args
from ems.schemas.command import Command
from ems.schemas.limits import Text

MAX_WAIT = 30.0


MAX_WAIT = 30.0
Action = Literal["ack", "unack", "shelve", "unshelve", "assign", "close", "reopen", "note"]


class ActionBody(BaseModel):
    """An operator action's comment and arguments (the operator is the authenticated principal)."""

    model_config = ConfigDict(extra="forbid")

    comment: Text(4096) | None = Field(None, description="why; kept in the alert's history")
    text: Text(4096) | None = Field(None, description="the note's text (note); same as comment")
    timeout: int | None = Field(None, description="ack: auto-unack after this many seconds")
    until: datetime | None = Field(None, description="shelve: until this time")
    duration: int | None = Field(None, description="shelve: for this many seconds")
    user: Text(256) | None = Field(None, description="assign: to this user ('' unassigns)")
    team: Text(256) | None = Field(None, description="assign: to this team ('' unassigns)")


class ActionWait(WaitQuery):
    wait: float = Field(0.0, ge=0, le=MAX_WAIT, description="seconds to wait until the action is applied")


class ActionAnswer(BaseModel):
    """The action's command: accepted (202), or applied (200, with the alert)."""

    status: Literal["accepted", "applied"]
    command_id: str
    alert_id: str
    alert: dict[str, Any] | None = None


async def post_action(call: Call) -> Any:
    alert_id, action = call.path["alert_id"], call.path["action"]
    if action not in ARGS:
        raise ApiError(404, f"unknown action {action!r}; expected one of {', '.join(ARGS)}")
    given = call.raw_body if isinstance(call.raw_body, dict) else {}
    # A null argument is one not given (the document shows every field as nullable for every action).
    args = {k: v for k, v in given.items() if k not in ("comment", "text") and v is not None}
    reason = (call.body.comment or call.body.text or "") if call.body else ""
    if action == "note" and not reason.strip():
        raise ApiError(422, "note: `text` is required")
    try:
        parse_args(action, args)
    except BadCommand as exc:
        raise ApiError(422, str(exc)) from None
    async with call.state.pool.connection() as conn:
        row = await fetch_alert(conn, alert_id, tenant=tenant_of(call))
    if row is None:  # also an alert of another tenant: its existence is not revealed
        raise ApiError(404, f"no alert {alert_id!r}")
    keyed = await keyed_write(call.request, given, call.settings.idempotency_ttl)
    if keyed is not None:  # sent again after it was applied: answer as then
        done = await _applied(call, row["alert_id"], keyed.record_id(0), 0)
        if done is not None:
            answer = {"status": "applied", "command_id": keyed.record_id(0), "alert_id": row["alert_id"]}
            return JSON({**answer, "alert": done}, status_code=200)
    try:
        check_command(row["status"], action)
    except Refused as exc:
        raise ApiError(409, str(exc)) from None
    try:
        command = Command(
            name=f"alert.{action}",
            target=row["fingerprint"],
            actor=call.actor,
            reason=reason,
            args=args,
            **({"event_id": keyed.record_id(0)} if keyed else {}),
        )
    except ValidationError as exc:
        raise ApiError(422, "invalid command", field_errors(exc)) from None
    await call.state.appender.append(call.settings.topic("commands"), [command])
    answer = {"status": "accepted", "command_id": command.event_id, "alert_id": row["alert_id"]}
    wait = call.query.wait if call.query else 0.0
    if wait:
        alert = await _applied(call, row["alert_id"], command.event_id, wait)
        if alert is not None:
            return JSON({**answer, "status": "applied", "alert": alert}, status_code=200)
    return JSON(answer, status_code=202)


async def _applied(call: Call, alert_id: str, command_id: str, wait: float) -> Any:
    """The alert row once the command's history entry is projected, or None after `wait` seconds."""

    async def done(conn: Any) -> Any:
        seen = await (
            await conn.execute(
                "SELECT 1 FROM alert_history WHERE alert_id = %s AND event_id = %s", (alert_id, command_id)
            )
        ).fetchone()
        if seen:
            return await (
                await conn.execute("SELECT * FROM alerts WHERE alert_id = %s", (alert_id,))
            ).fetchone()
        return None

    return await poll(call.state.pool, done, wait)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/alerts/{alert_id}/{action}",
        post_action,
        permission="write:alerts",
        summary="Operator action on an alert: " + ", ".join(ARGS),
        description="Checked against the alert's current status (409 with the reason when not valid), "
        "appended as an `alert.<action>` command with the caller as its actor (202 with its id); with "
        "`?wait=S` answered once applied (200 with the alert). `Idempotency-Key` makes a retry apply once.",
        query=ActionWait,
        body=ActionBody,
        body_required=False,
        response=ActionAnswer,
        status=202,
        responses={
            200: "applied (with ?wait): the alert",
            404: "no such alert or action",
            409: "not valid in the alert's current status",
        },
        tags=("alerts",),
        idempotent=True,
        path_types={"action": Action},
    )
]
