"""The dependency map from client spans: service -> service and service -> database edges. Pure.

A client (or producer) span of service A names what it called: `db.system` (with `db.namespace` /
`db.name` or `server.address`) is a database; else `peer.service` is a service; else
`server.address` is taken as the called service's name. Each becomes a `depends_on` edge of A's
asset to the target's asset (ids from natural keys `service:<name>`, `database:<system>/<name>`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ems.schemas.identity import asset_id_for
from ems.schemas.observation import DiscoveryBody, Observation
from ems.schemas.span import SpanBatch, SpanSummary

SOURCE = "apm"


@dataclass(frozen=True, order=True)
class Target:
    """What a service depends on."""

    type: str  # service | database
    name: str
    system: str = ""  # the database system (postgresql, redis...)

    @property
    def natural_key(self) -> str:
        return f"service:{self.name}" if self.type == "service" else f"database:{self.system}/{self.name}"

    @property
    def asset_id(self) -> str:
        return asset_id_for(self.natural_key)


def target_of(span: SpanSummary) -> Target | None:
    """What a client span called (None for a server span or one that names nothing)."""
    if span.role != "client":
        return None
    if span.db_system:
        return Target("database", span.db_name or span.server_address or span.db_system, span.db_system)
    if span.peer_service:
        return Target("service", span.peer_service)
    if span.server_address:
        return Target("service", span.server_address)
    return None


def service_key(service: str) -> str:
    return f"service:{service}"


@dataclass
class DependencyMap:
    """Every (tenant, service)'s targets seen so far; `add` answers the discoveries to publish:
    the service with ALL its edges (discovery replaces the edges a source reported before) when it is
    new or gained an edge, and each database the first time it is named."""

    edges: dict[tuple[str | None, str], set[Target]] = field(default_factory=dict)
    databases: set[tuple[str | None, Target]] = field(default_factory=set)

    def add(self, batch: SpanBatch) -> list[Observation]:
        key = (batch.tenant, batch.service)
        known = self.edges.get(key)
        found = {
            t
            for t in map(target_of, batch.spans)
            if t is not None and t.natural_key != service_key(batch.service)
        }
        out = []
        for target in sorted(found):
            if target.type == "database" and (batch.tenant, target) not in self.databases:
                self.databases.add((batch.tenant, target))
                out.append(database_discovery(target, batch))
        if known is None or not found <= known:
            merged = (known or set()) | found
            self.edges[key] = merged
            out.append(service_discovery(batch.service, merged, batch))
        return out


def _from(batch: SpanBatch, natural_key: str) -> dict[str, Any]:
    """Envelope fields derived from the input batch: a replay publishes the same ids and times."""
    digest = hashlib.sha256(f"{batch.event_id}\x1f{natural_key}".encode()).hexdigest()[:32]
    return {"event_id": f"apm-{digest}", "occurred_at": batch.occurred_at, "tenant": batch.tenant}


def service_discovery(service: str, targets: set[Target], batch: SpanBatch) -> Observation:
    """The discovery of a service asset with its depends_on edges."""
    edges = [
        {"type": "depends_on", "target": t.asset_id, "target_name": t.name, "target_type": t.type}
        for t in sorted(targets)
    ]
    facts = {
        "natural_key": service_key(service),
        "name": service,
        "type": "service",
        "attributes": {"apm": True},
    }
    return Observation(
        source=SOURCE,
        asset_id=asset_id_for(service_key(service)),
        **_from(batch, service_key(service)),
        body=DiscoveryBody(facts=facts, edges=edges),
    )


def database_discovery(target: Target, batch: SpanBatch) -> Observation:
    """The discovery of a database named by client spans (it sends no spans of its own)."""
    facts = {
        "natural_key": target.natural_key,
        "name": target.name,
        "type": "database",
        "vendor": target.system,
        "attributes": {"apm": True, "db_system": target.system},
    }
    return Observation(
        source=SOURCE,
        asset_id=target.asset_id,
        **_from(batch, target.natural_key),
        body=DiscoveryBody(facts=facts),
    )
