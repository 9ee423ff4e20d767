"""Surfacing (notify/surfacing.py through the stage's core, agents/notify.py) on a driven event-time
clock: a muted firing alert is notified once when its maintenance window ends, its silence expires
(early too) or its flapping clears; not when it resolved before; not twice after a restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ems.agents.notify import Notifier
from ems.agents.suppressions import Suppressions
from ems.notify.config import RouteConfig
from ems.notify.escalation import Escalator, PolicyConfig
from ems.notify.oncall import UserConfig
from ems.projections.notifications import NotificationsProjection
from ems.schemas.alert import AlertChanged, AlertState, Transition
from ems.schemas.command import Command
from ems.schemas.notification import NotificationBatch, NotificationDecided
from ems.streams.codecs import decode, encode

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROUTES = [RouteConfig(receivers=["hook"])]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def change(version: int, minutes: float, kind: str = "opened", severity: str = "critical") -> AlertChanged:
    status = {"resolved": "resolved", "acked": "acknowledged"}.get(kind, "open")
    state = AlertState(
        alert_id="alr_1", fingerprint="fp1", status=status, severity=severity, event_count=version,
        duplicate_count=version - 1, first_seen=T0, last_seen=at(minutes), last_event_id=f"e{version}",
        source="nms", event="NodeDown", resource="core1", environment="prod", version=version,
    )  # fmt: skip
    moved = Transition(kind=kind, event_id=f"e{version}", at=at(minutes), severity=severity, status=status)
    return AlertChanged(alert=state, transitions=[moved], events_applied=1)


class Rules:
    """Silence and window commands to one suppression state, each handed to the notifier."""

    def __init__(self, notifier: Notifier) -> None:
        self.state, self.notifier, self.offset = Suppressions(), notifier, 0

    def __call__(self, name: str, target: str, minutes: float, **args) -> None:
        cmd = Command(name=name, target=target, actor="alice", args=args, occurred_at=at(minutes))
        outcome = self.state.apply(cmd, "commands:0", self.offset)
        assert outcome.change is not None, outcome.refused
        self.offset += 1
        self.notifier.apply_suppressions(self.state.batch([outcome.change]))


def window(rules: Rules, start: float, end: float, minutes: float = 0) -> None:
    schedule = {"start": at(start).isoformat(), "end": at(end).isoformat()}
    rules("window.create", "mw_1", minutes, title="swap", scope={"sources": ["nms"]}, schedule=schedule)


def silence(rules: Rules, end: float, minutes: float = 0) -> None:
    matchers = [{"name": "resource", "op": "=", "value": "core1"}]
    args = {"matchers": matchers, "starts_at": at(0).isoformat(), "ends_at": at(end).isoformat()}
    rules("silence.create", "sil_1", minutes, comment="swap", **args)


def sent(decisions: list[NotificationDecided]) -> list[tuple[str, datetime, list[str]]]:
    return [
        (d.surfaced or "", d.occurred_at, [x.key for x in d.deliveries]) for d in decisions if d.deliveries
    ]


def test_a_window_ending_with_the_alert_still_firing_notifies_it_once() -> None:
    notifier = Notifier(ROUTES)
    window(Rules(notifier), 0, 30)
    [muted] = notifier.step(change(1, 5))
    assert not muted.notify and muted.suppressed_by == ["mw_1"]
    assert notifier.advance(at(29.9)) == []
    [surfaced] = notifier.advance(at(31))
    assert sent([surfaced]) == [("mw_1", at(30), ["alr_1:1:mw_1:hook"])]  # at the window's end
    assert surfaced.kind == "firing" and surfaced.notify and surfaced.version == 1
    assert "surfaced: mw_1 ended" in surfaced.reasons[0] and surfaced.alert["resource"] == "core1"
    assert notifier.advance(at(90)) == []  # once
    resolved = notifier.step(change(2, 95, "resolved", "normal"))  # it went to hook: so does its resolve
    assert [d.receiver for d in resolved[-1].deliveries] == ["hook"]
    # The projection keeps the surfaced decision beside the muted one and un-mutes the alert.
    projection = NotificationsProjection()
    rows = list(projection.rows(NotificationBatch(decisions=[muted, surfaced])))
    decided = [r for u, r in rows if u is projection.decision]
    assert [(r[0], r[1], r[-1]) for r in decided] == [("alr_1", 1, ""), ("alr_1", 1, "mw_1")]
    muting = projection.muting.collapse([r for u, r in rows if u is projection.muting])
    assert [(r[0], r[3]) for r in muting] == [("alr_1", False)]


def test_an_alert_resolved_before_the_window_ends_is_not_surfaced() -> None:
    notifier = Notifier(ROUTES)
    window(Rules(notifier), 0, 30)
    notifier.step(change(1, 5))
    assert notifier.step(change(2, 20, "resolved", "normal")) == []  # never announced: nothing
    assert notifier.advance(at(60)) == [] and notifier.surfacer.muted == {}
    assert [(m.alert_id, m.due) for m in notifier.batch([]).muted] == [("alr_1", None)]  # let go, published


def test_an_alert_acknowledged_during_the_window_is_not_surfaced() -> None:
    notifier = Notifier(ROUTES)
    window(Rules(notifier), 0, 30)
    notifier.step(change(1, 5))
    assert notifier.step(change(2, 10, "acked")) == []  # someone has it (as an ack stops an escalation)
    assert notifier.advance(at(60)) == [] and notifier.surfacer.muted == {}


def test_a_silence_expired_early_surfaces_the_alert_at_the_expiry_time() -> None:
    notifier = Notifier(ROUTES)
    rules = Rules(notifier)
    silence(rules, 120)
    [muted] = notifier.step(change(1, 5))
    assert muted.silenced_by == ["sil_1"] and notifier.advance(at(15)) == []
    rules("silence.expire", "sil_1", 20)  # read while the clock is at 15
    assert notifier.advance(None) == []  # the expiry is ahead of the clock
    assert sent(notifier.advance(at(25))) == [("sil_1", at(20), ["alr_1:1:sil_1:hook"])]
    # A window cancelled behind the clock surfaces at once, at its cancel time.
    later = Notifier(ROUTES)
    rules = Rules(later)
    window(rules, 0, 60)
    later.step(change(1, 5))
    later.advance(at(40))
    rules("window.cancel", "mw_1", 35)
    assert sent(later.advance(None)) == [("mw_1", at(35), ["alr_1:1:mw_1:hook"])]


def test_an_alert_muted_by_two_things_surfaces_when_the_last_ends() -> None:
    notifier = Notifier(ROUTES)
    rules = Rules(notifier)
    window(rules, 0, 30)
    silence(rules, 45)
    [muted] = notifier.step(change(1, 5))
    assert (muted.suppressed_by, muted.silenced_by) == (["mw_1"], ["sil_1"])
    assert notifier.advance(at(40)) == []  # the window ended, the silence still mutes it
    assert sent(notifier.advance(at(50))) == [("sil_1", at(45), ["alr_1:1:sil_1:hook"])]


def test_the_end_of_a_flapping_hold_notifies_the_alert_once() -> None:
    notifier = Notifier(ROUTES)
    severities = ["critical", "major", "critical", "major"]
    made = [
        d for i, s in enumerate(severities) for d in notifier.step(change(i + 1, i, "severity_changed", s))
    ]
    assert [d.notify for d in made] == [True, True, True, False] and made[-1].flapping
    assert notifier.advance(at(3 + 29)) == []  # stable_for (30 min) after the last change
    [surfaced] = notifier.advance(at(40))
    assert sent([surfaced]) == [("flapping", at(33), ["alr_1:4:flapping:hook"])]
    assert not surfaced.flapping and surfaced.alert["severity"] == "major"
    assert notifier.advance(at(120)) == []


def test_a_restore_from_the_published_batches_never_surfaces_twice() -> None:
    notifier = Notifier(ROUTES)
    window(Rules(notifier), 0, 30)
    log = [notifier.batch(notifier.step(change(1, 5)))]
    log = [decode(encode(b), NotificationBatch) for b in log]  # as read back from the topic
    # A restart before the end: the muted alert is kept, it surfaces once at the end.
    restarted = Notifier(ROUTES)
    window(Rules(restarted), 0, 30)
    restarted.restore(log)
    assert list(restarted.surfacer.muted) == ["alr_1"]
    surfaced = restarted.advance(at(31))
    assert sent(surfaced) == [("mw_1", at(30), ["alr_1:1:mw_1:hook"])]
    log.append(decode(encode(restarted.batch(surfaced)), NotificationBatch))
    # A restart after the surfaced decision was published: nothing is surfaced again.
    again = Notifier(ROUTES)
    window(Rules(again), 0, 30)
    again.restore(log)
    assert again.surfacer.muted == {} and again.advance(at(200)) == []


def test_a_restart_that_missed_an_expiry_surfaces_at_the_expiry_time() -> None:
    """The stage stopped after reading an expiry and before publishing: the rebuilt silences carry it,
    the published muted alert the silence's old end; the first clock move works the end out again."""
    notifier = Notifier(ROUTES)
    silence(Rules(notifier), 120)
    log = [decode(encode(notifier.batch(notifier.step(change(1, 5)))), NotificationBatch)]
    assert [m.due for m in log[0].muted] == [at(120)]
    restarted = Notifier(ROUTES)
    rules = Rules(restarted)
    silence(rules, 120)
    rules("silence.expire", "sil_1", 20)
    restarted.restore(log)
    assert sent(restarted.advance(at(25))) == [("sil_1", at(20), ["alr_1:1:sil_1:hook"])]


