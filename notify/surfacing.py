"""Surfacing, pure: a firing alert muted by a maintenance window, a silence or flapping is notified once
when what mutes it ends with the alert still firing (Alertmanager notifies an alert whose silence
ended; here also a window's end or cancel, a silence's expiry, flapping's clear, and the recovery of
the down device an alert was a symptom of: `recovered`).

The notification stage keeps each muted firing alert (`MutedAlert`: its version, fields, what muted
it and `due`, the earliest end of that: a window's current interval's end or its cancel time, a
silence's `ends_at` or expiry time, flapping's `clears_at`). On the stage's event-time clock
(`advance(notifier, at)`: the latest event time read, never the wall clock) every alert due by then is
decided again with `ems.noise.decide` AT its due time: still muted (by another window, a silence that
started since, an inhibition) it waits for the next end, or is let go when nothing muting it ends (an
inhibition only); not muted, it gets one firing decision with `surfaced` naming what ended and one
delivery per routed receiver keyed `<alert id>:<version>:<what ended>:<receiver>` (a grouped route
takes it into its group instead; a route naming an escalation policy starts it). An alert that is
acknowledged, shelved or resolved meanwhile, or whose next firing change is notified, is let go; so is
one whose change is dropped (a window in drop mode covers it), when decided or when decided again:
a dropped alert is never surfaced.

A suppression change (a silence created or expired, a window created, edited or cancelled) makes every
kept alert's end worked out again with the new rules at the time it was last decided, so an early
expiry surfaces the alert at the expiry time. The kept alerts go out with each batch (`changed()`)
and are folded back on a restart (`restore`); a surfaced alert is let go in the batch that carries its
decision, so a restart never surfaces it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ems.agents.timers import TimerIndex
from ems.noise.decide import Decision, NoiseRules, decide
from ems.noise.flapping import FlapState, clears_at, is_flapping
from ems.noise.matchers import alert_fields
from ems.noise.windows import covering, next_end
from ems.notify.escalation import STOPPED_BY
from ems.notify.routing import matching_routes
from ems.schemas.alert import AlertChanged
from ems.schemas.notification import DECIDED_FIELDS, Delivery, MutedAlert, NotificationDecided

if TYPE_CHECKING:
    from ems.agents.notify import Notifier

FLAPPING = "flapping"
SYMPTOM = "symptom:"  # + the down alert's id: held until that alert stops firing (`recovered`)
HELD = datetime(2099, 12, 31, tzinfo=UTC)  # due "never" for an alert only a down device mutes (times < 2100)
LET_GO = STOPPED_BY  # the statuses that stop an escalation: someone has the alert, or it ended
MAX_TAG = 200  # longer "what ended" tags are shortened to a digest


def muting_end(fields: dict[str, Any], at: datetime, rules: NoiseRules, flap: FlapState) -> datetime | None:
    """When the first of the windows, silences and flapping muting the alert at `at` ends; None when
    none of them mutes it."""
    ends = [next_end(w, at) for w in covering(rules.windows, fields, at)]
    ends += [min(s.ends_at, s.expired_at or s.ends_at) for s in rules.silences if s.mutes(fields, at)]
    if is_flapping(flap, rules.flap_policy, at):
        ends.append(clears_at(flap, rules.flap_policy))
    return min((e for e in ends if e is not None), default=None)


def causes(decision: Decision) -> list[str]:
    """What in a decision can end: its window ids, silence ids, 'flapping' and `symptom:<alert id>` (the
    down alert it is a symptom of)."""
    flapping = [FLAPPING] if decision.flapping else []
    symptom = [SYMPTOM + decision.symptom_of.alert_id] if decision.symptom_of else []
    return [*decision.suppressed_by, *decision.silenced_by, *flapping, *symptom]


def tag(ended: list[str]) -> str:
    """The "what ended" part of a surfaced decision's keys (ids joined; a digest when long)."""
    text = "+".join(sorted(ended)) or "unmuted"
    return text if len(text) <= MAX_TAG else "ended-" + hashlib.sha256(text.encode()).hexdigest()[:32]


