"""Alertmanager's grouping in the notification stage's core (agents/notify.py, notify/grouping.py) on a
driven event-time clock: group_wait batches, group_interval for later alerts, repeat_interval, resolved
alerts ending a group, group_by splitting, the state surviving a restore, and the route settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ems.agents.notify import Notifier
from ems.agents.notify_worker import tick
from ems.notify.config import RouteConfig
from ems.notify.messages import slack_body, webhook_body
from ems.projections.notifications import NotificationsProjection
from ems.schemas.alert import AlertChanged, AlertState, Transition
from ems.schemas.notification import NotificationBatch, NotificationDecided
from ems.settings import Settings
from ems.streams.codecs import decode, encode
from ems.worker import bulk_stages

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
GROUPED = RouteConfig(matchers='severity="critical"', receivers=["hook"], group_by=["environment"])


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def change(
    alert: str, seconds: float, kind: str = "opened", version: int = 1, env: str = "prod"
) -> AlertChanged:
    status = "resolved" if kind == "resolved" else "open"
    state = AlertState(
        alert_id=alert, fingerprint=f"fp-{alert}", status=status, severity="critical", event_count=version,
        duplicate_count=version - 1, first_seen=T0, last_seen=at(seconds), last_event_id=f"{alert}-{version}",
        source="nms", event="NodeDown", resource=f"host-{alert}", environment=env, version=version,
    )  # fmt: skip
    moved = Transition(
        kind=kind, event_id=f"{alert}-{version}", at=at(seconds), severity="critical", status=status
    )
    return AlertChanged(alert=state, transitions=[moved], events_applied=1)


def listed(decision: NotificationDecided) -> list[tuple[str, str]]:
    return [(a["alert_id"], a["status"]) for a in decision.alerts]


def test_group_wait_batches_three_alerts_into_one_notification() -> None:
    notifier = Notifier([GROUPED])
    made = [d for i, a in enumerate(("a1", "a2", "a3")) for d in notifier.step(change(a, 10 * i))]
    assert [d.alert_id for d in made] == ["a1", "a2", "a3"]  # each alert's own decision, nothing sent
    assert all(d.notify and d.deliveries == [] and d.group_id is None for d in made)
    group_id = notifier.grouper.key(0, {"environment": "prod"})[0]
    assert all(f"notified with its group: {group_id}" in d.reasons for d in made)
    assert notifier.advance(at(29.9)) == []  # group_wait (30 s) counts from the first alert
    [flush] = notifier.advance(at(30))
    assert (flush.group_id, flush.alert_id, flush.version, flush.kind) == (group_id, group_id, 1, "firing")
    assert flush.occurred_at == at(30) and flush.alert == {"environment": "prod"}
    assert listed(flush) == [("a1", "open"), ("a2", "open"), ("a3", "open")]
    assert [(d.key, d.receiver) for d in flush.deliveries] == [(f"{group_id}:1:hook", "hook")]
    body = json.loads(webhook_body(flush, flush.deliveries[0].key))
    assert body["group_id"] == group_id and [a["alert_id"] for a in body["alerts"]] == ["a1", "a2", "a3"]
    assert json.loads(slack_body(flush))["text"].startswith("[FIRING:3] environment=prod")
    assert notifier.advance(at(60)) == []  # flushed once


def test_an_alert_after_the_flush_waits_group_interval_and_repeat_interval_resends() -> None:
    notifier = Notifier([GROUPED])
    for a in ("a1", "a2", "a3"):
        notifier.step(change(a, 0))
    assert len(notifier.advance(at(30))) == 1
    assert notifier.step(change("a4", 60))[-1].alert_id == "a4"  # no flush: the group waits its interval
    assert notifier.advance(at(30 + 299)) == []
    [second] = notifier.advance(at(30 + 300))  # group_interval (5 min) after the first flush
    assert second.version == 2 and [a for a, _ in listed(second)] == ["a1", "a2", "a3", "a4"]
    assert notifier.advance(at(30 + 600)) == [] and notifier.advance(at(30 + 3 * 3600)) == []  # unchanged
    [repeat] = notifier.advance(at(30 + 300 + 4 * 3600))  # repeat_interval (4 h) after the last send
    assert repeat.version == 3 and len(repeat.alerts) == 4
    assert repeat.deliveries[0].key.endswith(":3:hook")


def test_resolved_alerts_are_listed_once_and_end_the_group() -> None:
    notifier = Notifier([GROUPED])
    for a in ("a1", "a2"):
        notifier.step(change(a, 0))
    notifier.advance(at(30))
    notifier.step(change("a1", 40, "resolved", version=2))
    [partly] = notifier.advance(at(330))
    assert partly.kind == "firing" and listed(partly) == [("a2", "open"), ("a1", "resolved")]
    resolved = notifier.step(change("a2", 400, "resolved", version=2))[-1]
    assert resolved.kind == "resolved" and resolved.deliveries == [] and resolved.notify
    [last] = notifier.advance(at(630))
    assert last.kind == "resolved" and listed(last) == [("a2", "resolved")]
    group = notifier.grouper.groups[last.group_id]
    assert group.alerts == {} and group.next_flush is None  # ended: no more flushes
    assert notifier.advance(at(630 + 5 * 3600)) == []
    # The next alert with the same values starts the group again, with group_wait.
    later = 630 + 5 * 3600 + 100
    notifier.step(change("a5", later))
    assert notifier.advance(at(later + 29)) == []
    [again] = notifier.advance(at(later + 30))
    assert again.version == 4 and listed(again) == [("a5", "open")]  # keys go on: never reused


def test_an_alert_resolved_before_any_notification_is_not_announced() -> None:
    notifier = Notifier([GROUPED])
    notifier.step(change("a1", 0))
    notifier.step(change("a1", 10, "resolved", version=2))
    assert notifier.advance(at(30)) == []  # nothing fired at the flush, nothing was announced


def test_group_by_splits_the_alerts_by_value_and_dots_make_one_group_per_alert() -> None:
    notifier = Notifier([GROUPED])
    for a, env in (("a1", "prod"), ("a2", "dev"), ("a3", "prod")):
        notifier.step(change(a, 0, env=env))
    flushes = notifier.advance(at(30))
    assert sorted((f.alert["environment"], [a for a, _ in listed(f)]) for f in flushes) == [
        ("dev", ["a2"]),
        ("prod", ["a1", "a3"]),
    ]
    per_alert = Notifier([RouteConfig(receivers=["hook"], group_by=["..."])])
    for a in ("a1", "a2"):
        per_alert.step(change(a, 0))
    assert sorted(f.alert["alert_id"] for f in per_alert.advance(at(30))) == ["a1", "a2"]


def test_an_alert_whose_group_by_value_changes_moves_to_its_new_group() -> None:
    notifier = Notifier([RouteConfig(receivers=["hook"], group_by=["severity"])])
    notifier.step(change("a1", 0))
    notifier.step(change("a2", 0))
    assert len(notifier.advance(at(30))) == 1
    moved = change("a1", 60, "severity_changed", version=2)
    moved = moved.model_copy(update={"alert": moved.alert.model_copy(update={"severity": "major"})})
    notifier.step(moved)
    flushes = notifier.advance(at(330))
    assert [(f.alert, [a for a, _ in listed(f)]) for f in flushes] == [({"severity": "major"}, ["a1"])]
    critical = notifier.grouper.groups[notifier.grouper.key(0, {"severity": "critical"})[0]]
    assert list(critical.alerts) == ["a2"] and list(critical.sent) == ["a2"]  # left without a notice


def test_a_route_without_group_by_notifies_every_change_alongside_a_grouped_one() -> None:
    both = [RouteConfig(receivers=["pager"], continue_=True), GROUPED]
    notifier = Notifier(both)
    [decided] = notifier.step(change("a1", 0))
    assert [d.key for d in decided.deliveries] == ["a1:1:pager"] and any(
        "group" in r for r in decided.reasons
    )
    [flush] = notifier.advance(at(30))
    assert [d.receiver for d in flush.deliveries] == ["hook"]


def test_the_groups_and_clock_survive_a_restore_and_a_replay_decides_alike() -> None:
    def run(notifier: Notifier, changes: list[AlertChanged]) -> list[NotificationDecided]:
        return [d for c in changes for d in notifier.step(c)]

    first = [change("a1", 0), change("a2", 5)]
    live = Notifier([GROUPED])
    made = run(live, first) + live.advance(at(31))
    record = decode(encode(live.batch(made)), NotificationBatch)  # through the wire format
    restored = Notifier([GROUPED])
    restored.restore([record])
    assert restored.grouper.clock == at(31) and restored.advance(at(31)) == []  # not sent again
    later = [change("a3", 100), change("a1", 200, "resolved", version=2)]
    assert run(restored, later) + restored.advance(at(331)) == run(live, later) + live.advance(at(331))
    replayed = Notifier([GROUPED])
    again = run(replayed, first) + replayed.advance(at(31))
    assert [d.model_dump() for d in again] == [d.model_dump() for d in made]


def test_a_group_notification_sets_no_alert_muting_in_the_read_model() -> None:
    notifier = Notifier([GROUPED])
    notifier.step(change("a1", 0))
    [flush] = notifier.advance(at(30))
    tables = [u.table for u, _ in NotificationsProjection().rows(NotificationBatch(decisions=[flush]))]
    assert tables == ["notification_decisions", "notification_attempts"]


@pytest.mark.parametrize(
    ("route", "field", "says"),
    [
        ({"group_by": ["nope"]}, "group_by", "unknown field"),
        ({"group_by": ["...", "service"]}, "group_by", "cannot be combined"),
        ({"group_by": ["asset.site"]}, "group_by", "asset facts"),
        ({"group_wait": "5 minutes"}, "group_wait", "not a duration"),
        ({"group_interval": 0}, "group_interval", "greater than 0"),
    ],
)
def test_bad_grouping_settings_are_refused_naming_the_field(route: dict, field: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RouteConfig.model_validate({"receivers": ["hook"], **route})
    error = refused.value.errors()[0]
    assert error["loc"] == (field,) and says in error["msg"]


def test_durations_take_alertmanagers_text_form_and_default_to_its_values() -> None:
    route = RouteConfig.model_validate({"receivers": ["hook"], "group_by": [], "group_wait": "1m30s"})
    assert (route.group_wait, route.group_interval, route.repeat_interval) == (90, 300, 4 * 3600)
    assert RouteConfig(receivers=["hook"], group_wait="250ms", repeat_interval="2h").group_wait == 0.25


def test_the_worker_runs_the_notify_ticker_unless_ticks_are_off() -> None:
    hook = {"name": "hook", "type": "webhook", "url": "http://127.0.0.1/hook", "secret": "s"}

    def stages(route: dict, tick: float = 5) -> list[str]:
        settings = Settings(
            notify_receivers=[hook], notify_routes=[route], tick_interval=tick, liveness_interval=0
        )
        return [type(s).__name__ for s in bulk_stages(settings, ["notify"])]

    assert stages({"receivers": ["hook"], "group_by": []}) == ["NotifyWorker", "NotifySender", "NotifyTicker"]
    assert stages({"receivers": ["hook"]}) == ["NotifyWorker", "NotifySender", "NotifyTicker"]  # surfacing
    assert stages({"receivers": ["hook"], "group_by": []}, tick=0) == ["NotifyWorker", "NotifySender"]
    assert (tick().name, tick().target) == ("notify.tick", "notifications")
