"""The silence and maintenance-window routes: create, list and read (status computed now), expire a
silence, update and cancel a window.

Writes are `silence.*` / `window.*` commands on `ems.commands` with the caller as their actor (202 with
the command and the silence or window id); `?wait=S` answers once the suppression stage applied it and
the projection shows it (200 with the silence or window). Every rule is checked with the noise core
before it is appended: a bad matcher, scope or schedule is a 422 naming the field (`RuleError.field`).
Expiring an expired silence or changing a cancelled window is a 409. Queries in
`ems.api.suppressions_query`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ems.api.errors import ApiError, field_errors
from ems.api.responses import JSON
from ems.api.routing import Call, Endpoint
from ems.api.suppressions_query import list_of, one_of
from ems.api.tenancy import tenant_of, tenant_to_record
from ems.api.waiting import WaitQuery, poll
from ems.noise.errors import RuleError
from ems.schemas.command import Command
from ems.schemas.limits import Text
from ems.schemas.suppression import (
    SilenceArgs,
    SilenceId,
    When,
    WindowArgs,
    WindowId,
    WindowUpdateArgs,
)

Reason = Field("", description="why; kept in the history")


class SilenceCreate(SilenceArgs):
    """A new silence; `starts_at` defaults to now."""

    starts_at: When | None = Field(None, description="default: now")
    reason: Text(4096) = Reason


class WindowCreate(WindowArgs):
    reason: Text(4096) = Reason


class WindowUpdate(WindowUpdateArgs):
    reason: Text(4096) = Reason


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Text(4096) = Reason


class SilenceListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[Literal["pending", "active", "expired"]] = Field(
        default_factory=list, description="repeat for OR"
    )
    limit: int = Field(100, ge=1, le=1000)


class WindowListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[Literal["pending", "active", "ended"]] = Field(
        default_factory=list, description="repeat for OR"
    )
    limit: int = Field(100, ge=1, le=1000)


class SuppressionAnswer(BaseModel):
    """The command: accepted (202), or applied (200 with ?wait, with the silence or window)."""

    status: Literal["accepted", "applied"]
    command_id: str
    id: str
    silence: dict[str, Any] | None = None
    window: dict[str, Any] | None = None


def _checked(build: Any) -> Any:
    """`build()`; a RuleError or ValidationError from it as a 422 naming the field."""
    try:
        return build()
    except RuleError as exc:
        raise ApiError(422, "invalid rule", [{"field": exc.field, "message": exc.reason}]) from None
    except ValidationError as exc:
        raise ApiError(422, "validation failed", field_errors(exc)) from None


async def _submit(call: Call, name: str, target: str, args: dict, reason: str) -> Any:
    cmd = _checked(lambda: Command(name=name, target=target, actor=call.actor, reason=reason, args=args))
    await call.state.appender.append(call.settings.topic("commands"), [cmd])
    answer = {"status": "accepted", "command_id": cmd.event_id, "id": target}
    wait = call.query.wait if call.query is not None else 0.0
    if wait:
        kind = "silence" if name.startswith("silence.") else "window"

        async def look(conn: Any) -> Any:
            q = "SELECT 1 FROM suppression_history WHERE cause = %s"
            if await (await conn.execute(q, (cmd.event_id,))).fetchone() is None:
                return None
            return await one_of(conn, kind, target, tenant_of(call))

        found = await poll(call.state.pool, look, wait)
        if found is not None:
            return JSON({**answer, "status": "applied", **found}, status_code=200)
    return JSON(answer, status_code=202)


async def create_silence(call: Call) -> Any:
    body: SilenceCreate = call.body
    merged = body.model_dump(exclude={"reason"}, exclude_none=True)
    merged.setdefault("starts_at", datetime.now(UTC))
    merged["tenant"] = tenant_to_record(tenant_of(call), body.tenant)  # 403: another tenant's
    silence_id = "sil_" + uuid.uuid4().hex[:20]
    args = _checked(lambda: SilenceArgs.model_validate(merged))
    _checked(lambda: args.rule(silence_id, call.actor))
    dumped = args.model_dump(mode="json", exclude_none=True)
    return await _submit(call, "silence.create", silence_id, dumped, body.reason)


async def _silence(call: Call) -> dict[str, Any]:
    silence_id = call.path["silence_id"]
    async with call.state.pool.connection() as conn:
        found = await one_of(conn, "silence", silence_id, tenant_of(call))
    if found is None:
        raise ApiError(404, f"no silence {silence_id!r} (if it was just created, create it with ?wait=)")
    return found["silence"]


async def expire_silence(call: Call) -> Any:
    row = await _silence(call)
    if row["expired_at"] is not None:
        raise ApiError(
            409, f"silence {row['silence_id']} was expired already at {row['expired_at'].isoformat()}"
        )
    reason = call.body.reason if call.body is not None else ""
    return await _submit(call, "silence.expire", row["silence_id"], {}, reason)


async def silences_list(call: Call) -> Any:
    q: SilenceListQuery = call.query
    async with call.state.pool.connection() as conn:
        return await list_of(conn, "silence", q.status, q.limit, tenant_of(call))


async def silence_detail(call: Call) -> Any:
    await _silence(call)
    async with call.state.pool.connection() as conn:
        return await one_of(conn, "silence", call.path["silence_id"], tenant_of(call))


async def create_window(call: Call) -> Any:
    body: WindowCreate = call.body
    merged = body.model_dump(exclude={"reason"}, exclude_none=True)
    merged["tenant"] = tenant_to_record(tenant_of(call), body.tenant)
    window_id = "mw_" + uuid.uuid4().hex[:20]
    args = _checked(lambda: WindowArgs.model_validate(merged))
    _checked(lambda: args.rule(window_id, call.actor))
    dumped = args.model_dump(mode="json", exclude_none=True)
    return await _submit(call, "window.create", window_id, dumped, body.reason)


async def _window(call: Call, open_only: bool = False) -> dict[str, Any]:
    window_id = call.path["window_id"]
    async with call.state.pool.connection() as conn:
        found = await one_of(conn, "window", window_id, tenant_of(call))
    if found is None:
        raise ApiError(404, f"no window {window_id!r} (if it was just created, create it with ?wait=)")
    row = found["window"]
    if open_only and row["cancelled_at"] is not None:
        raise ApiError(409, f"window {window_id} was cancelled at {row['cancelled_at'].isoformat()}")
    return row


async def update_window(call: Call) -> Any:
    body: WindowUpdate = call.body
    row = await _window(call, open_only=True)
    given = body.model_dump(mode="json", exclude={"reason"}, exclude_none=True)
    if not given:
        raise ApiError(
            422, "validation failed", [{"field": "(body)", "message": "give title, scope, schedule or mode"}]
        )
    current = {k: row[k] for k in ("title", "mode", "scope", "schedule")}
    merged = _checked(lambda: WindowArgs.model_validate({**current, **given}))
    _checked(lambda: merged.rule(row["window_id"], row["created_by"]))
    return await _submit(call, "window.update", row["window_id"], given, body.reason)


async def cancel_window(call: Call) -> Any:
    row = await _window(call, open_only=True)
    reason = call.body.reason if call.body is not None else ""
    return await _submit(call, "window.cancel", row["window_id"], {}, reason)


async def windows_list(call: Call) -> Any:
    q: WindowListQuery = call.query
    async with call.state.pool.connection() as conn:
        return await list_of(conn, "window", q.status, q.limit, tenant_of(call))


async def window_detail(call: Call) -> Any:
    await _window(call)
    async with call.state.pool.connection() as conn:
        return await one_of(conn, "window", call.path["window_id"], tenant_of(call))


WRITE = {"query": WaitQuery, "response": SuppressionAnswer, "status": 202}
SILENCE = {"tags": ("silences",), "path_types": {"silence_id": SilenceId}}
WINDOW = {"tags": ("maintenance windows",), "path_types": {"window_id": WindowId}}
BAD_RULE = "a bad field: an unknown field or operator, an invalid regex, an end not after the start"
ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/silences",
        create_silence,
        permission="write:suppressions",
        summary="Create a silence: mute the alerts its matchers match between starts_at and ends_at",
        description="Appended as a `silence.create` command with the caller as its creator (202 with "
        "the silence id); with `?wait=S` answered once applied (200 with the silence).",
        body=SilenceCreate,
        responses={200: "applied (with ?wait): the silence", 422: BAD_RULE},
        tags=("silences",),
        **WRITE,
    ),
    Endpoint(
        "GET",
        "/api/v1/silences",
        silences_list,
        permission="read:suppressions",
        summary="List silences (newest first) with their status now: pending, active, expired",
        query=SilenceListQuery,
        response=dict[str, Any],
        tags=("silences",),
    ),
    Endpoint(
        "GET",
        "/api/v1/silences/{silence_id}",
        silence_detail,
        permission="read:suppressions",
        summary="One silence with its status now and its history",
        response=dict[str, Any],
        responses={404: "no such silence"},
        **SILENCE,
    ),
    Endpoint(
        "POST",
        "/api/v1/silences/{silence_id}/expire",
        expire_silence,
        permission="write:suppressions",
        summary="Expire a silence now: the alerts it muted are no longer muted by it",
        body=ReasonBody,
        body_required=False,
        responses={200: "applied (with ?wait): the silence", 404: "no such silence", 409: "expired already"},
        **SILENCE,
        **WRITE,
    ),
    Endpoint(
        "POST",
        "/api/v1/maintenance-windows",
        create_window,
        permission="write:suppressions",
        summary="Create a maintenance window: a scope, a one-off or recurring schedule, suppress or drop",
        description="Appended as a `window.create` command with the caller as its creator (202 with "
        "the window id); with `?wait=S` answered once applied (200 with the window).",
        body=WindowCreate,
        responses={200: "applied (with ?wait): the window", 422: BAD_RULE + ", an empty scope, a bad zone"},
        tags=("maintenance windows",),
        **WRITE,
    ),
    Endpoint(
        "GET",
        "/api/v1/maintenance-windows",
        windows_list,
        permission="read:suppressions",
        summary="List maintenance windows (newest first) with their status now: pending, active, ended",
        query=WindowListQuery,
        response=dict[str, Any],
        tags=("maintenance windows",),
    ),
    Endpoint(
        "GET",
        "/api/v1/maintenance-windows/{window_id}",
        window_detail,
        permission="read:suppressions",
        summary="One maintenance window with its status now, its current or next interval and history",
        response=dict[str, Any],
        responses={404: "no such window"},
        **WINDOW,
    ),
    Endpoint(
        "PATCH",
        "/api/v1/maintenance-windows/{window_id}",
        update_window,
        permission="write:suppressions",
        summary="Change a maintenance window's title, scope, schedule or mode (the parts given)",
        body=WindowUpdate,
        responses={
            200: "applied (with ?wait): the window",
            404: "no such window",
            409: "cancelled already",
            422: BAD_RULE,
        },
        **WINDOW,
        **WRITE,
    ),
    Endpoint(
        "POST",
        "/api/v1/maintenance-windows/{window_id}/cancel",
        cancel_window,
        permission="write:suppressions",
        summary="Cancel a maintenance window now: it ends at once and never opens again",
        body=ReasonBody,
        body_required=False,
        responses={200: "applied (with ?wait): the window", 404: "no such window", 409: "cancelled already"},
        **WINDOW,
        **WRITE,
    ),
]
