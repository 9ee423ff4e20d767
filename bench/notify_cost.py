"""Suppression cost per alert change, pure (no servers): `decide` as the notification stage calls it,
and the stage's whole per-change path (`Notifier.step`), with many silences and windows against a
baseline with none, in the same run.

The silences and windows are made the way the stage gets them: `silence.create` / `window.create`
commands applied by the suppression stage's core (`Suppressions`), published as one
`SuppressionBatch` and applied by the notification core (`Notifier.apply_suppressions`), which builds
the `NoiseRules` once per tenant. Every silence is active at the changes' event times; the windows mix
one-off (open, or later) and recurring ones (daily, weekly, monthly in several zones), some with scopes
that match most alerts but closed now, so their schedules are worked out on every change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ems.agents.notify import Notifier
from ems.agents.suppressions import Suppressions
from ems.noise.decide import Decision, decide
from ems.noise.matchers import alert_fields
from ems.notify.config import RouteConfig
from ems.schemas.alert import AlertChanged, AlertState, Transition
from ems.schemas.command import Command
from ems.schemas.notification import NotificationDecided

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday morning
ROUTES = [
    RouteConfig(matchers='severity="critical"', receivers=["hook", "mail"]),
    RouteConfig(matchers=[{"name": "service", "op": "=~", "value": "svc-1.*"}], receivers=["chat"]),
]
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC")
ENVIRONMENTS = ("prod", "staging", "lab")
EVENTS = ("NodeDown", "DiskFull", "HighLoad", "LinkDown")


def silence_args(i: int) -> dict[str, Any]:
    """The i-th silence: active around T0, one of four matcher shapes (=, =~ with !=, attributes, !~)."""
    shapes = [
        [{"name": "resource", "value": f"host-{i}"}],
        [
            {"name": "service", "op": "=~", "value": f"svc-{i}|svc-{i + 1}"},
            {"name": "severity", "op": "!=", "value": "minor"},
        ],
        [{"name": "attributes.team", "value": f"team-{i}"}, {"name": "event", "op": "=~", "value": "Disk.*"}],
        [{"name": "resource", "op": "=~", "value": f"db-{i}.*"},
         {"name": "tags", "op": "!~", "value": "keep"}],
    ]  # fmt: skip
    return {
        "matchers": shapes[i % 4],
        "starts_at": (T0 - timedelta(hours=1)).isoformat(),
        "ends_at": (T0 + timedelta(days=1)).isoformat(),
        "comment": f"bench silence {i}",
    }


def window_args(i: int) -> dict[str, Any]:
    """The i-th window: one-off (open at T0 or later) or recurring in a zone; a narrow or a broad scope."""
    broad = i % 5 == 0  # in scope for most alerts: the schedule is worked out on every change
    scope: dict[str, Any] = (
        {"environments": list(ENVIRONMENTS)}
        if broad
        else [
            {"asset_ids": [f"asset-{i}", f"asset-{i + 100}"]},
            {"events": [EVENTS[i % 4]], "sources": [f"src-{i}"]},
            {"matchers": [{"name": "resource", "op": "=~", "value": f"host-{i}[0-9]?"}]},
            {"environments": ["staging"], "matchers": [{"name": "service", "value": f"svc-{i}"}]},
        ][i % 4]
    )
    if i % 2 == 0:
        start = T0 + timedelta(hours=2 if broad else (i % 3) - 1)  # broad ones open later
        schedule: dict[str, Any] = {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=3)).isoformat(),
        }
    else:
        zone = ZONES[i % len(ZONES)]
        schedule = [
            {"frequency": "daily", "hours": "01:00-03:00", "timezone": zone},
            {"frequency": "weekly", "hours": "22:00-02:00", "timezone": zone, "weekdays": ["sat", "sun"]},
            {"frequency": "monthly", "hours": "02:00-04:00", "timezone": zone, "month_days": [1, -1],
             "nth_weekdays": [{"day": "fri", "nth": -1}]},
        ][i % 3]  # fmt: skip
    return {"title": f"bench window {i}", "scope": scope, "schedule": schedule}


def suppressed_notifier(silences: int, windows: int) -> Notifier:
    """A notification core holding `silences` silences and `windows` windows, as the stage would."""
    core = Suppressions()
    changes = []
    commands = [("silence.create", f"sil_b{i}", silence_args(i)) for i in range(silences)]
    commands += [("window.create", f"mw_b{i}", window_args(i)) for i in range(windows)]
    for offset, (name, target, args) in enumerate(commands):
        cmd = Command(name=name, target=target, actor="bench", args=args, occurred_at=T0 - timedelta(hours=1))
        outcome = core.apply(cmd, "commands:0", offset)
        if outcome.change is None:
            raise ValueError(f"{target} refused: {outcome.refused}")
        changes.append(outcome.change)
    notifier = Notifier(ROUTES)
    if changes:
        notifier.apply_suppressions(core.batch(changes))
    return notifier


def alert_changes(n: int) -> list[AlertChanged]:
    """n alert changes, one a second from T0: new alerts opening, and every third a severity change of
    an alert opened before (a second change, not enough to flap)."""
    out = []
    for i in range(n):
        k = i - 3 if i % 3 == 2 else i  # a severity change of alert i - 3
        version, kind = (2, "severity_changed") if k != i else (1, "opened")
        severity = ("critical", "major", "minor")[k % 3] if version == 1 else "critical"
        at = T0 + timedelta(seconds=i)
        state = AlertState(
            alert_id=f"alr_{k}", fingerprint=f"fp{k}", status="open", severity=severity, event_count=version,
            duplicate_count=0, first_seen=T0, last_seen=at, last_event_id=f"e{i}", source=f"src-{k % 97}",
            event=EVENTS[k % 4], resource=f"host-{k * 37 % 10_000}", environment=ENVIRONMENTS[k % 3],
            asset_id=f"asset-{k % 300}", service=[f"svc-{k * 53 % 10_000}"],
            tags=["keep"] if k % 7 == 0 else [],
            attributes={"team": f"team-{k * 31 % 10_000}"}, version=version,
        )  # fmt: skip
        transition = Transition(kind=kind, event_id=f"e{i}", at=at, severity=severity, status="open")
        out.append(AlertChanged(alert=state, transitions=[transition], events_applied=1))
    return out


def quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Timed:
    """Per call, in µs and sorted, the CPU time of this thread and the wall time of one pass, and what
    the calls returned. The CPU time is the cost (what a core does); the wall time also counts the
    waits for a core on a loaded machine."""

    cpu: list[float]
    wall: list[float]
    results: list[Any]

    def summary(self) -> dict[str, float]:
        return {
            "cpu_p50_us": round(quantile(self.cpu, 0.5), 1),
            "cpu_p99_us": round(quantile(self.cpu, 0.99), 1),
            "cpu_mean_us": round(sum(self.cpu) / len(self.cpu), 1),
            "per_cpu_s": round(1e6 * len(self.cpu) / sum(self.cpu)),  # decisions a core makes a second
            "wall_p50_us": round(quantile(self.wall, 0.5), 1),
            "wall_p99_us": round(quantile(self.wall, 0.99), 1),
        }


def timed(calls: Sequence[Callable[[], Any]]) -> Timed:
    """Each call timed on its own, in order."""
    cpu, wall, results = [], [], []
    for call in calls:
        start, began = time.thread_time_ns(), time.perf_counter_ns()
        results.append(call())
        wall.append((time.perf_counter_ns() - began) / 1000)
        cpu.append((time.thread_time_ns() - start) / 1000)
    return Timed(sorted(cpu), sorted(wall), results)


def decide_pass(notifier: Notifier, changes: Sequence[AlertChanged]) -> Timed:
    """`decide` for each change as `Notifier.on_change` calls it (the alert's fields and its asset's
    facts, the event time of its last transition, the tenant's rules, the alert's flap state, the down
    device it sits behind: none here, no asset registry), the flap state kept between changes."""
    flap: dict[str, Any] = {}

    def call(change: AlertChanged) -> Callable[[], Decision]:
        alert = change.alert
        fields = alert_fields(alert, notifier.dependencies.facts(alert.asset_id))
        at, rules, symptom_of = (
            change.transitions[-1].at,
            notifier.rules(None),
            notifier.dependencies.symptom_of(fields),
        )

        def run() -> Decision:
            decision, flap[alert.alert_id] = decide(
                fields, at, rules, flap=flap.get(alert.alert_id), symptom_of=symptom_of
            )
            return decision

        return run

    return timed([call(c) for c in changes])


def step_pass(notifier: Notifier, changes: Sequence[AlertChanged]) -> Timed:
    """The stage's whole per-change path: `Notifier.step` (clock, fields, decision, routing, record)."""
    notifier.rules(None)  # built once per set of suppressions (timed in `rules_build`)
    return timed([lambda c=c: notifier.step(c) for c in changes])


