"""The combined decision for an alert change at its event time, and that a replay decides alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ems.noise.decide import NoiseRules, decide
from ems.noise.flapping import FlapState
from ems.noise.inhibition import Inhibition, InhibitRule
from ems.noise.matchers import alert_fields, parse_matchers
from ems.noise.schedule import OneOff, Recurring
from ems.noise.silences import Silence
from ems.noise.windows import MaintenanceWindow, Scope

BERLIN = ZoneInfo("Europe/Berlin")
M = timedelta(minutes=1)
T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def web(severity: str = "critical", **extra: object) -> dict[str, object]:
    fields = {
        "alert_id": "web",
        "resource": "web01",
        "event": "http_5xx",
        "environment": "production",
        "severity": severity,
        "status": "open",
        "service": ["shop"],
        "attributes": {"site": "fra"},
    }
    return alert_fields({**fields, **extra}, {"site": "fra1", "tags": ["frontend"]})


def test_nothing_configured_notifies() -> None:
    decision, state = decide(web(), T0, NoiseRules())
    assert decision.notify and not decision.drop and decision.reasons == ()
    assert state.value == "critical"


def test_a_suppressing_window_marks_the_alert_and_holds_the_notification() -> None:
    nightly = MaintenanceWindow(
        "mw-fra", Scope(sites=frozenset({"fra1"})), Recurring("daily", "02:00-04:00", "Europe/Berlin")
    )
    rules = NoiseRules(windows=[nightly])
    decision, _ = decide(web(), datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN), rules)  # spring-forward day
    assert decision.suppressed_by == ("mw-fra",) and not decision.drop and not decision.notify
    assert decision.reasons == ("maintenance window mw-fra (suppress) open until 2026-03-29T02:00:00+00:00",)
    # at 04:00 the window has ended and the still-present problem notifies
    decision, _ = decide(web(), datetime(2026, 3, 29, 4, 0, tzinfo=BERLIN), rules)
    assert decision.notify and decision.suppressed_by == ()


def test_a_drop_window_drops() -> None:
    once = OneOff(T0 - 10 * M, T0 + 10 * M)
    rules = NoiseRules(
        windows=[MaintenanceWindow("mw-drop", Scope(events=frozenset({"http_5xx"})), once, mode="drop")]
    )
    decision, _ = decide(web(), T0, rules)
    assert decision.drop and not decision.notify and decision.suppressed_by == ("mw-drop",)
    assert decision.dropped_by == ("mw-drop",)
    assert decide(web(), T0 + 10 * M, rules)[0].notify


def test_only_the_drop_windows_are_named_dropped_by() -> None:
    once = OneOff(T0 - 10 * M, T0 + 10 * M)
    scope = Scope(events=frozenset({"http_5xx"}))
    rules = NoiseRules(
        windows=[MaintenanceWindow("mw-a", scope, once), MaintenanceWindow("mw-b", scope, once, mode="drop")]
    )
    decision, _ = decide(web(), T0, rules)
    assert decision.suppressed_by == ("mw-a", "mw-b") and decision.dropped_by == ("mw-b",)
    suppress_only = NoiseRules(windows=[MaintenanceWindow("mw-a", scope, once)])
    kept, _ = decide(web(), T0, suppress_only)
    assert kept.suppressed_by == ("mw-a",) and kept.dropped_by == () and not kept.drop


def test_a_silence_expiring_mid_stream_lets_the_next_change_notify() -> None:
    rules = NoiseRules(
        silences=[Silence("s1", 'service="shop"', T0, T0 + 10 * M, created_by="ana", comment="deploy")]
    )
    notified = []
    state = FlapState()
    for minute, severity in [(0, "major"), (4, "major"), (8, "major"), (12, "major")]:
        decision, state = decide(web(severity), T0 + minute * M, rules, flap=state)
        notified.append(decision.notify)
        if not decision.notify:
            assert decision.silenced_by == ("s1",)
            assert decision.reasons == ("silence s1 by ana until 2026-05-01T12:10:00+00:00",)
    assert notified == [False, False, False, True]


def test_inhibition_uses_the_firing_alerts() -> None:
    rule = InhibitRule(
        "site-down",
        source='event="site_down"',
        target='severity=~"major|critical"',
        equal=("attributes.site",),
    )
    down = {
        "alert_id": "down",
        "event": "site_down",
        "severity": "critical",
        "status": "open",
        "attributes": {"site": "fra"},
    }
    rules = NoiseRules(inhibit_rules=[rule])
    decision, _ = decide(web(), T0, rules, firing=[down, web()])
    assert decision.inhibited_by == (Inhibition("site-down", "down"),) and not decision.notify
    assert decision.reasons == ("inhibited by alert down (rule site-down)",)
    assert decide(web(), T0, rules, firing=[{**down, "status": "resolved"}])[0].notify
    # the source itself matches the target side too, but is not inhibited by itself
    assert decide(down, T0, rules, firing=[down, web()])[0].notify


def test_flapping_holds_notifications_until_stable() -> None:
    rules = NoiseRules()
    state = None
    seen = []
    for minute, severity in [
        (0, "major"),
        (2, "critical"),
        (4, "major"),
        (6, "critical"),
        (20, "critical"),
        (36, "critical"),
    ]:
        decision, state = decide(web(severity), T0 + minute * M, rules, flap=state)
        seen.append((decision.flapping, decision.notify))
    assert seen == [(False, True), (False, True), (False, True), (True, False), (True, False), (False, True)]


def test_every_cause_is_listed_in_a_fixed_order_and_a_replay_decides_alike() -> None:
    rules = NoiseRules(
        windows=[
            MaintenanceWindow(
                "mw", Scope(matchers=parse_matchers('resource="web01"')), OneOff(T0, T0 + 60 * M)
            )
        ],
        silences=[Silence("s1", 'severity=~"crit.*"', T0, T0 + 60 * M, created_by="ana", comment="noisy")],
        inhibit_rules=[InhibitRule("r", source='event="site_down"', target='resource="web01"')],
    )
    down = {"alert_id": "down", "event": "site_down", "status": "open"}
    changes = [(0, "major"), (1, "critical"), (2, "major"), (3, "critical")]

    def run() -> list[tuple[object, ...]]:
        state, out = None, []
        for minute, severity in changes:
            decision, state = decide(web(severity), T0 + minute * M, rules, firing=[down], flap=state)
            out.append((decision, state.to_dict()))
        return out

    first = run()
    last = first[-1][0]
    assert last.flapping and not last.notify and not last.drop
    assert [r.split(" ")[0] for r in last.reasons] == ["maintenance", "silence", "inhibited", "flapping:"]
    assert run() == first
