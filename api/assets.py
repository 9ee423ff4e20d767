"""Asset registry endpoints: writes append `asset.*` commands, reads query the asset read models.

Writes answer 202 with the command id once the command is on `ems.commands`; `?wait=S` (up to
`EMS_ASSETS_WAIT_MAX` s) waits until the projection shows the change and answers 200 with the asset
(202 "pending" if it did not within S, e.g. because the agent refused it: see the dead letters).
The body's `actor` and `reason` (or the `X-Actor` header) are kept with the command.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from psycopg import sql
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ems.api.idempotency import IdempotentWrite, keyed_write
from ems.api.ingest import BadRequest, field_errors, read_json
from ems.api.params import wait_param
from ems.api.queries import ListSpec, build_list, encode_cursor
from ems.api.responses import JSON
from ems.api.topology import SERVICE_MEMBERS_SQL, check_params, parse_depth, parse_types, walk
from ems.schemas.asset import AssetId, CreateArgs, LinkArgs, UnlinkArgs, UpdateArgs
from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from ems.settings import Settings

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
    },
    sortable={"name": "name", "updated_at": "updated_at", "created_at": "created_at", "type": "type"},
    default_sort="name",
    time_column="updated_at",
    text_columns=("name", "asset_id", "natural_key", "vendor", "model", "location"),
    array_columns={"tag": "tags"},
)


_ID = TypeAdapter(AssetId)
_COLUMNS = sql.SQL("*")


def _id_ok(asset_id: str) -> str:
    try:
        _ID.validate_python(asset_id)
    except ValidationError:
        raise BadRequest(404, f"no asset {asset_id!r} (asset ids look like ast_…)") from None
    return asset_id


def _validate(model: type[BaseModel], body: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(422, f"invalid {model.__name__}", field_errors(exc)) from None


async def _body(request: Request, settings: Settings) -> tuple[dict[str, Any], str, str]:
    """(args, actor, reason) of a JSON object body."""
    body = await read_json(request, settings.max_payload_bytes)
    if not isinstance(body, dict):
        raise BadRequest(400, f"expected a JSON object, got {type(body).__name__}")
    actor = body.pop("actor", None) or request.headers.get("x-actor") or "api"
    reason = body.pop("reason", "") or ""
    if not isinstance(actor, str) or not isinstance(reason, str):
        raise BadRequest(422, "actor and reason must be strings")
    return body, actor, reason


async def _fetch_asset(conn: Any, asset_id: str) -> dict[str, Any] | None:
    return await (await conn.execute("SELECT * FROM assets WHERE asset_id = %s", (asset_id,))).fetchone()


def routes(settings: Settings) -> list[Route]:
    """The asset and topology routes (mounted by api/app.py)."""
    topic = settings.topic("commands")

    async def keyed(request: Request, target: str, args: dict) -> IdempotentWrite | None:
        body = {"target": target, "args": args}
        return await keyed_write(request, body, settings.idempotency_ttl)

    async def applied(request: Request, command_id: str, target: str) -> Response | None:
        """The answer of a command already applied (a keyed write sent again), else None."""
        async with request.app.state.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT version FROM asset_changes WHERE cause = %s", (command_id,))
            ).fetchone()
            if row is None:
                return None
            asset = await _fetch_asset(conn, target)
        answer = {
            "status": "applied",
            "command_id": command_id,
            "asset_id": target,
            "version": row["version"],
        }
        return JSON({**answer, "asset": asset})

    async def submit(
        request: Request,
        name: str,
        target: str,
        args: dict,
        actor: str,
        reason: str,
        key: IdempotentWrite | None = None,
    ) -> Response:
        wait = wait_param(request.query_params, settings.assets_wait_max)
        key = key or await keyed(request, target, args)
        if key is not None and (done := await applied(request, key.record_id(0), target)) is not None:
            return done
        ids = {"event_id": key.record_id(0)} if key else {}
        try:
            cmd = Command(name=name, target=target, actor=actor[:256], reason=reason[:4096], args=args, **ids)
        except ValidationError as exc:
            raise BadRequest(422, "invalid command", field_errors(exc)) from None
        await request.app.state.appender.append(topic, [cmd])
        body: dict[str, Any] = {"status": "accepted", "command_id": cmd.event_id, "asset_id": target}
        deadline = time.monotonic() + wait
        while wait:
            async with request.app.state.pool.connection() as conn:
                row = await (
                    await conn.execute("SELECT version FROM asset_changes WHERE cause = %s", (cmd.event_id,))
                ).fetchone()
                if row is not None:
                    asset = await _fetch_asset(conn, target)
                    return JSON({**body, "status": "applied", "version": row["version"], "asset": asset})
            if time.monotonic() >= deadline:
                return JSON({**body, "status": "pending"}, status_code=202)
            await asyncio.sleep(0.05)
        return JSON(body, status_code=202)

    async def existing(request: Request, asset_id: str, writable: bool = True) -> dict[str, Any]:
        async with request.app.state.pool.connection() as conn:
            row = await _fetch_asset(conn, _id_ok(asset_id))
        if row is None:
            raise BadRequest(404, f"no asset {asset_id!r} (if it was just created, create it with ?wait=)")
        if writable and row["lifecycle"] == "retired":
            raise BadRequest(409, f"asset {asset_id} is retired; a retired asset is read-only")
        return row

    async def create(request: Request) -> Response:
        body, actor, reason = await _body(request, settings)
        given = body.pop("id", None)
        args = _validate(CreateArgs, body)
        if given is not None:
            try:
                target = _ID.validate_python(given)
            except ValidationError:
                raise BadRequest(
                    422, f"id must look like ast_<letters, digits, _.:->, got {given!r}"
                ) from None
            if args.natural_key and asset_id_for(args.natural_key) != target:
                raise BadRequest(422, f"id {target} is not asset_id_for({args.natural_key!r})")
        elif args.natural_key:
            target = asset_id_for(args.natural_key)
        else:
            target = ""  # generated below: from the Idempotency-Key when there is one
        dumped = args.model_dump(mode="json")
        key = await keyed(request, target, dumped)
        if not target:
            target = "ast_" + (key.digest[:20] if key else uuid.uuid4().hex[:20])
        if any(e.target == target for e in args.dependencies):
            raise BadRequest(422, f"asset {target} cannot depend on itself")
        if key is not None and (done := await applied(request, key.record_id(0), target)) is not None:
            return done  # a keyed create sent again after it was applied: answer as then
        async with request.app.state.pool.connection() as conn:
            if await _fetch_asset(conn, target) is not None:
                raise BadRequest(409, f"asset {target} already exists; change it with PATCH")
        return await submit(request, "asset.create", target, dumped, actor, reason, key)

    async def update(request: Request) -> Response:
        asset_id = request.path_params["asset_id"]
        body, actor, reason = await _body(request, settings)
        args = _validate(UpdateArgs, body)
        row = await existing(request, asset_id)
        if "natural_key" in args.model_fields_set and args.natural_key != row["natural_key"]:
            raise BadRequest(422, "the natural key of an asset cannot change")
        return await submit(
            request, "asset.update", asset_id, args.model_dump(mode="json", exclude_unset=True), actor, reason
        )

    async def retire(request: Request) -> Response:
        asset_id = request.path_params["asset_id"]
        await existing(request, asset_id)
        reason = request.query_params.get("reason", "")
        actor = request.headers.get("x-actor") or "api"
        return await submit(request, "asset.retire", asset_id, {}, actor, reason)

    async def link(request: Request) -> Response:
        asset_id = request.path_params["asset_id"]
        body, actor, reason = await _body(request, settings)
        args = _validate(LinkArgs, body)
        if args.target == asset_id:
            raise BadRequest(422, f"asset {asset_id} cannot depend on itself")
        await existing(request, asset_id)
        return await submit(request, "asset.link", asset_id, args.model_dump(mode="json"), actor, reason)

    async def unlink(request: Request) -> Response:
        asset_id, p = request.path_params["asset_id"], request.path_params
        args = _validate(UnlinkArgs, {"type": p["type"], "target": p["target"]})
        await existing(request, asset_id)
        async with request.app.state.pool.connection() as conn:
            edge = await (
                await conn.execute(
                    "SELECT 1 FROM asset_dependencies WHERE source_id = %s AND type = %s AND target_id = %s "
                    "AND active",
                    (asset_id, args.type, args.target),
                )
            ).fetchone()
        if edge is None:
            raise BadRequest(404, f"asset {asset_id} has no {args.type} edge to {args.target}")
        actor = request.headers.get("x-actor") or "api"
        return await submit(
            request,
            "asset.unlink",
            asset_id,
            args.model_dump(mode="json"),
            actor,
            request.query_params.get("reason", ""),
        )

    async def list_assets(request: Request) -> Response:
        query = build_list(ASSETS, request.query_params, _COLUMNS)
        async with request.app.state.pool.connection() as conn:
            rows = await (await conn.execute(query.select, query.params)).fetchall()
            total = (await (await conn.execute(query.count, query.count_params)).fetchone())["count"]
        body: dict[str, Any] = {"assets": rows, "total": total, "limit": query.limit}
        if query.page is not None:
            body["page"] = query.page
        if len(rows) == query.limit:
            body["next_cursor"] = encode_cursor(rows[-1][query.sort_column], rows[-1]["asset_id"])
        return JSON(body)

    async def get_asset(request: Request) -> Response:
        asset_id = _id_ok(request.path_params["asset_id"])
        async with request.app.state.pool.connection() as conn:
            asset = await _fetch_asset(conn, asset_id)
            if asset is None:
                raise BadRequest(404, f"no asset {asset_id!r}")
            deps = await (
                await conn.execute(
                    "SELECT type, target_id AS target, origin, attributes FROM asset_dependencies "
                    "WHERE source_id = %s AND active ORDER BY type, target_id",
                    (asset_id,),
                )
            ).fetchall()
            dependents = await (
                await conn.execute(
                    "SELECT type, source_id AS source, origin FROM asset_dependencies "
                    "WHERE target_id = %s AND active ORDER BY type, source_id",
                    (asset_id,),
                )
            ).fetchall()
            alerts = await (
                await conn.execute(
                    "SELECT alert_id, fingerprint, status, severity, event, resource, title, last_seen "
                    "FROM alerts WHERE asset_id = %s AND status = ANY(%s) "
                    "ORDER BY severity_rank, last_seen DESC",
                    (asset_id, list(OPEN_STATUSES)),
                )
            ).fetchall()
        return JSON({"asset": asset, "dependencies": deps, "dependents": dependents, "open_alerts": alerts})

    async def traverse(request: Request, direction: str) -> Response:
        asset_id = _id_ok(request.path_params["asset_id"])
        check_params(request.query_params, {"depth", "type"})
        depth = parse_depth(request.query_params, 3, settings.assets_max_depth)
        types = parse_types(request.query_params)
        async with request.app.state.pool.connection() as conn:
            if await _fetch_asset(conn, asset_id) is None:
                raise BadRequest(404, f"no asset {asset_id!r}")
            graph = await walk(conn, [asset_id], direction, depth, types)
        return JSON({"root": asset_id, "direction": direction, "depth": depth, "types": types, **graph})

    async def service_graph(request: Request) -> Response:
        name = request.path_params["name"]
        check_params(request.query_params, {"depth", "type"})
        depth = parse_depth(request.query_params, settings.assets_max_depth, settings.assets_max_depth)
        types = parse_types(request.query_params, SERVICE_EDGE_TYPES)
        async with request.app.state.pool.connection() as conn:
            members = await (
                await conn.execute(SERVICE_MEMBERS_SQL, {"name": name, "id": asset_id_for(f"service:{name}")})
            ).fetchall()
            if not members:
                raise BadRequest(404, f"no asset belongs to business service {name!r}")
            ids = [m["asset_id"] for m in members]
            graph = await walk(conn, ids, "upstream", depth, types)
        return JSON({"service": name, "members": ids, "depth": depth, "types": types, **graph})

    def guarded(fn):
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except BadRequest as exc:
                return exc.response()

        return endpoint

    table = [
        ("/api/v1/assets", create, "POST"),
        ("/api/v1/assets", list_assets, "GET"),
        ("/api/v1/assets/{asset_id}", get_asset, "GET"),
        ("/api/v1/assets/{asset_id}", update, "PATCH"),
        ("/api/v1/assets/{asset_id}", retire, "DELETE"),
        ("/api/v1/assets/{asset_id}/dependencies", link, "POST"),
        ("/api/v1/assets/{asset_id}/dependencies/{type}/{target}", unlink, "DELETE"),
        ("/api/v1/assets/{asset_id}/upstream", lambda r: traverse(r, "upstream"), "GET"),
        ("/api/v1/assets/{asset_id}/downstream", lambda r: traverse(r, "downstream"), "GET"),
        ("/api/v1/services/{name}/graph", service_graph, "GET"),
    ]
    return [Route(path, guarded(fn), methods=[method]) for path, fn, method in table]