def notified(results: Sequence[Any]) -> int:
    """How many of the decisions (Decision or lists of NotificationDecided) notify."""
    flat = [d for r in results for d in (r if isinstance(r, list) else [r])]
    return sum(1 for d in flat if isinstance(d, Decision | NotificationDecided) and d.notify)


def suppression_cost(changes: int = 2000, silences: int = 1000, windows: int = 100) -> dict[str, Any]:
    """The four passes (decide and step, each with no rules and with the rules) and their ratios."""
    stream = alert_changes(changes)
    out: dict[str, Any] = {"changes": changes, "silences": silences, "windows": windows}
    for name, run in (("decide", decide_pass), ("step", step_pass)):
        base = run(suppressed_notifier(0, 0), stream)
        loaded = run(suppressed_notifier(silences, windows), stream)
        out[name] = {
            "baseline": base.summary(),
            "loaded": loaded.summary(),
            "cpu_ratio_p50": round(quantile(loaded.cpu, 0.5) / quantile(base.cpu, 0.5), 1),
            "notified": [notified(base.results), notified(loaded.results)],
        }
    rebuild = suppressed_notifier(silences, windows)
    out["rules_build_cpu_ms"] = round(timed([lambda: rebuild.rules(None)]).cpu[0] / 1000, 1)
    rebuild = suppressed_notifier(silences, windows)
    out["rules_build_cpu_ms"] = round(timed([lambda: rebuild.rules(None)]).cpu[0] / 1000, 1)
    return out
