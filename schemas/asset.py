"""The asset registry's records: the asset snapshot, its edges, the command args and `AssetChanged`.

`ems.assets` (keyed by asset id) carries one `AssetChanged` per accepted change: the full snapshot
after the change (so the latest record of a key is enough to know the asset: compaction may drop
the older ones, nothing depends on it), what changed, and what caused it. The command args models
are shared by the API (which answers a 4xx on bad args) and the agent (which validates again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ems.schemas.envelope import Record

EdgeType = Literal["depends_on", "runs_on", "connected_to", "member_of"]
EDGE_TYPES: tuple[str, ...] = ("depends_on", "runs_on", "connected_to", "member_of")
Lifecycle = Literal["planned", "active", "maintenance", "retired"]
AssetId = Annotated[str, Field(min_length=5, max_length=128, pattern=r"^ast_[A-Za-z0-9_.:-]+$")]
Token = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, Field(max_length=256)]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=64)]
Addresses = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=64)]
Attributes = Annotated[dict[str, Any], Field(max_length=128)]

# Fields a collector's discovery may fill (unless an operator set them: see agents/assets.py).
DISCOVERED_FIELDS = ("name", "type", "vendor", "model", "addresses", "location", "contact")
# Fields only operators set: discovery never writes them.
OPERATOR_FIELDS = (
    "environment",
    "owner_team",
    "tags",
    "criticality",
    "business_service",
    "revenue_per_hour",
    "users_served",
    "lifecycle",
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Edge(_Model):
    """A typed directed edge from the asset holding it to `target` (which may be unknown yet)."""

    type: EdgeType
    target: AssetId
    origin: str = Field("operator", max_length=128, description="operator, or discovery:<source>")
    attributes: dict[str, str] = Field(default_factory=dict, max_length=32)


class EdgeRef(_Model):
    """An edge's identity within its source asset."""

    type: EdgeType
    target: AssetId


class AssetFields(_Model):
    """The editable fields of an asset; all optional (a PATCH sets only what it names)."""

    natural_key: str | None = Field(None, max_length=512)
    name: Text | None = None
    type: Token | None = Field(None, description="router, switch, firewall, server, vm, database, ...")
    vendor: Text | None = None
    model: Text | None = None
    addresses: Addresses | None = None
    environment: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    location: Text | None = None
    contact: Text | None = None
    owner_team: Text | None = None
    tags: Tags | None = None
    attributes: Attributes | None = None
    criticality: int | None = Field(None, ge=1, le=5, description="1 (low) to 5 (critical)")
    business_service: Text | None = None
    revenue_per_hour: float | None = Field(None, ge=0, description="Revenue at risk per hour of outage")
    users_served: int | None = Field(None, ge=0)


class CreateArgs(AssetFields):
    """`asset.create`: name and type are required; lifecycle defaults to active."""

    name: Text
    type: Token
    lifecycle: Lifecycle = "active"
    dependencies: Annotated[list[Edge], Field(max_length=256)] = Field(default_factory=list)


class UpdateArgs(AssetFields):
    """`asset.update`: set the fields it names; `null` clears one (and hands it back to discovery).

    Serialize with `exclude_unset=True` so the agent sees which fields were named.
    """

    lifecycle: Literal["planned", "active", "maintenance"] | None = None

    @model_validator(mode="after")
    def _required_stay(self) -> UpdateArgs:
        for name in ("name", "type", "lifecycle"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be cleared")
        if not self.model_fields_set:
            raise ValueError("nothing to update: name at least one field")
        return self


class RetireArgs(_Model):
    """`asset.retire`: no args."""


class LinkArgs(_Model):
    """`asset.link`: add (or replace the attributes of) one outgoing edge."""

    type: EdgeType
    target: AssetId
    attributes: dict[str, str] = Field(default_factory=dict, max_length=32)


class UnlinkArgs(EdgeRef):
    """`asset.unlink`: remove one outgoing edge."""


COMMAND_ARGS: dict[str, type[_Model]] = {
    "asset.create": CreateArgs,
    "asset.update": UpdateArgs,
    "asset.retire": RetireArgs,
    "asset.link": LinkArgs,
    "asset.unlink": UnlinkArgs,
}


class Asset(_Model):
    """The full state of one asset."""

    asset_id: AssetId
    natural_key: str | None = None
    name: str
    type: str
    vendor: str | None = None
    model: str | None = None
    addresses: list[str] = Field(default_factory=list)
    environment: str | None = None
    location: str | None = None
    contact: str | None = None
    owner_team: str | None = None
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    criticality: int | None = None
    business_service: str | None = None
    revenue_per_hour: float | None = None
    users_served: int | None = None
    lifecycle: Lifecycle = "active"
    first_seen: datetime | None = Field(None, description="First discovery")
    last_seen: datetime | None = Field(None, description="Latest discovery")
    created_at: datetime
    updated_at: datetime
    edges: list[Edge] = Field(default_factory=list)
    pinned: list[str] = Field(default_factory=list, description="Fields an operator set: discovery keeps off")
    positions: dict[str, int] = Field(
        default_factory=dict, description="'topic:partition' -> highest input offset applied (idempotence)"
    )
    recent_commands: list[str] = Field(
        default_factory=list,
        description="Digests of the ids of the last commands applied: a client's retry is skipped",
    )
    version: int = 1


class AssetChanged(Record):
    """An accepted change of one asset: the snapshot after it, and its cause."""

    TYPE: ClassVar[str] = "asset_changed"
    VERSION: ClassVar[int] = 1

    kind: Literal["created", "updated", "retired", "linked", "unlinked", "discovered"]
    asset: Asset
    removed_edges: list[EdgeRef] = Field(default_factory=list)
    cause: str = Field(description="event_id of the command or observation applied")
    actor: str
    reason: str = ""

    @property
    def key(self) -> str:
        return self.asset.asset_id
