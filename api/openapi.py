"""The OpenAPI 3.1 document, generated from the route table (`ems.api.routing.Endpoint`) and its models.

Per route: path parameters from the path, query parameters from the query model's fields, the
request body from the body model, the answer from the response model, and the error answers every
route can give (400/422 when it takes parameters or a body, 401/403 unless public, 401 on a public
route for credentials sent and refused, 413/415 with a body, 429, 503) in the route's dialect.
What a model cannot say (the filter grammar of the list endpoints) is in the route's description.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from ems.api.routing import PUBLIC, Endpoint
from ems.schemas.limits import NO_NUL

REF = "#/components/schemas/{model}"
ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "why"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "AlertaError": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {
            "status": {"const": "error"},
            "message": {"type": "string"},
            "code": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
    },
    "PagerDutyError": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {
            "status": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
    },
}
DIALECT_ERROR = {
    "native": "Error",
    "alertmanager": "Error",
    "alerta": "AlertaError",
    "pagerduty": "PagerDutyError",
}
COMMON_ERRORS = {
    400: "a bad query parameter or body",
    401: "no credentials, or bad ones (expired, revoked, forged)",
    403: "the caller lacks the route's permission",
    413: "the body is over the size limit",
    415: "the body's Content-Type is not accepted",
    422: "the body fails validation (every bad field is listed)",
    429: "rate limit exceeded (Retry-After, RateLimit-* headers)",
    503: "a backend is unavailable (Retry-After); writes say whether anything was appended",
}
REFUSED_ON_PUBLIC = "credentials were sent and refused (expired, revoked, forged); this route needs none"
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "Sent again with the same key (after a timeout or a 503), the write is applied once "
    "and answered as the first time (docs/reliability.md)",
}


class Schemas:
    """Collects the components (`$defs`) of every schema it is asked for."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = dict(ERROR_SCHEMAS)

    def of(self, tp: Any, mode: str = "validation", inline: bool = False) -> dict[str, Any]:
        """The schema of `tp`; a model is a component (`$ref`) unless `inline`."""
        schema = TypeAdapter(tp).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        for name, definition in schema.pop("$defs", {}).items():
            self._add(name, definition)
        if inline or not (isinstance(tp, type) and issubclass(tp, BaseModel)):
            return schema
        name = tp.__name__ if mode == "validation" else f"{tp.__name__}Out"
        self._add(name, schema)
        return {"$ref": REF.format(model=name)}

    def _add(self, name: str, definition: dict[str, Any]) -> None:
        known = self.components.get(name)
        if known is not None and known != definition:
            raise ValueError(f"two different schemas are named {name!r}")
        self.components[name] = definition


def _query_parameters(model: type[BaseModel], schemas: Schemas) -> list[dict[str, Any]]:
    schema = schemas.of(model, inline=True)
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _no_nul(_without_null(prop))
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if prop.get("description"):
            param["description"] = prop["description"]
        if prop.get("type") == "array":
            param |= {"style": "form", "explode": True}
        out.append(param)
    return out


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without pydantic's `None` branch: a query string has no null, an
    optional parameter is one that is left out."""
    branches = prop.get("anyOf")
    if not branches or {"type": "null"} not in branches:
        return prop
    rest = [b for b in branches if b != {"type": "null"}]
    out = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**rest[0], **out} if len(rest) == 1 else {**out, "anyOf": rest}


def _no_nul(prop: dict[str, Any]) -> dict[str, Any]:
    """A string parameter (or an array's items) without its own pattern refuses NUL: the request guard
    (`ems.api.guards`) answers 400 to a NUL anywhere in the path or query."""
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        return {**prop, "items": _no_nul(prop["items"])}
    if prop.get("type") == "string" and not {"pattern", "enum", "const"} & prop.keys():
        return {**prop, "pattern": NO_NUL}
    return prop


def _path_schema(endpoint: Endpoint, name: str, schemas: Schemas) -> dict[str, Any]:
    """A path parameter's declared type (`Endpoint.path_types`), else any non-empty string."""
    tp = endpoint.path_types.get(name)
    return _no_nul({"type": "string", "minLength": 1} if tp is None else schemas.of(tp, inline=True))


def _error(endpoint: Endpoint, description: str) -> dict[str, Any]:
    ref = {"$ref": REF.format(model=DIALECT_ERROR[endpoint.dialect])}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def operation(endpoint: Endpoint, schemas: Schemas) -> dict[str, Any]:
    """The OpenAPI operation of one route."""
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": _path_schema(endpoint, p, schemas)}
        for p in endpoint.path_params
    ]
    if endpoint.query is not None:
        params += _query_parameters(endpoint.query, schemas)
    if endpoint.idempotent:
        params.append(IDEMPOTENCY_KEY)
    op: dict[str, Any] = {
        "operationId": f"{endpoint.method.lower()}_{endpoint.handler.__name__}_{len(endpoint.path)}",
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
        "x-permission": endpoint.permission,
        "parameters": params,
    }
    if endpoint.description:
        op["description"] = endpoint.description
    if endpoint.permission == PUBLIC:
        op["security"] = []
    if endpoint.body is not None:
        body = schemas.of(endpoint.body)
        op["requestBody"] = {
            "required": endpoint.body_required,
            "content": {t: {"schema": body} for t in endpoint.media_types},
        }
    ok: dict[str, Any] = {"description": "success"}
    if endpoint.response is str:
        ok["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif endpoint.response is not None:
        ok["content"] = {"application/json": {"schema": schemas.of(endpoint.response, "serialization")}}
    responses: dict[str, Any] = {str(endpoint.status): ok}
    for status, text in endpoint.responses.items():
        if 200 <= status < 300:
            responses[str(status)] = {**ok, "description": text}
        else:
            responses[str(status)] = _error(endpoint, text)
    if endpoint.method == "GET":
        responses["304"] = {"description": "not modified: the If-None-Match ETag is current"}
    common = {429, 503}
    if endpoint.query is not None or endpoint.path_params:
        common |= {400}
    if endpoint.body is not None:
        common |= {400, 413, 415, 422}
    if endpoint.permission != PUBLIC:
        common |= {401, 403}
    for status in sorted(common):
        responses.setdefault(str(status), _error(endpoint, COMMON_ERRORS[status]))
    if endpoint.permission == PUBLIC:  # credentials are checked wherever they are sent
        responses.setdefault("401", _error(endpoint, REFUSED_ON_PUBLIC))
    op["responses"] = responses
    return op


def generate(endpoints: list[Endpoint]) -> dict[str, Any]:
    """The whole document of a route table."""
    schemas = Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        path = e.path.replace(":path}", "}")
        paths.setdefault(path, {})[e.method.lower()] = operation(e, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "EMS API",
            "version": "1",
            "description": "Alerts, incidents, assets and metrics of the EMS. Authenticate with a session "
            "cookie or `Authorization: Bearer <access token>` (POST /api/v1/auth/login), or an API key "
            "(`Authorization: Key <key>` or `X-API-Key`). Each operation's `x-permission` names what "
            "it needs; roles: viewer (read), operator (read + operational writes), admin (all).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "ems_access"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}, {"cookie": []}],
    }
