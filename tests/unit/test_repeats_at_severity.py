"""`repeats_at_severity` (Alerta's duplicateCount) in the dedupe fold, next to `duplicate_count`.

Alerta (alerta/models/alert.py, database/backends/postgres/base.py): an event with the stored alert's
event name and severity is a duplicate (`duplicate_count + 1`, `repeat`, previousSeverity and
trendIndication kept); any other event of the alert is correlated (`duplicate_count = 0`,
previousSeverity = the stored severity, trend from it).
"""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from ems.agents.dedupe import fold
from ems.agents.lifecycle import LifecyclePolicy
from ems.schemas.alert import AlertState, Tracked
from ems.schemas.alert_command import AlertCommand
from ems.schemas.command import Command
from ems.schemas.event import Event
from tests.unit.helpers import NORMALIZER, POLICY, T0, observation

LIFE = LifecyclePolicy(POLICY, alert_timeout=600, ack_timeout=0)
CORRELATE = ["node_down", "node_marginal", "node_up"]


class Log:
    """Events and commands of one alert, at increasing offsets and times, folded one at a time."""

    def __init__(self) -> None:
        self.tracked: Tracked | None = None
        self.offsets = count()
        self.kinds: list[str] = []
        self.items: list[Event | AlertCommand] = []

    def at(self) -> tuple[int, int]:
        offset = next(self.offsets)
        return offset, offset * 10

    def event(self, severity: str, name: str = "node_marginal", seconds: int | None = None) -> AlertState:
        offset, at = self.at()
        obs = observation(event=name, severity=severity, seconds=at if seconds is None else seconds)
        obs = obs.model_copy(update={"body": obs.body.model_copy(update={"correlate": CORRELATE})})
        return self.fold(NORMALIZER.normalize(obs, 0, offset))

    def command(self, action: str) -> AlertState:
        offset, at = self.at()
        fingerprint = self.tracked.alert.fingerprint
        cmd = Command(name=f"alert.{action}", target=fingerprint, actor="ann")
        return self.fold(
            AlertCommand(
                occurred_at=T0 + timedelta(seconds=at),
                command=cmd,
                fingerprint=fingerprint,
                source_partition=0,
                source_offset=offset,
            )
        )

    def fold(self, item: Event | AlertCommand) -> AlertState:
        self.items.append(item)
        result = fold(self.tracked, [item], LIFE)
        assert not result.refused, result.refused
        self.tracked = result.tracked
        self.kinds += [t.kind for t in result.transitions]
        return result.state


def counters(s: AlertState) -> tuple:
    return (s.status, s.severity, s.repeats_at_severity, s.duplicate_count, s.previous_severity, s.trend)


def test_repeats_count_and_a_severity_change_resets_them() -> None:
    log = Log()
    assert counters(log.event("major")) == ("open", "major", 0, 0, None, "new")
    assert counters(log.event("major")) == ("open", "major", 1, 1, None, "new")
    assert counters(log.event("major")) == ("open", "major", 2, 2, None, "new")
    assert counters(log.event("critical")) == ("open", "critical", 0, 3, "major", "more_severe")
    assert counters(log.event("critical")) == ("open", "critical", 1, 4, "major", "more_severe")
    assert counters(log.event("minor")) == ("open", "minor", 0, 5, "critical", "less_severe")
    assert log.kinds == ["opened", "severity_changed", "severity_changed"]


def test_another_event_of_the_pair_at_the_same_severity_resets_as_alerta_does() -> None:
    log = Log()
    log.event("critical")
    log.event("critical")
    s = log.event("critical", name="node_down")  # Alerta: correlated (diff event, same sev)
    assert counters(s) == ("open", "critical", 0, 2, "critical", "no_change")
    assert log.kinds == ["opened"]  # no transition: neither status nor severity changed


def test_clear_then_repeated_clears_then_reopen() -> None:
    log = Log()
    log.event("major")
    log.event("major")
    assert counters(log.event("ok", name="node_up")) == ("resolved", "ok", 0, 2, "major", "less_severe")
    assert counters(log.event("ok", name="node_up")) == ("resolved", "ok", 1, 3, "major", "less_severe")
    # Another clearing severity: recorded (as Alerta stores it), the count starts again. (Our trend
    # follows EMS_SEVERITY_ORDER, where normal ranks above ok; Alerta's view of it is noChange.)
    assert counters(log.event("normal", name="node_up")) == ("resolved", "normal", 0, 4, "ok", "more_severe")
    assert counters(log.event("normal", name="node_up")) == ("resolved", "normal", 1, 5, "ok", "more_severe")
    assert counters(log.event("major")) == ("open", "major", 0, 6, "normal", "more_severe")
    assert log.kinds == ["opened", "resolved", "severity_changed", "reopened"]


def test_an_expired_alert_repeated_at_its_severity_counts_on() -> None:
    """Alerta deduplicates into an expired alert (same severity) and reopens it (its rule EXP-1)."""
    log = Log()
    log.event("warning")
    log.event("warning")
    s = log.event("warning", seconds=5000)  # after the 600 s timeout: expired first, then reopened
    assert counters(s) == ("open", "warning", 2, 2, None, "new")
    assert log.kinds == ["opened", "expired", "reopened"]
    expired = Log()
    expired.event("warning")
    s = expired.event("ok", name="node_up", seconds=5000)  # a clear of an expired alert
    assert counters(s) == ("expired", "ok", 0, 1, "warning", "less_severe")
    assert counters(expired.event("ok", name="node_up", seconds=5010))[2] == 1


def test_after_an_operators_close_the_next_problem_starts_from_zero() -> None:
    """Alerta's close sets the severity to normal: the next problem is correlated (0), the next
    `normal` of the same event name a duplicate."""
    log = Log()
    log.event("warning")
    log.event("warning")
    closed = log.command("close")
    assert (closed.status, closed.severity, closed.repeats_at_severity) == ("closed", "warning", 1)
    assert counters(log.event("warning")) == ("open", "warning", 0, 2, "warning", "no_change")
    log.command("close")
    assert log.event("normal").repeats_at_severity == 1  # the same event name, at normal
    assert log.event("ok").repeats_at_severity == 0


def test_a_redelivered_event_is_not_counted_again() -> None:
    log = Log()
    log.event("major")
    log.event("major")
    again = fold(log.tracked, [log.items[1]], LIFE)
    assert again.skipped == 1 and again.state.repeats_at_severity == 1


def test_states_stored_before_the_counter_still_read() -> None:
    log = Log()
    log.event("major")
    never_changed = log.event("major").model_dump(mode="json")
    del never_changed["repeats_at_severity"]
    assert AlertState.model_validate(never_changed).repeats_at_severity == 1  # = duplicate_count
    changed = log.event("critical").model_dump(mode="json") | {"duplicate_count": 7}
    del changed["repeats_at_severity"]
    assert AlertState.model_validate(changed).repeats_at_severity == 0  # unknown: starts again
    tracked = Tracked(alert=log.tracked.alert).model_dump_json()
    assert Tracked.model_validate_json(tracked).alert == log.tracked.alert
