"""The synthetic check routes: create, list, read and delete HTTP(S) checks (docs/synthetic.md).

Writes are `check.create` / `check.delete` commands on `ems.commands` with the caller as their actor
(202 with the command and the check id); `?wait=S` answers once the projection shows it (200 with the
check). A bad definition (URL scheme, timeout, regex, status codes) is a 422 naming the field, before
anything is appended. Reads come from the `synthetic_checks` read model (deleted checks are left out).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from ems.api.errors import ApiError
from ems.api.responses import JSON
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import tenant_of, tenant_to_record, visible
from ems.api.waiting import WaitQuery, poll
from ems.collectors.synthetic_checks import CheckSpec
from ems.schemas.command import Command
from ems.schemas.observation import Tenant

CheckId = str
COLUMNS = "check_id, name, tenant, spec, created_by, created_at, deleted_at, deleted_by, version"


class CheckCreate(CheckSpec):
    """A new check: its definition, and the tenant it belongs to (default: the caller's)."""

    tenant: Tenant | None = Field(None, description="default: the caller's")


class CheckListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(100, ge=1, le=1000)


class CheckAnswer(BaseModel):
    """The command: accepted (202), or applied (200 with ?wait, with the check)."""

    status: Literal["accepted", "applied"]
    command_id: str
    id: str
    check: dict[str, Any] | None = None


async def _one(conn: Any, check_id: str, tenant: str | None, deleted: bool = False) -> dict | None:
    cond, args = visible(tenant)
    q = sql.SQL("SELECT {} FROM synthetic_checks WHERE check_id = %s AND {}").format(sql.SQL(COLUMNS), cond)
    if not deleted:
        q += sql.SQL(" AND deleted_at IS NULL")
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(q, [check_id, *args])).fetchone()


async def _submit(call: Call, name: str, check_id: str, args: dict) -> Any:
    cmd = Command(name=name, target=check_id, actor=call.actor, args=args)
    await call.state.appender.append(call.settings.topic("commands"), [cmd])
    answer = {"status": "accepted", "command_id": cmd.event_id, "id": check_id}
    wait = call.query.wait if call.query is not None else 0.0
    if wait:
        version = 1 if name == "check.create" else 2

        async def look(conn: Any) -> Any:
            row = await _one(conn, check_id, tenant_of(call), deleted=True)
            return row if row is not None and row["version"] >= version else None

        found = await poll(call.state.pool, look, wait)
        if found is not None:
            return JSON({**answer, "status": "applied", "check": found}, status_code=200)
    return JSON(answer, status_code=202)


async def create_check(call: Call) -> Any:
    body: CheckCreate = call.body
    tenant = tenant_to_record(tenant_of(call), body.tenant)  # 403: another tenant's
    spec = CheckSpec.model_validate(body.model_dump(exclude={"tenant"})).model_dump(mode="json")
    check_id = "chk_" + uuid.uuid4().hex[:20]
    return await _submit(call, "check.create", check_id, {"spec": spec, "tenant": tenant})


async def _check(call: Call) -> dict[str, Any]:
    check_id = call.path["check_id"]
    async with call.state.pool.connection() as conn:
        row = await _one(conn, check_id, tenant_of(call))
    if row is None:
        raise ApiError(404, f"no check {check_id!r} (if it was just created, create it with ?wait=)")
    return row


async def checks_list(call: Call) -> Any:
    q: CheckListQuery = call.query
    cond, args = visible(tenant_of(call))
    query = sql.SQL(
        "SELECT {} FROM synthetic_checks WHERE deleted_at IS NULL AND {} ORDER BY created_at DESC LIMIT %s"
    ).format(sql.SQL(COLUMNS), cond)
    async with call.state.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        rows = await (await cur.execute(query, [*args, q.limit])).fetchall()
    return {"checks": rows}


async def check_detail(call: Call) -> Any:
    return {"check": await _check(call)}


async def delete_check(call: Call) -> Any:
    row = await _check(call)
    args = {
        "spec": row["spec"],
        "tenant": row["tenant"],
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat(),
    }
    return await _submit(call, "check.delete", row["check_id"], args)


WRITE = {"query": WaitQuery, "response": CheckAnswer, "status": 202, "tags": ("synthetic checks",)}
ONE = {"tags": ("synthetic checks",), "path_types": {"check_id": CheckId}}
ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/checks",
        create_check,
        permission="write:checks",
        summary="Create a synthetic HTTP(S) check: method, URL, headers, expected status, body text or "
        "regex, timeout, interval, certificate warning days",
        description="Appended as a `check.create` command (202 with the check id); with `?wait=S` "
        "answered once applied (200 with the check). `ems collector synthetic` runs it.",
        body=CheckCreate,
        responses={
            200: "applied (with ?wait): the check",
            422: "a bad field: URL scheme, timeout, regex, status",
        },
        **WRITE,
    ),
    Endpoint(
        "GET",
        "/api/v1/checks",
        checks_list,
        permission="read:checks",
        summary="List synthetic checks (newest first)",
        query=CheckListQuery,
        response=dict[str, Any],
        tags=("synthetic checks",),
    ),
    Endpoint(
        "GET",
        "/api/v1/checks/{check_id}",
        check_detail,
        permission="read:checks",
        summary="One synthetic check",
        response=dict[str, Any],
        responses={404: "no such check"},
        **ONE,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/checks/{check_id}",
        delete_check,
        permission="write:checks",
        summary="Delete a synthetic check (its open alerts are cleared by the runner)",
        description="Appended as a `check.delete` command (202); with `?wait=S` answered once applied.",
        responses={200: "applied (with ?wait)", 404: "no such check"},
        query=WaitQuery,
        response=CheckAnswer,
        status=202,
        **ONE,
    ),
]
