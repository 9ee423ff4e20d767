"""Self-monitoring core: readings of our own processes and stages in, alert events (with clears) out.

Each round the monitor (`agents/selfmon_worker.py`) reads
- every target in `EMS_SELFMON_TARGETS` (an API's `/health` or `/health/live` URL): a `Probe`;
- the stages as `/health` judges them (`ems.api.health.judge_stages`, from their heartbeats in Redis).
`target_verdicts` and `stage_verdicts` turn the readings into verdicts, one `Condition` per (event,
resource): the problem with its severity, or severity `ok` (checked, healthy). `SelfMonitor.step`
compares them with what it raised before and returns the events to publish (the table of events is
in docs/reliability.md "Self-monitoring"):
- a condition is raised when it appears or its severity changes, cleared (the same event, severity
  `ok`) when healthy again, and nothing is sent while it is unchanged;
- the first verdict of a key is sent even when healthy (a clear), so a problem an earlier monitor
  raised that ended while none ran is resolved; a clear that meets no alert opens nothing;
- a stage without a live worker has no lag to judge: its `StageLagHigh` stays as it was;
- a stage no longer expected by `/health` (silent for `EMS_HEALTH_FORGET_AFTER`) is cleared;
- a target answering `/health` 503 because of stages only is not unhealthy itself: those problems
  are raised on the stages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ems.api.health import CRASH_LOOP_KIND, GONE, PAUSED_OR_FAILING, STOPPED_KIND, STUCK
from ems.schemas.observation import EventBody, Observation
from ems.streams.liveness import TAG

PROCESS_GONE, PROCESS_UNHEALTHY, STAGE_LAG_HIGH = "ProcessGone", "ProcessUnhealthy", "StageLagHigh"
SOURCE = "self-monitor"
CLEAR = "ok"
TARGET, STAGE = "target", "stage"
Key = tuple[str, str]  # (event, resource)


@dataclass(frozen=True)
class Probe:
    """One GET of a target: its HTTP status and JSON body, or the error when it did not answer."""

    target: str
    status: int | None = None
    body: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Condition:
    """The verdict on one (event, resource): a problem (its severity) or healthy (`ok`)."""

    event: str
    resource: str
    scope: str  # TARGET or STAGE
    severity: str
    text: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.event, self.resource)

    @property
    def healthy(self) -> bool:
        return self.severity == CLEAR

    def cleared(self) -> Condition:
        return replace(self, severity=CLEAR, text=f"{self.resource}: healthy again", attributes={})


Verdicts = dict[Key, Condition]


def _ok(event_name: str, resource: str, scope: str) -> Condition:
    return Condition(event_name, resource, scope, CLEAR, f"{resource}: healthy again")


def _verdicts(*conds: Condition) -> Verdicts:
    return {c.key: c for c in conds}


def target_verdicts(probe: Probe) -> Verdicts:
    """`ProcessGone` / `ProcessUnhealthy` of one target from its probe."""
    where = probe.target
    gone, unhealthy = _ok(PROCESS_GONE, where, TARGET), _ok(PROCESS_UNHEALTHY, where, TARGET)
    if probe.status is None:
        gone = Condition(PROCESS_GONE, where, TARGET, "major", f"{where} does not answer: {probe.error}")
    elif not 200 <= probe.status < 300:
        body = probe.body if isinstance(probe.body, Mapping) else {}
        checks = body.get("checks")
        if isinstance(checks, Mapping):  # a /health answer: only its own server checks count
            failed = [
                f"{name}: {c.get('error')}"
                for name, c in checks.items()
                if isinstance(c, Mapping) and not c.get("ok")
            ]
            text = "; ".join(failed)
        else:
            problems = body.get("problems") or []
            text = f"HTTP {probe.status}" + (f": {'; '.join(map(str, problems))}" if problems else "")
        if text:
            unhealthy = Condition(
                PROCESS_UNHEALTHY,
                where,
                TARGET,
                "minor",
                f"{where} unhealthy: {text}",
                {"status": probe.status},
            )
    return _verdicts(gone, unhealthy)


def stage_verdicts(report: Mapping[str, Mapping[str, Any]], lag_threshold: int) -> Verdicts:
    """`ProcessGone` / `ProcessUnhealthy` / `StageLagHigh` of every stage of a `judge_stages` report."""
    out: Verdicts = {}
    for stage, facts in report.items():
        kinds = set(facts.get("kinds") or ())
        problems = "; ".join(facts.get("problems") or [])
        gone = GONE in kinds
        sick = sorted(kinds & {PAUSED_OR_FAILING, STOPPED_KIND, CRASH_LOOP_KIND})
        out |= _verdicts(
            Condition(PROCESS_GONE, stage, STAGE, "major", problems)
            if gone
            else _ok(PROCESS_GONE, stage, STAGE),
            Condition(PROCESS_UNHEALTHY, stage, STAGE, "minor", problems, {"kinds": sick})
            if sick
            else _ok(PROCESS_UNHEALTHY, stage, STAGE),
        )
        if gone:
            continue  # no worker, no lag known: StageLagHigh stays as it was
        lag, stalled = facts.get("lag"), facts.get("stalled_s")
        measured = {"lag": lag, "stalled_s": stalled, "threshold": lag_threshold}
        if STUCK in kinds:
            lagging = Condition(STAGE_LAG_HIGH, stage, STAGE, "minor", f"stalled: {problems}", measured)
        elif lag is not None and lag > lag_threshold:
            text = f"{stage}: {lag} records waiting (threshold {lag_threshold})"
            lagging = Condition(STAGE_LAG_HIGH, stage, STAGE, "warning", text, measured)
        else:
            lagging = _ok(STAGE_LAG_HIGH, stage, STAGE)
        out[lagging.key] = lagging
    return out


TITLES = {
    PROCESS_GONE: ("Process gone", "Process back"),
    PROCESS_UNHEALTHY: ("Process unhealthy", "Process healthy"),
    STAGE_LAG_HIGH: ("Stage lag high", "Stage lag normal"),
}


def event(cond: Condition, at: datetime, environment: str = "production") -> Observation:
    """The alert event of a verdict: raised (its severity) or cleared (`ok`), tagged `self-monitoring`."""
    title = TITLES[cond.event][1 if cond.healthy else 0]
    return Observation(
        occurred_at=at,
        source=SOURCE,
        body=EventBody(
            event=cond.event,
            severity=cond.severity,
            resource=cond.resource,
            title=f"{title}: {cond.resource}",
            text=cond.text[:8192],
            environment=environment,
            tags=[TAG, cond.scope],
            attributes={"scope": cond.scope, **cond.attributes},
            timeout=0,  # a standing problem is not repeated, so its alert must not expire
        ),
    )


class SelfMonitor:
    """What was raised, by (event, resource); `step` turns a round's verdicts into events."""

    def __init__(self, environment: str = "production") -> None:
        self.environment = environment
        self.raised: dict[Key, Condition] = {}
        self.judged: set[Key] = set()

    def step(self, verdicts: Verdicts, at: datetime, settled: Iterable[str] = ()) -> list[Observation]:
        """The events of one round. For each scope in `settled` (its reading is complete), a raised
        condition of a resource absent from `verdicts` (no longer monitored) is cleared too."""
        changed: list[Condition] = []
        for key, cond in verdicts.items():
            before = self.raised.get(key)
            if not cond.healthy:
                if before is None or before.severity != cond.severity:
                    changed.append(cond)
                self.raised[key] = cond
            elif before is not None or key not in self.judged:  # a first clear resolves an earlier run's
                changed.append(cond)
                self.raised.pop(key, None)
            self.judged.add(key)
        scopes, resources = set(settled), {resource for _, resource in verdicts}
        for key, cond in list(self.raised.items()):
            if cond.scope in scopes and cond.resource not in resources:
                changed.append(cond.cleared())
                del self.raised[key]
        return [event(c, at, self.environment) for c in changed]
