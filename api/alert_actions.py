"""Operator actions on alerts: `POST /api/v1/alerts/{id}/{action}` -> an `alert.*` command on Kafka.

Actions: ack, unack, shelve, unshelve, assign, close, reopen, note. The body (optional for most)
holds the comment (`comment` or `text`), the operator (`by`, or the `X-EMS-User` header) and the
action's arguments (`timeout` for ack; `until` or `duration` for shelve; `user`/`team` for assign).
The API checks the action against the alert's current read-model status (409 with the reason when
it is not valid), appends the command (202 with its id), and with `?wait=SECONDS` waits until the
lifecycle stage has applied it (200 with the alert). The lifecycle stage checks again against its
authoritative state; a command that lost a race is dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ems.agents.lifecycle import Refused, check_command
from ems.api.idempotency import keyed_write
from ems.api.ingest import BadRequest, field_errors, read_json
from ems.api.params import wait_param
from ems.api.queries import fetch_alert
from ems.api.responses import JSON
from ems.schemas.alert_command import ARGS, BadCommand, parse_args
from ems.schemas.command import Command
from ems.settings import Settings

MAX_WAIT = 30.0


async def _body(request: Request, limit: int) -> dict[str, Any]:
    if request.headers.get("content-length") in (None, "0") and "chunked" not in request.headers.get(
        "transfer-encoding", ""
    ):
        return {}
    payload = await read_json(request, limit)
    if not isinstance(payload, dict):
        raise BadRequest(400, "expected a JSON object")
    return dict(payload)


def routes(settings: Settings) -> list[Route]:
    """The alert action routes, bound to `settings`."""
    commands_topic = settings.topic("commands")

    async def post_action(request: Request) -> Response:
        alert_id, action = request.path_params["alert_id"], request.path_params["action"]
        try:
            if action not in ARGS:
                raise BadRequest(404, f"unknown action {action!r}; expected one of {', '.join(ARGS)}")
            body = await _body(request, settings.max_payload_bytes)
            wait = wait_param(request.query_params, MAX_WAIT)
            actor = request.headers.get("x-ems-user") or body.pop("by", None)
            if not isinstance(actor, str) or not actor.strip():
                raise BadRequest(400, "who is acting? give the X-EMS-User header or `by` in the body")
            reason = body.pop("comment", None) or body.pop("text", None) or ""
            if not isinstance(reason, str):
                raise BadRequest(422, "comment: expected a string")
            if action == "note" and not reason.strip():
                raise BadRequest(422, "note: `text` is required")
            try:
                parse_args(action, body)
            except BadCommand as exc:
                raise BadRequest(422, str(exc)) from None
            async with request.app.state.pool.connection() as conn:
                row = await fetch_alert(conn, alert_id)
            if row is None:
                raise BadRequest(404, f"no alert {alert_id!r}")
            keyed = await keyed_write(request, body, settings.idempotency_ttl)
            if keyed is not None:  # sent again after it was applied: answer as then
                done = await _wait_applied(request, row["alert_id"], keyed.record_id(0), 0)
                if done is not None:
                    answer = {
                        "status": "applied",
                        "command_id": keyed.record_id(0),
                        "alert_id": row["alert_id"],
                    }
                    return JSON({**answer, "alert": done}, status_code=200)
            try:
                check_command(row["status"], action)
            except Refused as exc:
                raise BadRequest(409, str(exc)) from None
            try:
                command = Command(
                    name=f"alert.{action}",
                    target=row["fingerprint"],
                    actor=actor.strip(),
                    reason=reason,
                    args=body,
                    **({"event_id": keyed.record_id(0)} if keyed else {}),
                )
            except ValidationError as exc:
                raise BadRequest(422, "invalid command", field_errors(exc)) from None
        except BadRequest as exc:
            return exc.response()
        await request.app.state.appender.append(commands_topic, [command])
        answer = {"status": "accepted", "command_id": command.event_id, "alert_id": row["alert_id"]}
        if wait:
            alert = await _wait_applied(request, row["alert_id"], command.event_id, wait)
            if alert is not None:
                return JSON({**answer, "status": "applied", "alert": alert}, status_code=200)
        return JSON(answer, status_code=202)

    return [Route("/api/v1/alerts/{alert_id}/{action}", post_action, methods=["POST"])]


async def _wait_applied(request: Request, alert_id: str, command_id: str, wait: float) -> Any:
    """The alert row once the command's history entry is projected, or None after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        async with request.app.state.pool.connection() as conn:
            done = await (
                await conn.execute(
                    "SELECT 1 FROM alert_history WHERE alert_id = %s AND event_id = %s",
                    (alert_id, command_id),
                )
            ).fetchone()
            if done:
                cur = await conn.execute("SELECT * FROM alerts WHERE alert_id = %s", (alert_id,))
                return await cur.fetchone()
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.05)


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI paths of the alert actions."""
    body = {
        "type": "object",
        "properties": {
            "by": {"type": "string", "description": "operator (or the X-EMS-User header)"},
            "comment": {
                "type": "string",
                "description": "why; kept in the alert's history (`text` for note)",
            },
            "timeout": {"type": "integer", "description": "ack: auto-unack after this many seconds"},
            "until": {"type": "string", "format": "date-time", "description": "shelve: until this time"},
            "duration": {"type": "integer", "description": "shelve: for this many seconds"},
            "user": {"type": "string", "description": "assign: to this user ('' unassigns)"},
            "team": {"type": "string", "description": "assign: to this team ('' unassigns)"},
        },
    }
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "/api/v1/alerts/{alert_id}/{action}": {
            "post": {
                "summary": "Operator action on an alert: " + ", ".join(ARGS),
                "parameters": [
                    {"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "action", "in": "path", "required": True, "schema": {"enum": list(ARGS)}},
                    {
                        "name": "wait",
                        "in": "query",
                        "schema": {"type": "number", "maximum": MAX_WAIT},
                        "description": "seconds to wait until the action is applied (200 with the alert)",
                    },
                    {"name": "X-EMS-User", "in": "header", "schema": {"type": "string"}},
                ],
                "requestBody": {"content": {"application/json": {"schema": body}}},
                "responses": {
                    "200": {"description": "applied (with ?wait): the alert"},
                    "202": {"description": "appended to Kafka: command_id"},
                    "400": {"description": "no operator named, bad JSON or wait", **error},
                    "404": {"description": "no such alert or action", **error},
                    "409": {
                        "description": "not valid in the alert's current status (the reason says why)",
                        **error,
                    },
                    "422": {"description": "bad arguments for the action", **error},
                },
            }
        }
    }
