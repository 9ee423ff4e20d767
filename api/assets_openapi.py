"""OpenAPI paths and schemas of the asset endpoints (merged into api/openapi.py)."""

from __future__ import annotations

from typing import Any

from ems.api.assets import ASSETS
from ems.schemas.asset import EDGE_TYPES, CreateArgs, LinkArgs, UpdateArgs

REF = "#/components/schemas/{model}"
_ERR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, **_ERR}


def _path(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _query(name: str, description: str, type_: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": type_}, "description": description}


WAIT = _query("wait", "seconds to wait for the projection (then 200 with the asset)", "number")
DEPTH = _query("depth", "max hops (1..EMS_ASSETS_MAX_DEPTH)", "integer")
TYPES = {
    "name": "type",
    "in": "query",
    "schema": {"type": "string", "enum": list(EDGE_TYPES)},
    "description": "edge types to follow (repeat or comma-separate)",
}
WRITE = {
    "202": {"description": "command appended: command_id, asset_id (status pending after a wait)"},
    "200": {"description": "with ?wait: applied; the asset"},
    "400": _err("bad query (wait)"),
    "404": _err("no such asset"),
    "409": _err("asset exists (create) or is retired"),
    "422": _err("invalid fields, per-field errors"),
}
GRAPH = {
    "200": {"description": "nodes (with depth) and edges"},
    "400": _err("bad depth/type"),
    "404": _err("not found"),
}


def _body(model: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}}}


def asset_components() -> dict[str, Any]:
    """Request body schemas (CreateArgs, UpdateArgs, LinkArgs and what they refer to)."""
    out: dict[str, Any] = {}
    for model in (CreateArgs, UpdateArgs, LinkArgs):
        schema = model.model_json_schema(ref_template=REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def asset_paths() -> dict[str, Any]:
    """The asset and topology paths."""
    list_params = [
        _query(n, f"equals {c} (repeat for OR, prefix ! to exclude)") for n, c in ASSETS.equals.items()
    ]
    list_params += [
        _query("tag", "tags contain the value"),
        _query("q", "free text in name, id, natural key, vendor, model, location"),
        _query("sort", "name, updated_at, created_at, type (prefix - for descending)"),
        _query("limit", "1..1000", "integer"),
        _query("page", "page number", "integer"),
        _query("cursor", "next_cursor of the previous page"),
    ]
    return {
        "/api/v1/assets": {
            "post": {
                "summary": "Create an asset (id from `id`, else asset_id_for(natural_key), else generated)",
                "parameters": [WAIT],
                "requestBody": _body("CreateArgs"),
                "responses": WRITE,
            },
            "get": {
                "summary": "Assets",
                "parameters": list_params,
                "responses": {
                    "200": {"description": "assets, total, next_cursor"},
                    "400": _err("bad filter"),
                },
            },
        },
        "/api/v1/assets/{asset_id}": {
            "get": {
                "summary": "One asset with its dependencies, dependents and open alerts",
                "parameters": _path("asset_id"),
                "responses": {"200": {"description": "asset"}, "404": _err("no such asset")},
            },
            "patch": {
                "summary": "Update fields (null clears one and hands it back to discovery)",
                "parameters": [*_path("asset_id"), WAIT],
                "requestBody": _body("UpdateArgs"),
                "responses": WRITE,
            },
            "delete": {
                "summary": "Retire the asset (it stays, read-only, with lifecycle retired)",
                "parameters": [*_path("asset_id"), WAIT, _query("reason", "why")],
                "responses": WRITE,
            },
        },
        "/api/v1/assets/{asset_id}/dependencies": {
            "post": {
                "summary": "Add (or update) an outgoing typed edge",
                "parameters": [*_path("asset_id"), WAIT],
                "requestBody": _body("LinkArgs"),
                "responses": WRITE,
            }
        },
        "/api/v1/assets/{asset_id}/dependencies/{type}/{target}": {
            "delete": {
                "summary": "Remove an outgoing edge",
                "parameters": [*_path("asset_id", "type", "target"), WAIT, _query("reason", "why")],
                "responses": WRITE,
            }
        },
        "/api/v1/assets/{asset_id}/upstream": {
            "get": {
                "summary": "What the asset needs (follows edges forward), bounded, cycles terminated",
                "parameters": [*_path("asset_id"), DEPTH, TYPES],
                "responses": GRAPH,
            }
        },
        "/api/v1/assets/{asset_id}/downstream": {
            "get": {
                "summary": "What needs the asset (impact: follows edges backwards)",
                "parameters": [*_path("asset_id"), DEPTH, TYPES],
                "responses": GRAPH,
            }
        },
        "/api/v1/services/{name}/graph": {
            "get": {
                "summary": "A business service: its member assets and everything they depend on",
                "parameters": [*_path("name"), DEPTH, TYPES],
                "responses": GRAPH,
            }
        },
    }
