"""The API's route table: every route declares what it needs, one wrapper enforces it.

An `Endpoint` names its method, path, the permission it needs, its query-parameter model, its body
model, its response model and its documentation. `starlette_routes` turns the table into Starlette
routes whose wrapper, for every request and in this order:

1. authenticates (`app.state.auth.authenticate`): a route that is not `PUBLIC` answers 401 without
   a principal and 403 when the principal lacks the permission;
2. rate-limits on the principal (or, when anonymous, on the client address) via `app.state.limits`;
3. validates the query parameters against the query model (400 naming the parameter);
4. reads the body (media type, size, depth and NUL checks of `ems.api.body`) and validates it
   against the body model (422 listing each bad field);
5. calls the handler with a `Call` and renders what it returns: a pydantic model or plain data as
   JSON with the declared status, a Starlette `Response` as is.

Errors are raised as `ApiError`s (`ems.api.errors`) and rendered in the route's dialect (native,
Alerta, Alertmanager, PagerDuty) by the application's exception handlers. The OpenAPI document
(`ems.api.openapi`) is generated from the same table and models, so the two cannot disagree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ems.api.body import as_json, read_body
from ems.api.edge import has_body
from ems.api.errors import ApiError, field_errors
from ems.api.responses import JSON
from ems.api.security.credentials import find_credential

PUBLIC = "public"  # anyone may call it (login, liveness, the OpenAPI document)
AUTHENTICATED = "authenticated"  # any signed-in principal (who am I, logout)
DIALECTS = ("native", "alerta", "alertmanager", "pagerduty")
ENDPOINT_KEY = "ems.endpoint"  # where the wrapper leaves the endpoint in the ASGI scope
PRINCIPAL_KEY = "ems.principal"  # ... and the authenticated principal (None when anonymous)


class Principal(Protocol):
    """Who is calling (`ems.api.security.principal.Principal`)."""

    name: str
    tenant: str | None

    @property
    def actor(self) -> str: ...

    def allows(self, permission: str) -> bool: ...


Handler = Callable[["Call"], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    """One route of the API and everything the wrapper and the OpenAPI document need to know."""

    method: str
    path: str
    handler: Handler
    permission: str
    summary: str
    description: str = ""
    query: type[BaseModel] | None = None
    body: Any = None  # a pydantic model, or any type a TypeAdapter takes (e.g. `list[X] | X`)
    body_required: bool = True
    validate_body: bool = True  # False: the handler validates `call.raw_body` with the same model
    media_types: tuple[str, ...] = ("application/json",)
    response: Any = None
    status: int = 200
    responses: Mapping[int, str] = field(default_factory=dict)  # other answers, documented
    tags: tuple[str, ...] = ()
    dialect: str = "native"
    cost: Callable[[Any], int] | None = None  # rate-limit cost of a body (e.g. a batch's length)
    limited: bool = True  # False only for probes (liveness, readiness)
    idempotent: bool = False  # takes an `Idempotency-Key` header (ems.api.idempotency)
    # Where a client that sends no credential header puts its API key in the body (PagerDuty's
    # `routing_key`); without a header credential, the body is read first and its key authenticates.
    body_credential: Callable[[Any], Any] | None = None
    path_types: Mapping[str, Any] = field(default_factory=dict)  # documented types of path parameters

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"{self.id}: unknown dialect {self.dialect!r}")
        if not self.permission or not self.summary:
            raise ValueError(f"{self.id}: every route declares a permission and a summary")

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> list[str]:
        return [m.split(":")[0] for m in re.findall(r"{([^}]+)}", self.path)]

    @cached_property
    def body_adapter(self) -> TypeAdapter | None:
        return None if self.body is None else TypeAdapter(self.body)


@dataclass
class Call:
    """What a handler gets: the request, who is calling, and the validated parameters and body."""

    request: Request
    endpoint: Endpoint
    principal: Any
    path: dict[str, Any]
    query: Any
    body: Any
    raw_body: Any = None  # the parsed JSON before validation (for handlers that keep client fields)

    @property
    def state(self) -> Any:
        return self.request.app.state

    @property
    def settings(self) -> Any:
        return self.request.app.state.settings

    @property
    def actor(self) -> str:
        """The authenticated principal's name as it is recorded on commands and events."""
        if self.principal is None:
            raise ApiError(401, "authentication required")
        return str(self.principal.actor)