class Surfacer:
    """The muted firing alerts by id and their due times (`TimerIndex`, partition 0)."""

    def __init__(self) -> None:
        self.muted: dict[str, MutedAlert] = {}
        self.due = TimerIndex()
        self.due.mark_built(0)
        self.recheck = False  # the suppressions changed: work every end out again
        self._changed: dict[str, MutedAlert] = {}

    @property
    def unpublished(self) -> bool:
        return bool(self._changed)

    def changed(self) -> list[MutedAlert]:
        """Snapshots of the alerts changed since the last call (`due` None: let go), to publish."""
        out = [m.model_copy(deep=True) for _, m in sorted(self._changed.items())]
        self._changed.clear()
        return out

    def restore(self, snapshots: Iterable[MutedAlert]) -> None:
        """Fold published snapshots (a later one of an alert replaces the earlier)."""
        for muted in snapshots:
            self._set(muted.model_copy(deep=True), publish=False)

    def after(self, change: AlertChanged, decided: NotificationDecided | None, notifier: Notifier) -> None:
        """An alert change was decided (`decided`, None: it called for no decision): a muted firing
        change is kept until what mutes it ends; a notified one, or one leaving the alert acknowledged,
        shelved, resolved, closed or expired, lets the alert go."""
        alert = change.alert
        if decided is None:
            if alert.status in LET_GO:
                self._let_go(alert.alert_id)
            return
        if decided.kind != "firing" or decided.notify or decided.dropped_by or alert.status in LET_GO:
            self._let_go(alert.alert_id)
            return
        flapping = [FLAPPING] if decided.flapping else []
        symptom = [SYMPTOM + decided.symptom_of["alert_id"]] if decided.symptom_of else []
        muted = MutedAlert(
            alert_id=alert.alert_id,
            version=alert.version,
            at=decided.occurred_at,
            muted_by=[*decided.suppressed_by, *decided.silenced_by, *flapping, *symptom],
            fields=alert_fields(alert, notifier.dependencies.facts(alert.asset_id)),
        )
        self._schedule(muted, notifier)

    def recovered(self, parent_id: str, at: datetime) -> None:
        """The down alert `parent_id` stopped firing at `at`: its symptoms still kept are due then."""
        cause = SYMPTOM + parent_id
        for muted in sorted(self.muted.values(), key=lambda m: m.alert_id):
            if cause in muted.muted_by and muted.due is not None and at < muted.due:
                self._set(muted.model_copy(update={"due": at}))

    def advance(self, notifier: Notifier, at: datetime) -> list[NotificationDecided]:
        """The clock moved to `at`: the decisions of the alerts surfaced by then, in due order."""
        if self.recheck:
            self.recheck = False
            for muted in sorted(self.muted.values(), key=lambda m: m.alert_id):
                self._schedule(muted.model_copy(deep=True), notifier)
        made: list[NotificationDecided] = []
        while keys := self.due.pop_due(0, at):
            for key in keys:
                decided = self._redecide(self.muted[key.decode()], notifier)
                if decided is not None:
                    made.append(decided)
        return made

    def _redecide(self, muted: MutedAlert, notifier: Notifier) -> NotificationDecided | None:
        """Decide the alert again at its due time: still muted, it waits again (or is let go)."""
        at = muted.due
        assert at is not None
        fields, alert_id = muted.fields, muted.alert_id
        tenant = fields.get("tenant")
        firing = notifier.firing.of_tenant(tenant) if notifier.inhibit_rules else ()
        decision, flap = decide(
            fields,
            at,
            notifier.rules(tenant),
            firing=firing,
            flap=notifier.flap.get(alert_id),
            symptom_of=notifier.dependencies.symptom_of(fields),
        )
        if decision.drop:  # a drop window covers it now: never surfaced
            self._let_go(alert_id)
            return None
        if not decision.notify:
            self._schedule(muted.model_copy(update={"at": at, "muted_by": causes(decision)}), notifier)
            return None
        ended = tag(muted.muted_by)
        shown = {name: fields.get(name) for name in DECIDED_FIELDS}
        receivers: list[str] = []
        groups: list[str] = []
        escalations: list[str] = []
        for i in matching_routes(notifier.routes, fields):
            if policy := notifier.routes[i].escalation:  # as a notified firing change starts one
                started = notifier.escalator.start(policy, alert_id, muted.version, shown, at)
                escalations += [started] if started else []
            if not notifier.routes[i].receivers:
                continue
            if notifier.grouper.grouped(i):
                groups.append(notifier.grouper.add(i, alert_id, muted.version, fields, shown, at))
            else:
                receivers += [r for r in notifier.routes[i].receivers if r not in receivers]
        key = f"{alert_id}:{muted.version}"
        reasons = [f"surfaced: {', '.join(muted.muted_by)} ended at {at.isoformat()}, the alert still firing"]
        if groups:
            reasons.append(f"notified with its group: {', '.join(groups)}")
        elif not receivers and not escalations:
            reasons.append("no routing rule matches")
        if escalations:
            reasons.append(f"starts its escalation: {', '.join(escalations)}")
        self._let_go(alert_id)
        return NotificationDecided(
            event_id=f"{key}:{ended}",
            occurred_at=at,
            alert_id=alert_id,
            version=muted.version,
            kind="firing",
            alert=shown,
            notify=True,
            reasons=reasons,
            deliveries=[Delivery(key=f"{key}:{ended}:{r}", receiver=r) for r in receivers],
            flap=flap.to_dict(),
            surfaced=ended,
        )

    def _schedule(self, muted: MutedAlert, notifier: Notifier) -> None:
        """Keep `muted` until the first end of what mutes it at `muted.at` (let go when none ends)."""
        tenant = muted.fields.get("tenant")
        flap = notifier.flap.get(muted.alert_id) or FlapState()
        muted.due = muting_end(muted.fields, muted.at, notifier.rules(tenant), flap)
        if muted.due is None and any(cause.startswith(SYMPTOM) for cause in muted.muted_by):
            muted.due = HELD  # until its down device's alert stops firing (`recovered`)
        self._set(muted)

    def _let_go(self, alert_id: str) -> None:
        if alert_id in self.muted:
            self._set(self.muted[alert_id].model_copy(update={"due": None, "fields": {}}))

    def _set(self, muted: MutedAlert, publish: bool = True) -> None:
        old = self.muted.get(muted.alert_id)
        if muted.due is None:
            self.muted.pop(muted.alert_id, None)
        else:
            self.muted[muted.alert_id] = muted
        self.due.set(0, muted.alert_id.encode(), muted.due)
        if publish and muted != old and (old is not None or muted.due is not None):  # only what changed
            self._changed[muted.alert_id] = muted
