"""Asset registry endpoints: writes append `asset.*` commands, reads query the asset read models.

Writes answer 202 with the command id once the command is on `ems.commands`; `?wait=S` (up to
`EMS_ASSETS_WAIT_MAX` s) waits until the projection shows the change and answers 200 with the asset
(202 "pending" if it did not within S, e.g. because the agent refused it: see the dead letters).
The caller (the authenticated principal) is the command's actor; `reason` (body, or `?reason=` on
DELETE) is kept with it. A caller bound to a tenant reads and changes only that tenant's assets (another
tenant's asset is a 404) and creates assets of that tenant (`ems.api.tenancy`). Asset ids are global
(`asset_id_for(natural_key)`): an id another tenant holds is taken (409).
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import Response

from ems.api.body import as_json
from ems.api.errors import ApiError, field_errors
from ems.api.idempotency import IdempotentWrite, keyed_write
from ems.api.queries import ListSpec, build_list
from ems.api.responses import JSON
from ems.api.routing import Call
from ems.api.tenancy import asset_visible, tenant_of, tenant_to_record, visible
from ems.api.topology import parse_depth, parse_types, service_members, walk
from ems.api.waiting import poll
from ems.schemas.asset import AssetId, CreateArgs, LinkArgs, UnlinkArgs, UpdateArgs
from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.schemas.limits import Text

OPEN_STATUSES = ("open", "acknowledged", "shelved")
SERVICE_EDGE_TYPES = ("depends_on", "runs_on")
ASSETS = ListSpec(
    table="assets",
    id_column="asset_id",
    equals={
        "type": "type",
        "environment": "environment",
        "service": "business_service",
        "lifecycle": "lifecycle",
        "owner_team": "owner_team",
        "vendor": "vendor",
        "tenant": "tenant",
    },
    sortable={"name": "name", "updated_at": "updated_at", "created_at": "created_at", "type": "type"},
    default_sort="name",
    time_column="updated_at",
    text_columns=("name", "asset_id", "natural_key", "vendor", "model", "location"),
    array_columns={"tag": "tags"},
)


_ID = TypeAdapter(AssetId)
_REASON = TypeAdapter(Text(4096))
_COLUMNS = sql.SQL("*")


def _id_ok(asset_id: str) -> str:
    try:
        _ID.validate_python(asset_id)
    except ValidationError:
        raise ApiError(404, f"no asset {asset_id!r} (asset ids look like ast_…)") from None
    return asset_id


def _validate(model: type[BaseModel], body: dict[str, Any]) -> BaseModel:
    try:
        return as_json(model, body)
    except ValidationError as exc:
        raise ApiError(422, f"invalid {model.__name__}", field_errors(exc)) from None


def _args(call: Call) -> tuple[dict[str, Any], str]:
    """(args, reason) of a JSON object body; the actor is the authenticated principal."""
    body = call.raw_body
    if not isinstance(body, dict):
        raise ApiError(422, f"expected a JSON object, got {type(body).__name__}")
    body = dict(body)
    try:  # the bounds of the document's `reason` (a string of at most 4096 characters, no NUL)
        reason = _REASON.validate_python(body.pop("reason", ""), strict=True)
    except ValidationError as exc:
        raise ApiError(422, "invalid reason", field_errors(exc, "reason")) from None
    return body, reason


async def _fetch_asset(conn: Any, asset_id: str, tenant: str | None) -> dict[str, Any] | None:
    """The asset's row, or None (also when it is not of `tenant`'s)."""
    own, args = visible(tenant)
    query = sql.SQL("SELECT * FROM assets WHERE asset_id = %s AND {}").format(own)
    return await (await conn.execute(query, (asset_id, *args))).fetchone()


async def _keyed(call: Call, target: str, args: dict) -> IdempotentWrite | None:
    return await keyed_write(call.request, {"target": target, "args": args}, call.settings.idempotency_ttl)


async def _applied(call: Call, command_id: str, target: str) -> Response | None:
    """The answer of a command already applied (a keyed write sent again), else None."""
    async with call.state.pool.connection() as conn:
        row = await (
            await conn.execute("SELECT version FROM asset_changes WHERE cause = %s", (command_id,))
        ).fetchone()
        if row is None:
            return None
        asset = await _fetch_asset(conn, target, tenant_of(call))
    answer = {"status": "applied", "command_id": command_id, "asset_id": target, "version": row["version"]}
    return JSON({**answer, "asset": asset})


async def _submit(
    call: Call, name: str, target: str, args: dict, reason: str, key: IdempotentWrite | None = None
) -> Response:
    wait = call.query.wait if call.query is not None else 0.0
    key = key or await _keyed(call, target, args)
    if key is not None and (done := await _applied(call, key.record_id(0), target)) is not None:
        return done
    ids = {"event_id": key.record_id(0)} if key else {}
    try:
        cmd = Command(name=name, target=target, actor=call.actor, reason=reason[:4096], args=args, **ids)
    except ValidationError as exc:
        raise ApiError(422, "invalid command", field_errors(exc)) from None
    await call.state.appender.append(call.settings.topic("commands"), [cmd])
    body: dict[str, Any] = {"status": "accepted", "command_id": cmd.event_id, "asset_id": target}
    if not wait:
        return JSON(body, status_code=202)

    async def look(conn: Any) -> Any:
        row = await (
            await conn.execute("SELECT version FROM asset_changes WHERE cause = %s", (cmd.event_id,))
        ).fetchone()
        return None if row is None else (row, await _fetch_asset(conn, target, tenant_of(call)))

    found = await poll(call.state.pool, look, wait)
    if found is None:
        return JSON({**body, "status": "pending"}, status_code=202)
    return JSON({**body, "status": "applied", "version": found[0]["version"], "asset": found[1]})


async def _existing(call: Call, asset_id: str, writable: bool = True) -> dict[str, Any]:
    async with call.state.pool.connection() as conn:
        row = await _fetch_asset(conn, _id_ok(asset_id), tenant_of(call))
    if row is None:  # also an asset of another tenant: its existence is not revealed
        raise ApiError(404, f"no asset {asset_id!r} (if it was just created, create it with ?wait=)")
    if writable and row["lifecycle"] == "retired":
        raise ApiError(409, f"asset {asset_id} is retired; a retired asset is read-only")
    return row


async def create(call: Call) -> Response:
    body, reason = _args(call)
    given = body.pop("id", None)
    args = _validate(CreateArgs, body)
    tenant = tenant_to_record(tenant_of(call), args.tenant)  # 403: another tenant's
    args = args.model_copy(update={"tenant": tenant})
    if given is not None:
        try:
            target = _ID.validate_python(given)
        except ValidationError:
            raise ApiError(422, f"id must look like ast_<letters, digits, _.:->, got {given!r}") from None
        if args.natural_key and asset_id_for(args.natural_key) != target:
            raise ApiError(422, f"id {target} is not asset_id_for({args.natural_key!r})")
    elif args.natural_key:
        target = asset_id_for(args.natural_key)
    else:
        target = ""  # generated below: from the Idempotency-Key when there is one
    dumped = args.model_dump(mode="json", exclude=set() if tenant else {"tenant"})
    key = await _keyed(call, target, dumped)
    if not target:
        target = "ast_" + (key.digest[:20] if key else uuid.uuid4().hex[:20])
    if any(e.target == target for e in args.dependencies):
        raise ApiError(422, f"asset {target} cannot depend on itself")
    if key is not None and (done := await _applied(call, key.record_id(0), target)) is not None:
        return done  # a keyed create sent again after it was applied: answer as then
    async with call.state.pool.connection() as conn:
        if await _fetch_asset(conn, target, None) is not None:  # ids are global: taken by any tenant
            raise ApiError(409, f"asset {target} already exists; change it with PATCH")
    return await _submit(call, "asset.create", target, dumped, reason, key)


async def update(call: Call) -> Response:
    asset_id = call.path["asset_id"]
    body, reason = _args(call)
    args = _validate(UpdateArgs, body)
    row = await _existing(call, asset_id)
    if "natural_key" in args.model_fields_set and args.natural_key != row["natural_key"]:
        raise ApiError(422, "the natural key of an asset cannot change")
    dumped = args.model_dump(mode="json", exclude_unset=True)
    return await _submit(call, "asset.update", asset_id, dumped, reason)


async def retire(call: Call) -> Response:
    asset_id = call.path["asset_id"]
    await _existing(call, asset_id)
    return await _submit(call, "asset.retire", asset_id, {}, call.query.reason)


async def link(call: Call) -> Response:
    asset_id = call.path["asset_id"]
    body, reason = _args(call)
    args = _validate(LinkArgs, body)
    if args.target == asset_id:
        raise ApiError(422, f"asset {asset_id} cannot depend on itself")
    await _existing(call, asset_id)
    return await _submit(call, "asset.link", asset_id, args.model_dump(mode="json"), reason)


async def unlink(call: Call) -> Response:
    asset_id, p = call.path["asset_id"], call.path
    args = _validate(UnlinkArgs, {"type": p["type"], "target": p["target"]})
    await _existing(call, asset_id)
    async with call.state.pool.connection() as conn:
        edge = await (
            await conn.execute(
                "SELECT 1 FROM asset_dependencies WHERE source_id = %s AND type = %s AND target_id = %s "
                "AND active",
                (asset_id, args.type, args.target),
            )
        ).fetchone()
    if edge is None:
        raise ApiError(404, f"asset {asset_id} has no {args.type} edge to {args.target}")
    return await _submit(call, "asset.unlink", asset_id, args.model_dump(mode="json"), call.query.reason)


async def list_assets(call: Call) -> Any:
    query = build_list(ASSETS, call.request.query_params, _COLUMNS, tenant_of(call))
    async with call.state.pool.connection() as conn:
        rows = await (await conn.execute(query.select, query.params)).fetchall()
        total = (await (await conn.execute(query.count, query.count_params)).fetchone())["count"]
    body: dict[str, Any] = {"assets": rows, "total": total, "limit": query.limit}
    if query.page is not None:
        body["page"] = query.page
    if len(rows) == query.limit:
        body["next_cursor"] = query.cursor_after(rows[-1])
    return body


async def get_asset(call: Call) -> Any:
    asset_id, tenant = _id_ok(call.path["asset_id"]), tenant_of(call)
    target_seen, target_args = asset_visible(tenant, sql.SQL("target_id"))
    source_seen, source_args = asset_visible(tenant, sql.SQL("source_id"))
    alert_seen, alert_args = visible(tenant)
    async with call.state.pool.connection() as conn:
        asset = await _fetch_asset(conn, asset_id, tenant)
        if asset is None:
            raise ApiError(404, f"no asset {asset_id!r}")
        deps = await (
            await conn.execute(
                sql.SQL(
                    "SELECT type, target_id AS target, origin, attributes FROM asset_dependencies "
                    "WHERE source_id = %s AND active AND {} ORDER BY type, target_id"
                ).format(target_seen),
                (asset_id, *target_args),
            )
        ).fetchall()
        dependents = await (
            await conn.execute(
                sql.SQL(
                    "SELECT type, source_id AS source, origin FROM asset_dependencies "
                    "WHERE target_id = %s AND active AND {} ORDER BY type, source_id"
                ).format(source_seen),
                (asset_id, *source_args),
            )
        ).fetchall()
        alerts = await (
            await conn.execute(
                sql.SQL(
                    "SELECT alert_id, fingerprint, status, severity, event, resource, title, last_seen "
                    "FROM alerts WHERE asset_id = %s AND status = ANY(%s) AND {} "
                    "ORDER BY severity_rank, last_seen DESC"
                ).format(alert_seen),
                (asset_id, list(OPEN_STATUSES), *alert_args),
            )
        ).fetchall()
    return {"asset": asset, "dependencies": deps, "dependents": dependents, "open_alerts": alerts}


async def _traverse(call: Call, direction: str) -> Any:
    asset_id = _id_ok(call.path["asset_id"])
    params = call.request.query_params
    depth = parse_depth(params, 3, call.settings.assets_max_depth)
    types, tenant = parse_types(params), tenant_of(call)
    async with call.state.pool.connection() as conn:
        if await _fetch_asset(conn, asset_id, tenant) is None:
            raise ApiError(404, f"no asset {asset_id!r}")
        graph = await walk(conn, [asset_id], direction, depth, types, tenant)
    return {"root": asset_id, "direction": direction, "depth": depth, "types": types, **graph}


async def upstream(call: Call) -> Any:
    return await _traverse(call, "upstream")


async def downstream(call: Call) -> Any:
    return await _traverse(call, "downstream")


async def service_graph(call: Call) -> Any:
    name = call.path["name"]
    params, most = call.request.query_params, call.settings.assets_max_depth
    depth = parse_depth(params, most, most)
    types, tenant = parse_types(params, SERVICE_EDGE_TYPES), tenant_of(call)
    async with call.state.pool.connection() as conn:
        ids = await service_members(conn, name, asset_id_for(f"service:{name}"), tenant)
        if not ids:
            raise ApiError(404, f"no asset belongs to business service {name!r}")
        graph = await walk(conn, ids, "upstream", depth, types, tenant)
    return {"service": name, "members": ids, "depth": depth, "types": types, **graph}
