"""Normalize stage core: raw observation -> normalized Event (or a reason to reject it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ems.agents.fingerprint import Fingerprinter
from ems.agents.severity import SeverityPolicy
from ems.schemas.canonical import Envelope, utc_text
from ems.schemas.event import Event
from ems.schemas.observation import EventBody, Observation

EVENT_FIELDS = tuple(Event.model_fields)  # the order `encode` writes them in


class Rejected(ValueError):
    """The observation is well-formed but not acceptable (e.g. unknown severity)."""


@dataclass(frozen=True)
class Normalizer:
    """Turns event observations into Events. Pure: no I/O, no clock."""

    severities: SeverityPolicy
    fingerprint: Fingerprinter
    correlated: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def correlation_map(groups: Iterable[Iterable[str]]) -> dict[str, str]:
        """Event name -> the name its group is fingerprinted under (the group's first name)."""
        return {name: names[0] for names in map(list, groups) if names for name in names}

    def correlated_name(self, event: str, correlate: list[str]) -> str:
        """The event name used in the fingerprint: correlated events (NodeDown, NodeUp) share one.

        An event's own `correlate` list (Alerta's field) wins over the configured groups; its
        smallest name is used, so every member of the list picks the same one whatever its order.
        """
        if correlate:
            return min({event, *correlate})
        return self.correlated.get(event, event)

    def normalize(self, obs: Observation, raw_partition: int, raw_offset: int) -> Event:
        """The Event for an `event` observation read at (raw_partition, raw_offset)."""
        body = obs.body
        if not isinstance(body, EventBody):
            raise TypeError(f"normalize takes event observations, not {body.kind}")
        fields = self.fields(obs.source, obs.asset_id, obs.tenant, vars(body))
        return Event(
            event_id=obs.event_id,
            occurred_at=obs.occurred_at,
            observation_id=obs.event_id,
            tenant=obs.tenant,
            submitted_by=obs.submitted_by,
            timeout=body.timeout,
            raw_partition=raw_partition,
            raw_offset=raw_offset,
            **fields,
        )

    def normalize_canonical(self, obs: Envelope, raw_partition: int, raw_offset: int) -> dict[str, Any]:
        """What `normalize` gives, as `encode` writes it (its JSON form), for an event observation
        checked by `ems.schemas.event_canonical.read_event`: without building either model."""
        body = obs.body
        values = self.fields(obs.source, obs.asset_id, obs.tenant, body)
        values.update(
            type=Event.TYPE,
            schema_version=Event.VERSION,
            event_id=obs.event_id,
            occurred_at=utc_text(obs.occurred_at),
            observation_id=obs.event_id,
            tenant=obs.tenant,
            submitted_by=obs.submitted_by,
            timeout=body["timeout"],
            raw_partition=raw_partition,
            raw_offset=raw_offset,
        )
        return {name: values[name] for name in EVENT_FIELDS}

    def fields(
        self, source: str, asset_id: str | None, tenant: str | None, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The Event's fields made of an observation's (a validated body's fields by name), with
        the fingerprint; `Rejected` for a severity not configured."""
        severity = body["severity"]
        if not self.severities.is_known(severity):
            raise Rejected(
                f"unknown severity {severity!r}; expected one of {', '.join(self.severities.order)}"
            )
        event = body["event"]
        fields = {
            "source": source,
            "severity": severity,
            "event": event,
            "resource": body["resource"] or asset_id or source,
            "title": body["title"] or event,
            "text": body["text"],
            "asset_id": asset_id,
            "environment": body["environment"],
            "service": sorted(set(body["service"])),
            "tags": sorted(set(body["tags"])),
            "attributes": body["attributes"],
            "value": body["value"],
        }
        named = {**fields, "event": self.correlated_name(event, body["correlate"])}
        fields["fingerprint"] = self.fingerprint(source, named, tenant)
        return fields
