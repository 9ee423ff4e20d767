"""What the notification stage knows of the asset registry: the asset graph, each asset's facts (for
window scopes and matchers) and the open down alerts, to tell a symptom from its cause.

Topology suppression, as Zabbix's and LibreNMS's parent dependencies but computed from the asset graph:
while a device has an open alert whose event means "down or unreachable" (the correlate stage's
`EMS_CORRELATION_DOWN_EVENTS`), an alert of the same tenant on an asset that the pollers reach only
through it is a symptom of it. Which assets those are is the correlate stage's own rule,
`Topology.frontiers` (ems.ml.correlation.topology): walk from the assets tagged `poller` along
`connected_to` / `runs_on` without entering a down device; what is not reached sits behind the
nearest down device the walk stopped at. Without pollers nothing is known to be cut off.

The down alerts are kept from the decisions alone (a firing decision of a down event on an asset adds
the alert, a later one that is not removes it, and so does an alert that stopped firing undecided),
so folding `ems.notifications` on a restart gives the live stage's state. The highest alert version
wins whatever the order. Pure: no Kafka, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ems.ml.correlation.config import DEFAULT_DOWN_EVENTS, CorrelationConfig
from ems.ml.correlation.topology import Topology
from ems.noise.decide import SymptomOf
from ems.noise.matchers import Fields
from ems.schemas.asset import Asset

ENDED = frozenset({"resolved", "closed", "expired"})


@dataclass(frozen=True)
class DownAlert:
    """An open alert saying its asset is down."""

    alert_id: str
    asset_id: str
    tenant: str | None
    resource: str
    event: str


class Dependencies:
    """The asset graph and facts, and the open down alerts (see the module docstring)."""

    def __init__(self, down_events: str = DEFAULT_DOWN_EVENTS) -> None:
        self.is_down = CorrelationConfig(down_events=down_events).is_down  # the correlate stage's rule
        self.topology = Topology()
        self.version: dict[str, int] = {}  # alert id -> highest version decided or ended
        self.down: dict[str, DownAlert] = {}  # alert id -> its open down alert
        self.recovered: list[str] = []  # down alerts that stopped since `drain_recovered`

    def asset(self, asset: Asset) -> None:
        """Take an asset's latest snapshot (from `ems.assets`)."""
        self.topology.upsert(asset)

    def facts(self, asset_id: str | None) -> dict[str, Any] | None:
        """The asset's facts windows and matchers read as `asset.<x>`: tags, business_service, site
        (its location, else its `site` attribute), type, name; None for an unknown asset."""
        node = self.topology.nodes.get(asset_id) if asset_id else None
        if node is None:
            return None
        return {
            "tags": list(node.tags),
            "business_service": node.business_service,
            "site": node.site,
            "type": node.type,
            "name": node.name,
        }

    def see(self, alert_id: str, version: int, fields: Fields, firing: bool) -> None:
        """An alert decided at `version` with its recorded fields: down (kept) when it fires with a
        down event on an asset, else not."""
        if version <= self.version.get(alert_id, 0):
            return
        self.version[alert_id] = version
        asset_id = fields.get("asset_id")
        event = str(fields.get("event") or "")
        if firing and fields.get("status") not in ENDED and asset_id and self.is_down(event):
            tenant, resource = fields.get("tenant"), str(fields.get("resource") or "")
            self.down[alert_id] = DownAlert(alert_id, str(asset_id), tenant, resource, event)
        elif self.down.pop(alert_id, None) is not None:
            self.recovered.append(alert_id)

    def stop(self, alert_id: str, version: int) -> bool:
        """The alert stopped firing undecided at `version`; True when it was a down alert."""
        if version <= self.version.get(alert_id, 0):
            return False
        self.version[alert_id] = version
        if self.down.pop(alert_id, None) is None:
            return False
        self.recovered.append(alert_id)
        return True

    def drain_recovered(self) -> list[str]:
        """The down alerts that stopped firing since the last call (their symptoms may surface)."""
        out, self.recovered = self.recovered, []
        return out

    def symptom_of(self, fields: Fields) -> SymptomOf | None:
        """The down device the alert's asset is reached only through, with its open down alert (the
        lowest id when it has several), or None."""
        asset_id = fields.get("asset_id")
        if not asset_id or not self.down:
            return None
        tenant, own = fields.get("tenant"), fields.get("alert_id")
        downs = [d for d in self.down.values() if d.tenant == tenant and d.alert_id != own]
        if not downs:
            return None
        front = self.topology.frontiers(frozenset(d.asset_id for d in downs)).get(str(asset_id))
        if front is None:
            return None
        parent = min((d for d in downs if d.asset_id == front), key=lambda d: d.alert_id)
        return SymptomOf(parent.alert_id, parent.asset_id, parent.resource, parent.event)
