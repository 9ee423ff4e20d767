"""Normalize stage core: raw observation -> normalized Event (or a reason to reject it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ems.agents.fingerprint import Fingerprinter
from ems.agents.severity import SeverityPolicy
from ems.schemas.event import Event
from ems.schemas.observation import EventBody, Observation


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
        if not self.severities.is_known(body.severity):
            raise Rejected(
                f"unknown severity {body.severity!r}; expected one of {', '.join(self.severities.order)}"
            )
        fields = {
            "source": obs.source,
            "severity": body.severity,
            "event": body.event,
            "resource": body.resource or obs.asset_id or obs.source,
            "title": body.title or body.event,
            "text": body.text,
            "asset_id": obs.asset_id,
            "environment": body.environment,
            "service": sorted(set(body.service)),
            "tags": sorted(set(body.tags)),
            "attributes": body.attributes,
            "value": body.value,
        }
        return Event(
            event_id=obs.event_id,
            occurred_at=obs.occurred_at,
            observation_id=obs.event_id,
            fingerprint=self.fingerprint(
                obs.source, {**fields, "event": self.correlated_name(body.event, body.correlate)}, obs.tenant
            ),
            tenant=obs.tenant,
            submitted_by=obs.submitted_by,
            timeout=body.timeout,
            raw_partition=raw_partition,
            raw_offset=raw_offset,
            **fields,
        )
