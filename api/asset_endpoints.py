"""The asset and topology routes: their parameters, bodies and answers as models (`ems.api.assets`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ems.api import assets
from ems.api.routing import Endpoint
from ems.api.waiting import WaitQuery
from ems.schemas.asset import EDGE_TYPES, AssetId, CreateArgs, EdgeType, LinkArgs, UpdateArgs
from ems.schemas.limits import Text
from ems.settings import Settings


class Reason(BaseModel):
    reason: Text(4096) = Field("", description="why; kept with the command")


class AssetCreate(CreateArgs, Reason):
    """A new asset: its fields, optionally its own id (`asset_id_for(natural_key)` when given)."""

    id: AssetId | None = Field(None, description="ast_…; default: from the natural key or generated")


class AssetUpdate(UpdateArgs, Reason):
    """The fields to change (the natural key cannot change)."""


class AssetLink(LinkArgs, Reason):
    """A dependency edge from this asset to `target`."""


class WaitReason(WaitQuery):
    reason: Text(4096) = Field("", description="why; kept with the command")


class AssetListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: list[str] = Field(default_factory=list, description="asset type (repeat for OR, ! to exclude)")
    environment: list[str] = Field(default_factory=list)
    service: list[str] = Field(default_factory=list, description="business service")
    lifecycle: list[str] = Field(default_factory=list)
    owner_team: list[str] = Field(default_factory=list)
    vendor: list[str] = Field(default_factory=list)
    tenant: list[str] = Field(default_factory=list, description="within the caller's own tenant, if bound")
    tag: list[str] = Field(default_factory=list, description="tags contain the value (! to exclude)")
    q: str | None = Field(None, max_length=1024, description="free text (name, id, natural key, …)")
    from_: str | None = Field(None, alias="from", description="updated_at at or after (ISO-8601)")
    to: str | None = Field(None, description="updated_at before (ISO-8601)")
    sort: str | None = Field(
        None,
        description="name, updated_at, created_at, type; - for descending",
        json_schema_extra={"pattern": "^-?(name|updated_at|created_at|type)$"},
    )
    limit: int = Field(50, ge=1, le=1000)
    page: int | None = Field(None, ge=1)
    cursor: str | None = Field(None, max_length=4096)


_EDGE = "(" + "|".join(EDGE_TYPES) + ")"
EDGE_TYPES_PATTERN = rf"^\s*{_EDGE}?\s*(,\s*{_EDGE}?\s*)*$"  # what topology.parse_types takes


class TraverseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depth: int | None = Field(
        None,
        ge=1,
        le=64,
        description="hops (default 3; at most EMS_ASSETS_MAX_DEPTH, documented at its default)",
        json_schema_extra={"maximum": Settings.model_fields["assets_max_depth"].default},
    )
    type: list[Annotated[str, Field(json_schema_extra={"pattern": EDGE_TYPES_PATTERN})]] = Field(
        default_factory=list, description="edge types, repeat or comma-separate"
    )


class AssetCommand(BaseModel):
    """A write's command: accepted (202), pending (202 after ?wait), or applied (200 with the asset)."""

    status: Literal["accepted", "pending", "applied"]
    command_id: str
    asset_id: str
    version: int | None = None
    asset: dict[str, Any] | None = None


WRITE = {
    "status": 202,
    "response": AssetCommand,
    "query": WaitReason,
    "tags": ("assets",),
    "idempotent": True,
}
ASSET = {"asset_id": AssetId}  # an id that is not one is a 404
WRITTEN = {200: "applied (with ?wait)", 404: "no such asset", 409: "the asset is retired or exists"}


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/assets",
        assets.create,
        permission="write:assets",
        summary="Create an asset (an asset.create command)",
        body=AssetCreate,
        validate_body=False,
        responses={200: "applied (with ?wait)", 409: "the asset exists", 422: "invalid fields"},
        **WRITE,
    ),
    Endpoint(
        "GET",
        "/api/v1/assets",
        assets.list_assets,
        permission="read:assets",
        summary="List assets: filters, sort, page or cursor",
        query=AssetListQuery,
        response=dict[str, Any],
        responses={400: "a bad filter, sort or cursor"},
        tags=("assets",),
    ),
    Endpoint(
        "GET",
        "/api/v1/assets/{asset_id}",
        assets.get_asset,
        permission="read:assets",
        summary="One asset with its dependencies, dependents and open alerts",
        response=dict[str, Any],
        responses={404: "no such asset"},
        tags=("assets",),
        path_types=ASSET,
    ),
    Endpoint(
        "PATCH",
        "/api/v1/assets/{asset_id}",
        assets.update,
        permission="write:assets",
        summary="Change an asset's fields (an asset.update command)",
        body=AssetUpdate,
        validate_body=False,
        responses={**WRITTEN, 422: "invalid fields"},
        **WRITE,
        path_types=ASSET,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/assets/{asset_id}",
        assets.retire,
        permission="write:assets",
        summary="Retire an asset (kept, read-only)",
        responses=WRITTEN,
        **WRITE,
        path_types=ASSET,
    ),
    Endpoint(
        "POST",
        "/api/v1/assets/{asset_id}/dependencies",
        assets.link,
        permission="write:assets",
        summary="Add a dependency edge",
        body=AssetLink,
        validate_body=False,
        responses={**WRITTEN, 422: "invalid edge"},
        **WRITE,
        path_types=ASSET,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/assets/{asset_id}/dependencies/{type}/{target}",
        assets.unlink,
        permission="write:assets",
        summary="Remove a dependency edge",
        responses={**WRITTEN, 422: "invalid edge type"},
        **WRITE,
        path_types={**ASSET, "type": EdgeType, "target": AssetId},
    ),
    Endpoint(
        "GET",
        "/api/v1/assets/{asset_id}/upstream",
        assets.upstream,
        permission="read:assets",
        summary="What the asset depends on, transitively",
        query=TraverseQuery,
        response=dict[str, Any],
        responses={400: "bad depth or type", 404: "no such asset"},
        tags=("topology",),
        path_types=ASSET,
    ),
    Endpoint(
        "GET",
        "/api/v1/assets/{asset_id}/downstream",
        assets.downstream,
        permission="read:assets",
        summary="What depends on the asset, transitively (links count both ways)",
        query=TraverseQuery,
        response=dict[str, Any],
        responses={400: "bad depth or type", 404: "no such asset"},
        tags=("topology",),
        path_types=ASSET,
    ),
    Endpoint(
        "GET",
        "/api/v1/services/{name}/graph",
        assets.service_graph,
        permission="read:assets",
        summary="A business service's members and what they run on and depend on",
        query=TraverseQuery,
        response=dict[str, Any],
        responses={400: "bad depth or type", 404: "no such service"},
        tags=("topology",),
    ),
]