def query_values(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    """The query string as the model's input: lists for list fields, one value for the rest (400 when
    a single-valued parameter is repeated), other parameters passed through for models that allow them."""
    params = request.query_params
    out: dict[str, Any] = {}
    known = {}
    for name, info in model.model_fields.items():
        known[info.alias or name] = info
    for key in params:
        values = params.getlist(key)
        info = known.get(key)
        if info is not None and _is_list(info.annotation):
            out[key] = values
        elif len(values) > 1 and (info is not None or model.model_config.get("extra") != "allow"):
            raise ApiError(400, f"query parameter {key!r} is given {len(values)} times; give it once")
        else:
            out[key] = values[0] if len(values) == 1 else values
    return out


def _is_list(annotation: Any) -> bool:
    text = repr(annotation)
    return text.startswith("list[") or "List[" in text or text.startswith("typing.Optional[list")


async def _authorize(request: Request, endpoint: Endpoint, body_key: Any = None) -> Any:
    auth = getattr(request.app.state, "auth", None)
    principal = None if auth is None else await auth.authenticate(request)
    if principal is None and isinstance(body_key, str) and body_key and auth is not None:
        principal = await auth.authenticate_key(body_key)
    if endpoint.permission == PUBLIC:
        return principal
    if principal is None:
        raise ApiError(401, "authentication required", headers={"WWW-Authenticate": 'Bearer realm="ems"'})
    if endpoint.permission != AUTHENTICATED and not principal.allows(endpoint.permission):
        raise ApiError(403, f"{endpoint.permission} is required for {endpoint.id}")
    return principal


def _wrap(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        request.scope[ENDPOINT_KEY] = endpoint
        early, read_early = None, False
        if endpoint.body_credential is not None and find_credential(request) is None:
            early, read_early = (
                await read_body(request, endpoint.media_types, required=endpoint.body_required),
                True,
            )
            key = endpoint.body_credential(early) if isinstance(early, dict) else None
            principal = await _authorize(request, endpoint, key)
        else:
            principal = await _authorize(request, endpoint)
        request.scope[PRINCIPAL_KEY] = principal
        limits = getattr(request.app.state, "limits", None) if endpoint.limited else None
        decision = None if limits is None else await limits.charge(request, endpoint, principal, 1)
        query = None
        if endpoint.query is not None:
            try:
                query = endpoint.query.model_validate(query_values(request, endpoint.query))
            except ValidationError as exc:
                raise ApiError(400, "invalid query parameters", field_errors(exc)) from None
        raw = body = None
        if endpoint.body_adapter is not None:
            raw = (  # a body read early (even `null`) cannot be read again
                early
                if read_early
                else await read_body(request, endpoint.media_types, required=endpoint.body_required)
            )
            # A body that is JSON `null` is a body (validated, refused), not an absent optional one.
            given = raw is not None or endpoint.body_required or has_body(request.headers)
            if endpoint.validate_body and given:
                try:
                    body = as_json(endpoint.body_adapter, raw)
                except ValidationError as exc:
                    raise ApiError(422, "validation failed", field_errors(exc)) from None
            if limits is not None and endpoint.cost is not None and raw is not None:
                extra = endpoint.cost(body if endpoint.validate_body else raw) - 1
                if extra > 0:
                    decision = await limits.charge(request, endpoint, principal, extra)
        call = Call(request, endpoint, principal, dict(request.path_params), query, body, raw)
        response = render(endpoint, await endpoint.handler(call))
        if decision is not None:
            response.headers.update(decision.headers())
        if request.method in ("GET", "HEAD") and response.status_code == 200:
            return not_modified(request, response)
        return response

    route.__name__ = endpoint.handler.__name__
    route.__doc__ = endpoint.summary
    return route


def render(endpoint: Endpoint, result: Any) -> Response:
    """A handler's result as the HTTP answer (models serialized by alias, without unset optionals)."""
    if isinstance(result, Response):
        return result
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json", by_alias=True)
    return JSON(result, status_code=endpoint.status)


def not_modified(request: Request, response: Response) -> Response:
    """A read's answer with its ETag (a hash of the body), or 304 when the client holds that version
    (`If-None-Match`): a dashboard polling a list costs no transfer while nothing changed."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes):
        return response
    tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    response.headers["ETag"] = tag
    response.headers.setdefault("Cache-Control", "no-cache, private")
    held = request.headers.get("if-none-match", "")
    if tag in (t.strip().removeprefix("W/") for t in held.split(",")):
        keep = {
            k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
        }
        return Response(status_code=304, headers=keep)
    return response


def starlette_routes(endpoints: list[Endpoint]) -> list[Route]:
    """Starlette routes of the table (one per path, methods combined: a wrong method answers 405
    with the right `Allow` header); a duplicate method and path is a programming error."""
    seen: set[str] = set()
    by_path: dict[str, dict[str, Endpoint]] = {}
    for e in endpoints:
        if e.id in seen:
            raise ValueError(f"{e.id} is declared twice")
        seen.add(e.id)
        by_path.setdefault(e.path, {})[e.method] = e
    routes = []
    for path, methods in by_path.items():
        wrapped = {m: _wrap(e) for m, e in methods.items()}

        async def dispatch(request: Request, wrapped: dict = wrapped) -> Response:
            return await wrapped[request.method if request.method != "HEAD" else "GET"](request)

        routes.append(Route(path, dispatch, methods=list(methods)))
    return routes
