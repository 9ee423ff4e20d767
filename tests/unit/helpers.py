"""Builders shared by the unit tests."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

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


# Generated records for the canonical-form checks (tests/unit/test_*_canonical.py): short texts
# without NUL or surrogates, and without \x1c-\x1f, white space to Python's strip but not to
# pydantic's (a text ending in one is declined and decoded in full, not misread); times with and
# without an offset, within the schema's range.
canonical_texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x1c\x1d\x1e\x1f"), max_size=6
)
canonical_times = st.datetimes(
    datetime(1970, 1, 2),
    datetime(2099, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]),
)

# Mutations of an observation's envelope that each break one rule of the schema, as (path, value)
# for `mutated`: every canonical-form check must decline each of them.
ENVELOPE_MUTATIONS = [
    (("source",), ""),
    (("source",), " nms"),
    (("source",), "a\x00b"),
    (("source",), "nms\x1f"),
    (("source",), "x" * 257),
    (("source",), 5),
    (("asset_id",), "r\x00"),
    (("asset_id",), "x" * 129),
    (("tenant",), "-acme"),
    (("tenant",), "acme\n"),
    (("tenant",), "x" * 65),
    (("submitted_by",), "k\x00"),
    (("event_id",), ""),
    (("occurred_at",), "1969-12-31T23:59:59Z"),
    (("occurred_at",), "2100-01-01T00:00:00Z"),
    (("occurred_at",), "2099-12-31T23:30:00-01:00"),
    (("occurred_at",), "2026-11-27T23:59:30"),
    (("occurred_at",), "2026-11-27 23:59:30Z"),
    (("occurred_at",), "2026-13-27T23:59:30Z"),
    (("occurred_at",), "2026-11-27T23:59:30.1234567Z"),
    (("occurred_at",), 1_764_000_000),
    (("schema_version",), 2),
    (("type",), "event"),
    (("+", "extra"), 1),
    (("-", "tenant"), None),
]


def mutated(data: dict, path: tuple, value: object) -> dict:
    """A deep copy of parsed JSON `data` with `value` put at `path` (keys and indexes); a path
    ending in `"+", key` adds the key, one ending in `"-", key` removes it."""
    data = copy.deepcopy(data)
    *parents, last = path
    node = data
    if parents and parents[-1] in ("+", "-"):
        *parents, op = parents
        for p in parents:
            node = node[p]
        if op == "+":
            node[last] = value
        else:
            del node[last]
        return data
    for p in parents:
        node = node[p]
    node[last] = value
    return data
