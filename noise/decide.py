"""The noise decision for one alert change at its event time: windows, silences, inhibition, flapping.

`decide` is pure: the same alert, time, rules, firing alerts and flap state give the same decision, so
a replay decides alike. The alert is notified only when nothing mutes it. `suppressed_by` lists
every open window covering the alert, `dropped_by` those of them in "drop" mode: a change covered by
one is dropped (`drop`): never notified, not surfaced when the window ends, and hidden from the alert
list by default; the change itself stays in the log (docs/noise.md, "Drop windows"). An alert whose
asset the pollers reach only through a device that is down (`symptom_of`, found by the caller:
ems.notify.topology) is a symptom of that device's alert and muted. Every muting cause is listed in
`reasons`, in a fixed order: windows, silences, inhibitions, the down device, flapping (each by id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ems.noise.flapping import FlapPolicy, FlapState, clears_at, is_flapping, observe
from ems.noise.inhibition import Inhibition, InhibitRule, inhibitions_of
from ems.noise.matchers import Fields
from ems.noise.schedule import utc
from ems.noise.silences import Silence, silencing
from ems.noise.windows import MaintenanceWindow, covering, next_end


@dataclass(frozen=True)
class NoiseRules:
    """What is configured: windows, silences, inhibition rules and the flap policy."""

    windows: Sequence[MaintenanceWindow] = ()
    silences: Sequence[Silence] = ()
    inhibit_rules: Sequence[InhibitRule] = ()
    flap_policy: FlapPolicy = field(default_factory=FlapPolicy)


@dataclass(frozen=True)
class SymptomOf:
    """The down device an alert's asset is reached only through: its open down alert and asset."""

    alert_id: str
    asset_id: str
    resource: str = ""
    event: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "alert_id": self.alert_id,
            "asset_id": self.asset_id,
            "resource": self.resource,
            "event": self.event,
        }


@dataclass(frozen=True)
class Decision:
    """Why (and whether) an alert change is muted; `notify` is True only when nothing mutes it.

    Flapping only holds notifications; the stage notifies the alert's state when the flag clears."""

    suppressed_by: tuple[str, ...]
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[Inhibition, ...]
    flapping: bool
    notify: bool
    reasons: tuple[str, ...]
    symptom_of: SymptomOf | None = None
    dropped_by: tuple[str, ...] = ()

    @property
    def drop(self) -> bool:
        """Covered by a window in "drop" mode."""
        return bool(self.dropped_by)


def decide(
    alert: Fields,
    at: datetime,
    rules: NoiseRules,
    *,
    firing: Sequence[Fields] = (),
    flap: FlapState | None = None,
    symptom_of: SymptomOf | None = None,
) -> tuple[Decision, FlapState]:
    """The decision for `alert` (fields from matchers.alert_fields) changed at event time `at`, and its
    flap state after this change. `firing` are the other current alerts (for inhibition); `flap` is the
    alert's flap state before the change (None: first seen); `symptom_of` the down device the alert's
    asset sits behind (None: none)."""
    moment = utc(at, "at")
    windows = covering(rules.windows, alert, moment)
    silenced = silencing(rules.silences, alert, moment)
    inhibitions = inhibitions_of(rules.inhibit_rules, alert, firing)
    state = observe(flap or FlapState(), rules.flap_policy, moment, str(alert.get("severity", "")))
    flapping = is_flapping(state, rules.flap_policy, moment)

    reasons: list[str] = []
    for w in windows:
        end = next_end(w, moment)
        reasons.append(f"maintenance window {w.id} ({w.mode}) open until {end.isoformat() if end else '?'}")
    by_id = {s.id: s for s in rules.silences}
    for silence in (by_id[i] for i in silenced):
        reasons.append(f"silence {silence.id} by {silence.created_by} until {silence.ends_at.isoformat()}")
    reasons += [f"inhibited by alert {i.source_id} (rule {i.rule_id})" for i in inhibitions]
    if symptom_of is not None:
        down = f"{symptom_of.resource or symptom_of.asset_id} ({symptom_of.event})".replace(" ()", "")
        reasons.append(f"symptom of alert {symptom_of.alert_id}: reached only through {down}, which is down")
    if flapping:
        until = clears_at(state, rules.flap_policy)
        reasons.append(f"flapping: held until stable, at the earliest {until.isoformat() if until else '?'}")

    decision = Decision(
        suppressed_by=tuple(w.id for w in windows),
        silenced_by=tuple(silenced),
        inhibited_by=tuple(inhibitions),
        flapping=flapping,
        notify=not reasons,
        reasons=tuple(reasons),
        symptom_of=symptom_of,
        dropped_by=tuple(w.id for w in windows if w.mode == "drop"),
    )
    return decision, state
