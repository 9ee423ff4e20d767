"""`SpanBatch`: the spans of one service from one OTLP request, as the receiver appends them to
`ems.apm.spans` (keyed by service, so one aggregation instance sees all of a service's spans).

Only what the aggregation needs is kept: server spans (requests) for the endpoint metrics and client
or producer spans for the dependency map (their `peer.service`, `db.system`, `server.address`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ems.schemas.envelope import Record
from ems.schemas.limits import Finite, Name, Text
from ems.schemas.observation import Tenant


class SpanSummary(BaseModel):
    """One span, reduced: its endpoint, role, end time (the event time), duration and outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: Name = Field(description="http.route (with the method) or the span name")
    role: Literal["server", "client"] = Field(description="server/consumer spans, or client/producer")
    end_ns: int = Field(ge=0, description="End time, Unix nanoseconds (the window a span counts in)")
    duration_ms: Annotated[Finite, Field(ge=0)]
    error: bool = False
    peer_service: Text(256) | None = None
    db_system: Text(128) | None = None
    db_name: Text(256) | None = None
    server_address: Text(256) | None = None


class SpanBatch(Record):
    """The reduced spans of one service from one request."""

    TYPE: ClassVar[str] = "span_batch"
    VERSION: ClassVar[int] = 1

    service: Name
    tenant: Tenant | None = None
    spans: Annotated[list[SpanSummary], Field(min_length=1, max_length=100_000)]

    @property
    def key(self) -> str:
        return self.service
