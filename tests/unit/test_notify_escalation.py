"""Escalation policies in the notification stage's core (agents/notify.py, notify/escalation.py) on a
driven event-time clock: step 1 at the notified change, step 2 after the wait unacknowledged, the user
on call at each step's own time, an ack (or a resolve) stopping it, repeats, the state surviving a
restore, the webhook body of a step, and the settings refusing bad policies naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ems.agents.notify import Notifier
from ems.notify.config import RouteConfig
from ems.notify.escalation import Escalator, PolicyConfig
from ems.notify.messages import webhook_body
from ems.notify.oncall import ScheduleConfig, UserConfig
from ems.projections.notifications import NotificationsProjection
from ems.schemas.alert import AlertChanged, AlertState, Transition
from ems.schemas.notification import NotificationBatch, NotificationDecided
from ems.settings import Settings
from ems.streams.codecs import decode, encode
from ems.worker import bulk_stages

T0 = datetime(2026, 3, 2, 8, 50, tzinfo=UTC)  # 10 minutes before the 09:00 hand-off alice -> bob
USERS = [UserConfig(name="alice", receivers=["mail"]), UserConfig(name="bob", receivers=["hook"])]
PRIMARY = ScheduleConfig(
    name="primary",
    time_zone="UTC",
    rotation=["alice", "bob"],
    handoff="09:00",
    length="1d",
    start="2026-03-01",
)
STEPS = [{"notify": ["schedule:primary"], "wait": "15m"}, {"notify": ["schedule:primary", "receiver:pager"]}]
OPS = {"name": "ops", "steps": STEPS}  # the second step's wait: 15 minutes by default
ROUTE = RouteConfig(matchers='severity="critical"', escalation="ops")


def notifier(**policy: object) -> Notifier:
    escalator = Escalator([PolicyConfig.model_validate(OPS | policy)], USERS, [PRIMARY])
    return Notifier([ROUTE], escalator=escalator)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def change(minutes: float, kind: str = "opened", version: int = 1) -> AlertChanged:
    status = {"opened": "open", "acked": "acknowledged", "resolved": "resolved"}[kind]
    state = AlertState(
        alert_id="a1", fingerprint="fp-a1", status=status, severity="critical", event_count=version,
        duplicate_count=version - 1, first_seen=T0, last_seen=at(minutes), last_event_id=f"a1-{version}",
        source="nms", event="NodeDown", resource="core1", environment="prod", version=version,
    )  # fmt: skip
    moved = Transition(
        kind=kind, event_id=f"a1-{version}", at=at(minutes), severity="critical", status=status
    )
    return AlertChanged(alert=state, transitions=[moved], events_applied=1)


def keys(decisions: list[NotificationDecided]) -> list[tuple[datetime, list[str]]]:
    return [(d.occurred_at, [x.key for x in d.deliveries]) for d in decisions]


def test_step_one_at_once_then_step_two_after_fifteen_minutes_unacknowledged() -> None:
    n = notifier()
    alert, step1 = n.step(change(0))
    assert (alert.alert_id, alert.notify, alert.deliveries) == ("a1", True, [])
    assert "starts its escalation: a1:esc1" in alert.reasons
    assert keys([step1]) == [(at(0), ["a1:esc1:1:mail"])]  # alice is on call until 09:00
    assert (step1.alert_id, step1.version, step1.escalation["step"]) == ("a1:esc1", 1, 1)
    assert "schedule:primary (alice)" in step1.reasons[0]
    assert n.advance(at(14.9)) == []
    [step2] = n.advance(at(40))  # decided at its own due time, whatever the clock jumped to
    assert keys([step2]) == [(at(15), ["a1:esc1:2:hook", "a1:esc1:2:pager"])]  # bob since 09:00
    assert n.advance(at(24 * 60)) == []  # no repeat: the policy is done
    body = json.loads(webhook_body(step2, "a1:esc1:2:hook"))
    assert (body["alert_id"], body["version"], body["escalation"]["step"]) == ("a1", 1, 2)


def test_an_ack_at_ten_minutes_stops_it_and_a_late_ack_comes_after_step_two() -> None:
    n = notifier()
    n.step(change(0))
    assert n.step(change(10, "acked", version=2)) == []  # an ack is no notification, and ends it
    assert n.advance(at(60)) == []
    assert n.escalator.escalations["a1:esc1"].stopped == "acknowledged"
    late = notifier()
    late.step(change(0))
    [step2] = late.step(change(20, "acked", version=2))  # the clock reaches 20 min: step 2 (15) first
    assert keys([step2]) == [(at(15), ["a1:esc1:2:hook", "a1:esc1:2:pager"])]
    resolved = notifier()
    resolved.step(change(0))
    assert [d.kind for d in resolved.step(change(5, "resolved", version=2))] == []  # nothing was routed
    assert resolved.advance(at(60)) == []


def test_repeat_runs_the_steps_again_then_a_reopen_starts_a_new_escalation() -> None:
    n = notifier(repeat=1)
    n.step(change(0))
    rounds = n.advance(at(120))
    assert [(d.version, d.escalation["step"], d.escalation["round"]) for d in rounds] == [
        (2, 2, 1), (3, 1, 2), (4, 2, 2)
    ]  # fmt: skip
    assert [d.occurred_at for d in rounds] == [at(15), at(30), at(45)]
    n.step(change(130, "resolved", version=2))
    reopened = n.step(change(140, "opened", version=3))
    assert keys(reopened[1:]) == [(at(140), ["a1:esc3:1:hook"])]  # bob on call now


def test_the_escalation_survives_a_restore_and_no_step_is_sent_twice() -> None:
    live = notifier()
    made = live.step(change(0))
    record = decode(encode(live.batch(made)), NotificationBatch)  # through the wire format
    restored = notifier()
    restored.restore([record])
    assert restored.advance(at(14)) == []  # step 1 is not fired again
    [again] = restored.advance(at(15))
    assert again.model_dump() == live.advance(at(15))[0].model_dump()
    restored.restore([decode(encode(restored.batch([again])), NotificationBatch)])
    assert restored.advance(at(60)) == []
    assert set(restored.flap) == set(restored.notified) | {"a1"} == {"a1"}  # a step is not an alert
    acked = notifier()
    acked.restore([record])
    assert acked.step(change(10, "acked", version=2)) == [] and acked.advance(at(60)) == []


def test_a_step_is_listed_under_its_escalation_and_sets_no_alert_muting() -> None:
    [_, step1] = notifier().step(change(0))
    rows = list(NotificationsProjection().rows(NotificationBatch(decisions=[step1])))
    assert [u.table for u, _ in rows] == ["notification_decisions", "notification_attempts"]
    assert rows[0][1][:2] == ("a1:esc1", 1) and rows[1][1][:4] == ("a1:esc1:1:mail", 0, "a1:esc1", "mail")


def test_settings_refuse_bad_policies_naming_the_field_and_the_ticker_runs_for_them() -> None:
    hook = {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:1/x", "secret": "s3cret-zz"}
    users = [{"name": "alice", "receivers": ["hook"]}]
    policy = {"name": "ops", "steps": [{"notify": ["user:alice", "receiver:hook"], "wait": "10m"}]}
    given = {"notify_receivers": [hook], "notify_users": users, "notify_escalations": [policy]}
    ok = Settings(**given, notify_routes=[{"escalation": "ops"}], liveness_interval=0)
    assert ok.notify_escalations[0].steps[0].wait == 600
    one_step = {"name": "ops", "steps": [{"notify": ["team:x"]}]}
    cases = {
        "notify_routes.0.escalation: unknown escalation policy": {"notify_routes": [{"escalation": "no"}]},
        "a route needs receivers or an escalation policy": {"notify_routes": [{"matchers": "tags=x"}]},
        "notify_escalations.0.steps.0.notify: unknown schedule 'day'": {
            "notify_escalations": [{"name": "ops", "steps": [{"notify": ["schedule:day"]}]}]
        },
        "String should match pattern": {"notify_escalations": [one_step]},
        "notify_escalations: names used twice": {"notify_escalations": [policy, policy]},
    }  # fmt: skip
    for reason, bad in cases.items():
        with pytest.raises(ValidationError, match=reason):
            Settings(**(given | bad))
    stages = [type(s).__name__ for s in bulk_stages(ok, ["notify"])]
    assert stages == ["NotifyWorker", "NotifySender", "NotifyTicker"]
