"""The asset registry's records: the asset snapshot, its edges, the command args and `AssetChanged`.

`ems.assets` (keyed by asset id) carries one `AssetChanged` per accepted change: the full snapshot
after the change (so the latest record of a key is enough to know the asset: compaction may drop
the older ones, nothing depends on it), what changed, and what caused it. The command args models
are shared by the API (which answers a 4xx on bad args) and the agent (which validates again).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ems.schemas.envelope import Record
from ems.schemas.limits import (
    INT4_MAX,
    MAX_JSON_BYTES,
    Attributes,
    Count,
    EventId,
    Finite,
    Label,
    Offset,
    Text,
    Time,
    between,
    json_object,
)
from ems.schemas.observation import Tenant

EdgeType = Literal["depends_on", "runs_on", "connected_to", "member_of"]
EDGE_TYPES: tuple[str, ...] = ("depends_on", "runs_on", "connected_to", "member_of")
Lifecycle = Literal["planned", "active", "maintenance", "retired"]
AssetId = Annotated[str, Field(min_length=5, max_length=128, pattern=r"^ast_[A-Za-z0-9_.:-]+$")]
Token = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Line = Text(256)
Tags = Annotated[list[Text(128, 1)], Field(max_length=64)]
Addresses = Annotated[list[Text(128, 1)], Field(max_length=64)]
EdgeAttributes = Annotated[dict[Text(128, 1), Label], Field(max_length=32)]
Criticality = between(1, 5)
Revenue = Annotated[Finite, Field(ge=0)]
Users = between(0, INT4_MAX)  # assets.users_served is an `integer`

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
    origin: Text(128) = Field("operator", description="operator, or discovery:<source>")
    attributes: EdgeAttributes = Field(default_factory=dict)


class EdgeRef(_Model):
    """An edge's identity within its source asset."""

    type: EdgeType
    target: AssetId


class AssetFields(_Model):
    """The editable fields of an asset; all optional (a PATCH sets only what it names)."""

    natural_key: Text(512) | None = None
    name: Line | None = None
    type: Token | None = Field(None, description="router, switch, firewall, server, vm, database, ...")
    vendor: Line | None = None
    model: Line | None = None
    addresses: Addresses | None = None
    environment: Text(64, 1) | None = None
    location: Line | None = None
    contact: Line | None = None
    owner_team: Line | None = None
    tags: Tags | None = None
    attributes: Attributes | None = None
    criticality: Criticality | None = Field(None, description="1 (low) to 5 (critical)")
    business_service: Line | None = None
    revenue_per_hour: Revenue | None = Field(None, description="Revenue at risk per hour of outage (finite)")
    users_served: Users | None = None


class CreateArgs(AssetFields):
    """`asset.create`: name and type are required; lifecycle defaults to active. The tenant is set
    at creation only (no update changes it)."""

    name: Line
    type: Token
    tenant: Tenant | None = Field(None, description="The tenant (customer) it belongs to; none: shared")
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
    attributes: EdgeAttributes = Field(default_factory=dict)


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

    # Bounds: those of the command args and discovery facts each field is set from (agents/assets.py);
    # attributes merge every update's and discovery's: no bound on their number or size.
    asset_id: AssetId
    natural_key: Text(512) | None = None
    name: Text(512) = Field(description="Discovery names an asset by its natural key when it has no name")
    type: Text(64)
    vendor: Line | None = None
    model: Line | None = None
    # A discovery's addresses are bounded only by the size of its facts (agents/assets.py).
    addresses: list[Text(MAX_JSON_BYTES)] = Field(default_factory=list)
    environment: Text(64) | None = None
    location: Line | None = None
    contact: Line | None = None
    owner_team: Line | None = None
    tags: list[Text(128)] = Field(default_factory=list)
    attributes: json_object(max_keys=INT4_MAX, max_bytes=None) = Field(default_factory=dict)
    criticality: Criticality | None = None
    business_service: Line | None = None
    revenue_per_hour: Revenue | None = None
    users_served: Users | None = None
    lifecycle: Lifecycle = "active"
    tenant: Tenant | None = Field(
        None, description="Set at creation (added later: older snapshots have none)"
    )
    first_seen: Time | None = Field(None, description="First discovery")
    last_seen: Time | None = Field(None, description="Latest discovery")
    created_at: Time
    updated_at: Time
    edges: list[Edge] = Field(default_factory=list)
    pinned: list[Text(512)] = Field(
        default_factory=list, description="Fields an operator set: discovery keeps off"
    )
    positions: dict[Text(512), Offset] = Field(
        default_factory=dict, description="'topic:partition' -> highest input offset applied (idempotence)"
    )
    recent_commands: list[Text(64)] = Field(
        default_factory=list,
        description="Digests of the ids of the last commands applied: a client's retry is skipped",
    )
    version: Count = 1


class AssetChanged(Record):
    """An accepted change of one asset: the snapshot after it, and its cause."""

    TYPE: ClassVar[str] = "asset_changed"
    VERSION: ClassVar[int] = 1

    kind: Literal["created", "updated", "retired", "linked", "unlinked", "discovered"]
    asset: Asset
    removed_edges: list[EdgeRef] = Field(default_factory=list)
    cause: EventId = Field(description="event_id of the command or observation applied")
    actor: Text(256, 1)
    reason: Text(4096) = ""

    @property
    def key(self) -> str:
        return self.asset.asset_id
