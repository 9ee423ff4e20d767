"""Raw observations as collectors and the API publish them on `ems.observations.raw`.

An observation is one of four kinds, discriminated by `kind`:
`event` (something happened), `metrics` (a batch of samples), `discovery` (facts about an asset),
`heartbeat` (a source is alive and promises to report again within `timeout`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from ems.schemas.envelope import Record
from ems.schemas.limits import Attributes, Finite, Label, Name, Tag, Text, Time, Timeout

Tags = Annotated[list[Tag], Field(max_length=64)]
Services = Annotated[list[Name], Field(max_length=32)]
Severity = Text(64, 1)
Labels = Annotated[dict[Text(128, 1), Label], Field(max_length=32)]
EdgeFacts = Annotated[dict[Text(128, 1), Label], Field(max_length=64)]
# A tenant (Alerta's customer): the rule of the users' and keys' tenants (api/security/accounts.py),
# so that every tenant a record carries is one a principal can be bound to.
Tenant = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class EventBody(_Body):
    """Something happened to a resource, with a severity."""

    kind: Literal["event"] = "event"
    event: Name = Field(description="What happened, e.g. NodeDown, HighLatency")
    severity: Severity = Field(description="One of the configured severities, e.g. critical, warning, ok")
    resource: Text(256) | None = Field(None, description="The thing affected; default: asset")
    title: Text(1024) = ""
    text: Text(8192) = ""
    environment: Text(64, 1) = "production"
    service: Services = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)
    value: Text(256) | None = None
    timeout: Timeout | None = Field(
        None, description="Alert expires after this many seconds without a repeat"
    )
    correlate: Annotated[list[Name], Field(max_length=16)] = Field(
        default_factory=list, description="Event names that act on the same alert (e.g. NodeDown, NodeUp)"
    )

    @field_validator("severity")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class MetricSample(_Body):
    """One sample of one metric of an asset."""

    name: Name
    value: Finite = Field(description="A finite number (NaN and Infinity are refused)")
    labels: Labels = Field(default_factory=dict)
    at: Time | None = Field(None, description="Sample time; default: the observation's time")


class MetricsBody(_Body):
    """A batch of metric samples."""

    kind: Literal["metrics"] = "metrics"
    samples: Annotated[list[MetricSample], Field(min_length=1, max_length=10_000)]


class DiscoveryBody(_Body):
    """Facts a collector found about an asset (name, type, vendor, addresses, interfaces...)."""

    kind: Literal["discovery"] = "discovery"
    facts: Attributes
    edges: Annotated[list[EdgeFacts], Field(max_length=1024)] = Field(
        default_factory=list, description="Topology edges: {type, target}"
    )


class HeartbeatBody(_Body):
    """The source is alive and will report again within `timeout` seconds."""

    kind: Literal["heartbeat"] = "heartbeat"
    timeout: int = Field(120, ge=1, le=86_400, description="Seconds within which the next beat is due")
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)


Body = Annotated[EventBody | MetricsBody | DiscoveryBody | HeartbeatBody, Field(discriminator="kind")]


class Observation(Record):
    """A raw observation (v3): envelope + source + asset + tenant + a kind-specific body. Keyed by
    asset id. v3 added `tenant` (v2 records are read with none: `ems.schemas.registry`)."""

    TYPE: ClassVar[str] = "observation"
    VERSION: ClassVar[int] = 3

    source: Name = Field(description="Who observed it: nms, cloud, apm, synthetic, api, ...")
    asset_id: Text(128) | None = None
    tenant: Tenant | None = Field(
        None, description="The tenant (customer) it belongs to; none: shared, seen only by untenanted users"
    )
    submitted_by: Text(256) | None = Field(
        None,
        description="The API principal that appended it (a user, or key:<name>); set by the API, never "
        "by the client; none for collectors producing to Kafka directly",
    )
    body: Body

    @property
    def key(self) -> str:
        return self.asset_id or self.source
