"""Builders shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from ems.agents.fingerprint import Fingerprinter
from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.normalize import Normalizer
from ems.agents.severity import SeverityPolicy
from ems.api.ingest import EventIn, parse_items
from ems.schemas.asset import Asset, Edge
from ems.schemas.event import Event
from ems.schemas.observation import EventBody, Observation
from ems.settings import Settings

SETTINGS = Settings()
POLICY = SeverityPolicy.of(SETTINGS.severity_order, SETTINGS.clearing_severities)
LIFECYCLE = LifecyclePolicy(POLICY, alert_timeout=SETTINGS.alert_timeout, ack_timeout=0)
NORMALIZER = Normalizer(
    POLICY, Fingerprinter(SETTINGS.fingerprint_fields), Normalizer.correlation_map(SETTINGS.correlate)
)
T0 = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)


def observation(
    asset: str = "ast_router_01",
    event: str = "NodeDown",
    severity: str = "critical",
    seconds: int = 0,
    **body: object,
) -> Observation:
    return Observation(
        source="nms",
        asset_id=asset,
        occurred_at=T0 + timedelta(seconds=seconds),
        body=EventBody(event=event, severity=severity, **body),
    )


def event(
    asset: str = "ast_router_01",
    name: str = "NodeDown",
    severity: str = "critical",
    *,
    partition: int = 0,
    offset: int = 0,
    seconds: int | None = None,
) -> Event:
    obs = observation(asset, name, severity, seconds if seconds is not None else offset)
    return NORMALIZER.normalize(obs, partition, offset)


def asset(name: str, kind: str = "server", edges: Iterable[tuple[str, str]] = (), **fields: object) -> Asset:
    """The asset `ast_<name>` with (edge type, target name) edges, e.g. `[("connected_to", "wan")]`."""
    return Asset(
        asset_id=f"ast_{name}",
        name=name,
        type=kind,
        edges=[Edge(type=t, target=f"ast_{x}") for t, x in edges],
        created_at=T0,
        updated_at=T0,
        **fields,
    )


def asset_obs(
    at: float, name: str, event: str = "Device Unreachable", severity: str = "critical", title: str = ""
) -> Observation:
    """`event` on the asset `ast_<name>` (its resource `name`) `at` seconds after T0, with an id of its
    own: the alerts of the root-cause tests."""
    return Observation(
        event_id=f"{name}-{event}-{at}",
        source="nms",
        asset_id=f"ast_{name}",
        occurred_at=T0 + timedelta(seconds=at),
        body=EventBody(event=event, severity=severity, resource=name, title=title),
    )


def parse_observations(payload: object, known_severities: set[str]) -> list[Observation]:
    """What `POST /api/v1/events` appends for `payload`, as Observations (each event built by
    `EventIn.to_observation`, which the appended bytes equal: tests/unit/test_event_records.py)."""
    return [
        item.to_observation() if isinstance(item, EventIn) else item
        for item in parse_items(payload, known_severities)
    ]
