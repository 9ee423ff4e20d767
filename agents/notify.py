"""The notification stage's pure core: decides, on event time, whether an alert change is notified.

`Notifier.on_change(change, source, offset)` returns the `NotificationDecided` for one alert change, or
None when the change calls for no notification (a repeat, an ack, a note...) or was decided before (a
redelivery: its position is below the one recorded). A change that opens, reopens or changes the
severity of an alert is a `firing` notification; one that resolves, closes or expires it a `resolved`
one, sent only to the receivers its last firing notification went to. `ems.noise.decide` runs on the
alert's fields at the event time of the change's last such transition, with the silences and windows
the suppression stage published and the alert's flap state; a muted change is recorded with the ids
that mute it and has no deliveries; one covered by a window in drop mode also names it in `dropped_by`
and is never surfaced. With inhibition rules (`ems.notify.inhibit`), the other alerts of
the tenant firing when the change is decided (in the order the stage reads the changes) are the
sources. No wall clock is read here.

With the asset registry (`apply_asset`, ems.notify.topology), the alert's asset facts are matched by
windows, silences and routes (`asset.tags`, `asset.site`, ...), and a firing change of an alert whose
asset the pollers reach only through a device with an open down alert is muted as a symptom of that
alert (`symptom_of`).

Routes with `group_by` (ems.notify.grouping) take the notified alerts into groups instead: the alert's
decision names its groups in `reasons`, and `advance(at)` (the stage's clock, the latest event time
read) returns one decision per group flushed, and one per muted alert surfaced (ems.notify.surfacing:
its window, silence or flapping ended with the alert still firing). A route naming an escalation policy
(ems.notify.escalation) starts the alert's escalation with its notified firing change; the steps fire
on the same clock, and any change leaving the alert acknowledged, shelved, resolved, closed or expired
stops it.

The state (flap state, receivers notified, firing alerts, positions per alert) is rebuilt from the
decisions alone, and from the `ended` alerts of each batch (those that stopped firing without a
decision); the groups and the clock from the batches' snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from ems.agents.suppressions import Suppressions
from ems.ml.correlation.config import DEFAULT_DOWN_EVENTS
from ems.noise.decide import NoiseRules, decide
from ems.noise.flapping import FlapPolicy, FlapState
from ems.noise.inhibition import InhibitRule
from ems.noise.matchers import alert_fields
from ems.notify.config import RouteConfig
from ems.notify.escalation import STOPPED_BY, Escalator
from ems.notify.grouping import Grouper
from ems.notify.inhibit import FiringAlerts
from ems.notify.routing import matching_routes, notification_key
from ems.notify.surfacing import Surfacer
from ems.notify.topology import Dependencies
from ems.schemas.alert import AlertChanged
from ems.schemas.asset import Asset
from ems.schemas.notification import DECIDED_FIELDS, Delivery, NotificationBatch, NotificationDecided
from ems.schemas.suppression import SuppressionBatch

FIRING = frozenset({"opened", "reopened", "severity_changed"})
RESOLVED = frozenset({"resolved", "closed", "expired"})
ENDED = frozenset({"resolved", "closed", "expired"})  # statuses after which the alert is not firing


class Notifier:
    """Routing rules, the silences and windows, and per alert its flap state and notified receivers."""

    def __init__(
        self,
        routes: Sequence[RouteConfig],
        flap_policy: FlapPolicy | None = None,
        inhibit_rules: Sequence[InhibitRule] = (),
        escalator: Escalator | None = None,
        down_events: str = DEFAULT_DOWN_EVENTS,
    ) -> None:
        self.routes = tuple(routes)
        self.flap_policy = flap_policy or FlapPolicy()
        self.inhibit_rules = tuple(inhibit_rules)
        self.firing = FiringAlerts()  # kept only with inhibition rules
        self.ended: dict[str, int] = {}  # alert id -> version: stopped firing undecided, not published yet
        self.suppressions = Suppressions()
        self.dependencies = Dependencies(down_events)  # asset graph and facts, open down alerts
        self.flap: dict[str, FlapState] = {}
        self.notified: dict[str, list[str]] = {}  # alert id -> receivers of its last firing notification
        self.positions: dict[str, int] = {}  # "alerts:<partition>" / "commands:<partition>" -> next offset
        self.grouper = Grouper(self.routes)
        self.escalator = escalator or Escalator()
        self.surfacer = Surfacer()  # muted firing alerts, notified when what mutes them ends
        self._rules: dict[str | None, NoiseRules] = {}  # per tenant, until the suppressions change

    def restore(self, batches: Iterable[NotificationBatch]) -> None:
        """The state after the published batches (decisions and positions), folded in order."""
        for batch in batches:
            for decision in batch.decisions:
                if decision.group_id is None and decision.escalation is None:  # an alert's own
                    self._keep(decision)
            self.grouper.restore(batch.groups, batch.clock)
            self.escalator.restore(batch.escalations)
            self.surfacer.restore(batch.muted)
            for alert_id, version in batch.ended.items():
                self._stopped(alert_id, version)
            self.positions.update(batch.positions)
        self.dependencies.drain_recovered()  # recoveries the batches carry were surfaced then

    def batch(self, decisions: list[NotificationDecided]) -> NotificationBatch:
        """The record of one input batch: its decisions, the alerts ended undecided, the positions."""
        ended, self.ended = self.ended, {}
        return NotificationBatch(
            decisions=decisions,
            positions=dict(self.positions),
            ended=ended,
            groups=self.grouper.changed(),
            clock=self.grouper.clock,
            escalations=self.escalator.changed(),
            muted=self.surfacer.changed(),
        )

    def advance(self, at: datetime | None) -> list[NotificationDecided]:
        """Move the clock to the event time `at` (never back; None: stay), surface the muted alerts whose
        window, silence or flapping ended, flush the groups and fire the escalation steps due by then:
        their decisions."""
        at = max(filter(None, (at, self.grouper.clock)), default=None)
        if at is None:
            return []
        surfaced = self.surfacer.advance(self, at)  # ems.notify.surfacing
        for decision in surfaced:
            self._keep(decision)
        return [*surfaced, *self.grouper.advance(at), *self.escalator.advance(at)]

    def seen(self, source: str, offset: int) -> bool:
        """Record the position of an alert record; False when it was decided before (a redelivery)."""
        if offset < self.positions.get(source, 0):
            return False
        self.positions[source] = offset + 1
        return True

    def apply_suppressions(self, batch: SuppressionBatch) -> None:
        """The silences and windows after one batch of the suppression stage."""
        self.suppressions.restore([batch])
        self._rules.clear()
        self.surfacer.recheck = True

    def apply_asset(self, asset: Asset) -> None:
        """An asset's latest snapshot (from `ems.assets`)."""
        self.dependencies.asset(asset)

    def rules(self, tenant: str | None) -> NoiseRules:
        """The silences and windows that apply to an alert of `tenant` (theirs, and those of none),
        built once per tenant and set of suppressions (their matchers are compiled then)."""
        if tenant not in self._rules:
            self._rules[tenant] = self._build_rules(tenant)
        return self._rules[tenant]

    def _build_rules(self, tenant: str | None) -> NoiseRules:
        silences = [
            s.rule(s.silence_id, s.created_by, s.expired_at)
            for s in self.suppressions.silences.values()
            if s.tenant in (None, tenant)
        ]
        windows = [
            w.rule(w.window_id, w.created_by, w.cancelled_at)
            for w in self.suppressions.windows.values()
            if w.tenant in (None, tenant)
        ]
        return NoiseRules(
            windows=windows, silences=silences, inhibit_rules=self.inhibit_rules, flap_policy=self.flap_policy
        )

    def step(self, change: AlertChanged) -> list[NotificationDecided]:
        """The clock moved to the change's event time (the groups due by then flushed), then its decision."""
        at = max(t.at for t in change.transitions) if change.transitions else None
        made = self.advance(at) if at is not None else []
        if at is not None:  # an ack (or a resolve...) before the next step stops the escalation
            self.escalator.stop(change.alert.alert_id, change.alert.status, at)
        decided = self.on_change(change)
        self.surfacer.after(change, decided, self)
        later: list[NotificationDecided] = []
        if at is not None and (recovered := self.dependencies.drain_recovered()):
            for parent in recovered:  # its symptoms still firing surface now (ems.notify.surfacing)
                self.surfacer.recovered(parent, at)
            later = self.advance(at)
        escalated = self.escalator.advance(self.grouper.clock) if self.grouper.clock else []  # a step 1
        mine = [decided] if decided is not None else []
        return [*made, *mine, *later, *escalated]

    def on_change(self, change: AlertChanged) -> NotificationDecided | None:
        """The decision for one alert change, or None when it calls for no notification."""
        relevant = [t for t in change.transitions if t.kind in FIRING | RESOLVED]
        if not relevant:
            return None
        alert = change.alert
        kind = "resolved" if alert.status in ENDED else "firing"
        grouped = self.grouper.holds(alert.alert_id)
        if kind == "resolved" and not self.notified.get(alert.alert_id) and not grouped:
            if self._stopped(alert.alert_id, alert.version):  # no longer a source or a down device
                self.ended[alert.alert_id] = alert.version
            return None  # nothing was announced, so nothing is resolved (Alertmanager sends neither)
        at = relevant[-1].at
        fields = alert_fields(alert, self.dependencies.facts(alert.asset_id))
        firing = self.firing.of_tenant(alert.tenant) if self.inhibit_rules else ()
        symptom_of = self.dependencies.symptom_of(fields) if kind == "firing" else None
        decision, flap = decide(
            fields,
            at,
            self.rules(alert.tenant),
            firing=firing,
            flap=self.flap.get(alert.alert_id),
            symptom_of=symptom_of,
        )
        shown = {name: fields.get(name) for name in DECIDED_FIELDS}
        reasons = list(decision.reasons)
        receivers: list[str] = []
        groups: list[str] = []
        escalations: list[str | None] = []
        if kind == "resolved":
            receivers = self.notified.get(alert.alert_id, []) if decision.notify else []
            groups = self.grouper.resolve(alert.alert_id, alert.version, shown, at, decision.notify)
        elif decision.notify:
            for i in matching_routes(self.routes, fields):
                if (policy := self.routes[i].escalation) and alert.status not in STOPPED_BY:
                    escalations.append(self.escalator.start(policy, alert.alert_id, alert.version, shown, at))
                if not self.routes[i].receivers:
                    continue
                if self.grouper.grouped(i):
                    groups.append(self.grouper.add(i, alert.alert_id, alert.version, fields, shown, at))
                else:
                    receivers += [r for r in self.routes[i].receivers if r not in receivers]
        key = alert.alert_id, alert.version
        deliveries = [Delivery(key=notification_key(*key, r), receiver=r) for r in receivers]
        if groups:
            how = "notified with its group" if decision.notify else "leaves its group unannounced"
            reasons.append(f"{how}: {', '.join(groups)}")
        elif decision.notify and not receivers and not escalations:
            reasons.append("no routing rule matches")
        if any(escalations):
            reasons.append(f"starts its escalation: {', '.join(e for e in escalations if e)}")
        if decision.drop:
            windows = ", ".join(decision.dropped_by)
            reasons.append(f"dropped: {windows} in drop mode; never notified, not surfaced when it ends")
        made = NotificationDecided(
            event_id=f"{alert.alert_id}:{alert.version}",
            occurred_at=at,
            alert_id=alert.alert_id,
            version=alert.version,
            kind=kind,
            alert=shown,
            notify=decision.notify,
            suppressed_by=list(decision.suppressed_by),
            dropped_by=list(decision.dropped_by),
            silenced_by=list(decision.silenced_by),
            inhibited_by=[{"rule_id": i.rule_id, "source_id": i.source_id} for i in decision.inhibited_by],
            flapping=decision.flapping,
            reasons=reasons,
            deliveries=deliveries,
            flap=flap.to_dict(),
            symptom_of=symptom_of.to_dict() if symptom_of else None,
        )
        self._keep(made)
        return made

    def _stopped(self, alert_id: str, version: int) -> bool:
        """The alert stopped firing undecided at `version`; True when a source or a down device."""
        was_source = bool(self.inhibit_rules) and alert_id in self.firing.fields
        if self.inhibit_rules:
            self.firing.see(alert_id, version, None)
        return self.dependencies.stop(alert_id, version) or was_source

    def _keep(self, decision: NotificationDecided) -> None:
        self.flap[decision.alert_id] = FlapState.from_dict(decision.flap)
        self.dependencies.see(decision.alert_id, decision.version, decision.alert, decision.kind == "firing")
        if self.inhibit_rules:
            fires = decision.kind == "firing" and decision.alert.get("status") not in ENDED
            self.firing.see(decision.alert_id, decision.version, decision.alert if fires else None)
        if decision.kind == "resolved":
            if decision.notify:
                self.notified.pop(decision.alert_id, None)
        elif decision.deliveries:
            self.notified[decision.alert_id] = [d.receiver for d in decision.deliveries]