def test_a_surfaced_alert_on_a_grouping_route_joins_its_group() -> None:
    grouped = RouteConfig(receivers=["hook"], group_by=["environment"], group_wait=60)
    notifier = Notifier([grouped])
    window(Rules(notifier), 0, 30)
    notifier.step(change(1, 5))
    [surfaced] = notifier.advance(at(30))
    group_id = notifier.grouper.key(0, {"environment": "prod"})[0]
    assert surfaced.deliveries == [] and f"notified with its group: {group_id}" in surfaced.reasons
    [flush] = notifier.advance(at(31))  # group_wait (1 min) after the surfacing
    assert flush.group_id == group_id and [a["alert_id"] for a in flush.alerts] == ["alr_1"]


def test_a_surfaced_alert_on_an_escalating_route_starts_its_escalation() -> None:
    policy = PolicyConfig.model_validate({"name": "ops", "steps": [{"notify": ["user:ann"]}]})
    escalator = Escalator([policy], [UserConfig(name="ann", receivers=["mail"])], [])
    notifier = Notifier([RouteConfig(escalation="ops")], escalator=escalator)
    window(Rules(notifier), 0, 30)
    [muted] = notifier.step(change(1, 5))
    assert not muted.notify and notifier.escalator.running == {}  # a muted change starts none
    surfaced, step = notifier.advance(at(30))
    assert surfaced.surfaced == "mw_1" and "starts its escalation: alr_1:esc1" in surfaced.reasons
    assert (step.alert_id, [d.key for d in step.deliveries]) == ("alr_1:esc1", ["alr_1:esc1:1:mail"])
