"""Raw observations as collectors and the API publish them on `ems.observations.raw`.

An observation is one of four kinds, discriminated by `kind`:
`event` (something happened), `metrics` (a batch of samples), `discovery` (facts about an asset),
`heartbeat` (a source is alive and promises to report again within `timeout`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ems.schemas.envelope import Record

Name = Annotated[str, Field(min_length=1, max_length=256)]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=64)]
Attributes = Annotated[dict[str, Any], Field(max_length=128)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class EventBody(_Body):
    """Something happened to a resource, with a severity."""

    kind: Literal["event"] = "event"
    event: Name = Field(description="What happened, e.g. NodeDown, HighLatency")
    severity: str = Field(description="One of the configured severities, e.g. critical, warning, ok")
    resource: str | None = Field(None, max_length=256, description="The thing affected; default: asset")
    title: str = Field("", max_length=1024)
    text: str = Field("", max_length=8192)
    environment: str = Field("production", min_length=1, max_length=64)
    service: Annotated[list[Name], Field(max_length=32)] = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)
    value: str | None = Field(None, max_length=256)
    timeout: int | None = Field(
        None, ge=0, le=31_536_000, description="Alert expires after this many seconds without a repeat"
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
    value: float
    labels: dict[str, str] = Field(default_factory=dict, max_length=32)
    at: datetime | None = Field(None, description="Sample time; default: the observation's time")


class MetricsBody(_Body):
    """A batch of metric samples."""

    kind: Literal["metrics"] = "metrics"
    samples: Annotated[list[MetricSample], Field(min_length=1, max_length=10_000)]


class DiscoveryBody(_Body):
    """Facts a collector found about an asset (name, type, vendor, addresses, interfaces...)."""

    kind: Literal["discovery"] = "discovery"
    facts: Attributes
    edges: Annotated[list[dict[str, str]], Field(max_length=1024)] = Field(
        default_factory=list, description="Topology edges: {type, target}"
    )


class HeartbeatBody(_Body):
    """The source is alive and will report again within `timeout` seconds."""

    kind: Literal["heartbeat"] = "heartbeat"
    timeout: int = Field(120, ge=1, le=86_400)
    tags: Tags = Field(default_factory=list)


Body = Annotated[EventBody | MetricsBody | DiscoveryBody | HeartbeatBody, Field(discriminator="kind")]


class Observation(Record):
    """A raw observation (v2): envelope + source + asset + a kind-specific body. Keyed by asset id."""

    TYPE: ClassVar[str] = "observation"
    VERSION: ClassVar[int] = 2

    source: Name = Field(description="Who observed it: nms, cloud, apm, synthetic, api, ...")
    asset_id: str | None = Field(None, max_length=128)
    body: Body

    @property
    def key(self) -> str:
        return self.asset_id or self.source
