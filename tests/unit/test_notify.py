"""Notifications, pure parts: routing rules, webhook signing, the stage's decisions (agents/notify.py) on
event time with silences and flapping, the sender's outbox (retries, backoff, never twice) and the
settings' checks of receivers and routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError

from ems.agents.notify import Notifier
from ems.agents.suppressions import Suppressions
from ems.notify.config import ReceiverConfig, RouteConfig
from ems.notify.delivery import DeliveryFailed, backoff_delay, deliver
from ems.notify.messages import email_message, signature, verify, webhook_body, webhook_headers
from ems.notify.outbox import Outbox
from ems.notify.routing import receivers_for
from ems.projections.notifications import MUTING_COLUMNS, NotificationsProjection
from ems.schemas.alert import AlertChanged, AlertState, Transition
from ems.schemas.command import Command
from ems.schemas.notification import NotificationBatch
from ems.settings import Settings
from ems.streams.codecs import decode, encode

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROUTES = [
    RouteConfig(matchers='severity="critical"', receivers=["hook", "mail"]),
    RouteConfig(matchers=[{"name": "service", "op": "=~", "value": "web|api"}], receivers=["slack"]),
]


def change(version: int, kind: str, severity: str = "critical", minutes: float = 0, **alert) -> AlertChanged:
    at = T0 + timedelta(minutes=minutes)
    status = "resolved" if kind == "resolved" else "open"
    state = AlertState(
        alert_id="alr_1", fingerprint="fp1", status=status, severity=severity, event_count=version,
        duplicate_count=version - 1, first_seen=T0, last_seen=at, last_event_id=f"e{version}",
        source="nms", event="NodeDown", resource="core1", environment="prod", version=version,
        **alert,
    )  # fmt: skip
    transition = Transition(kind=kind, event_id=f"e{version}", at=at, severity=severity, status=status)
    return AlertChanged(alert=state, transitions=[transition], events_applied=1)


def test_routes_first_match_wins_unless_continue() -> None:
    crit = {"severity": "critical", "service": ["web"]}
    assert receivers_for(ROUTES, crit) == ["hook", "mail"]
    assert receivers_for(ROUTES, {"severity": "minor", "service": ["api"]}) == ["slack"]
    assert receivers_for(ROUTES, {"severity": "minor", "service": ["db"]}) == []
    both = [RouteConfig(matchers="severity=critical", receivers=["hook"], continue_=True), *ROUTES]
    assert receivers_for(both, crit) == ["hook", "mail"]  # each receiver once, in order


def test_a_webhook_body_is_signed_over_timestamp_and_body_and_a_change_breaks_it() -> None:
    decided = Notifier(ROUTES).on_change(change(1, "opened"))
    body = webhook_body(decided, "alr_1:1:hook")
    headers = webhook_headers("s3cret", 1_700_000_000, body, "alr_1:1:hook")
    sig = headers["X-EMS-Signature"]
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify("s3cret", headers["X-EMS-Timestamp"], body, sig)
    assert not verify("other", headers["X-EMS-Timestamp"], body, sig)
    assert not verify("s3cret", "1700000001", body, sig)  # a replay with a new timestamp
    assert not verify("s3cret", headers["X-EMS-Timestamp"], body.replace(b"core1", b"core2"), sig)
    assert signature("k", 1, b"x") == signature("k", 1, b"x") != signature("k", 1, b"y")
    assert headers["X-EMS-Notification-Key"] == "alr_1:1:hook"
    mail = email_message(decided, "alr_1:1:mail", "ems@test", ["ops@test"])
    assert mail["Subject"] == "[FIRING] critical NodeDown on core1" and mail["Message-ID"]


def test_a_critical_alert_is_routed_and_resolved_to_the_same_receivers() -> None:
    notifier = Notifier(ROUTES)
    fired = notifier.on_change(change(1, "opened"))
    assert fired.notify and fired.kind == "firing" and fired.occurred_at == T0
    assert [(d.key, d.receiver) for d in fired.deliveries] == [
        ("alr_1:1:hook", "hook"),
        ("alr_1:1:mail", "mail"),
    ]
    assert notifier.on_change(change(2, "acked")) is None  # not a notification
    resolved = notifier.on_change(change(3, "resolved", severity="normal", minutes=5))
    assert resolved.kind == "resolved" and [d.receiver for d in resolved.deliveries] == ["hook", "mail"]


def test_a_resolve_of_an_alert_never_notified_is_not_notified() -> None:
    notifier = Notifier(ROUTES)
    quiet = notifier.on_change(change(1, "opened", severity="minor"))
    assert quiet.notify and quiet.deliveries == [] and "no routing rule matches" in quiet.reasons
    assert notifier.on_change(change(2, "resolved", severity="normal")) is None


def test_a_silence_active_at_the_event_time_mutes_with_its_id() -> None:
    notifier = Notifier(ROUTES)
    args = {
        "matchers": [{"name": "resource", "op": "=", "value": "core1"}],
        "starts_at": (T0 + timedelta(minutes=10)).isoformat(),
        "ends_at": (T0 + timedelta(hours=1)).isoformat(),
        "comment": "maintenance",
    }
    cmd = Command(name="silence.create", target="sil_x", actor="alice", args=args, occurred_at=T0)
    outcome = Suppressions().apply(cmd, "commands:0", 0)
    notifier.apply_suppressions(Suppressions().batch([outcome.change]))
    before = notifier.on_change(change(1, "opened"))  # event time before the silence starts
    assert before.notify and before.silenced_by == []
    during = notifier.on_change(change(2, "severity_changed", severity="major", minutes=20))
    assert not during.notify and during.silenced_by == ["sil_x"] and during.deliveries == []
    assert any("silence sil_x by alice" in r for r in during.reasons)
    after = notifier.on_change(change(3, "severity_changed", minutes=70))  # the silence has ended
    assert after.notify and after.silenced_by == []


def test_flapping_holds_notifications_and_the_state_survives_a_restore() -> None:
    notifier = Notifier([RouteConfig(receivers=["hook"])])
    severities = ["critical", "major", "critical", "major"]
    made = [
        notifier.on_change(change(i + 1, "severity_changed", s, minutes=i)) for i, s in enumerate(severities)
    ]
    assert [d.notify for d in made] == [True, True, True, False] and made[-1].flapping
    again = Notifier([RouteConfig(receivers=["hook"])])
    again.restore([notifier.batch(made)])
    fifth = again.on_change(change(5, "severity_changed", "critical", minutes=5))
    assert fifth.flapping and not fifth.notify  # the restored state still holds it


def test_redelivered_alert_records_are_skipped_by_position() -> None:
    notifier = Notifier(ROUTES)
    assert notifier.seen("alerts:0", 0) and notifier.seen("alerts:0", 1)
    assert not notifier.seen("alerts:0", 1) and notifier.seen("alerts:1", 0)
    restored = Notifier(ROUTES)
    restored.restore([notifier.batch([])])
    assert not restored.seen("alerts:0", 1) and restored.seen("alerts:0", 2)


def test_the_outbox_retries_with_backoff_then_fails_and_never_sends_a_delivered_key_again() -> None:
    decided = Notifier(ROUTES).on_change(change(1, "opened"))
    box = Outbox(max_attempts=3, backoff=2.0, cap=3.0)
    box.fold(NotificationBatch(decisions=[decided]))
    assert [p.delivery.key for p in box.due(0.0)] == ["alr_1:1:hook", "alr_1:1:mail"]
    first = box.attempted("alr_1:1:hook", 100.0, DeliveryFailed("HTTP 503", retry=True))
    assert (first.outcome, first.attempt, first.reason) == ("retried", 1, "HTTP 503")
    assert [p.delivery.key for p in box.due(101.0)] == ["alr_1:1:mail"]  # waits its 2 s
    second = box.attempted("alr_1:1:hook", 102.0, DeliveryFailed("HTTP 503", retry=True))
    assert second.outcome == "retried" and box.pending["alr_1:1:hook"].due == 105.0  # capped at 3 s
    third = box.attempted("alr_1:1:hook", 105.0, DeliveryFailed("HTTP 503", retry=True))
    assert third.outcome == "failed" and "gave up after 3" in third.reason
    refused = box.attempted("alr_1:1:mail", 105.0, DeliveryFailed("SMTP refused", retry=False))
    assert refused.outcome == "failed" and refused.attempt == 1 and box.pending == {}
    assert (
        backoff_delay(1, 1.0, 60) == 1.0
        and backoff_delay(4, 1.0, 60) == 8.0
        and backoff_delay(9, 1.0, 60) == 60
    )

    # A restart rebuilds from the log: the delivered key is done, the other is sent, numbered on.
    log = [NotificationBatch(decisions=[decided])]
    box = Outbox()
    box.fold(log[0])
    log.append(NotificationBatch(attempts=[box.attempted("alr_1:1:hook", 0.0, None)]))
    log.append(NotificationBatch(attempts=[box.attempted("alr_1:1:mail", 0.0, DeliveryFailed("x", True))]))
    rebuilt = Outbox()
    for batch in [*log, log[0]]:  # the decision seen again changes nothing
        rebuilt.fold(batch)
    assert list(rebuilt.pending) == ["alr_1:1:mail"] and rebuilt.pending["alr_1:1:mail"].attempts == 1
    assert rebuilt.attempted("alr_1:1:mail", 0.0, None).attempt == 2


def test_the_projection_queues_each_delivery_and_records_attempts() -> None:
    decided = Notifier(ROUTES).on_change(change(1, "opened"))
    box = Outbox()
    box.fold(NotificationBatch(decisions=[decided]))
    batch = NotificationBatch(decisions=[decided], attempts=[box.attempted("alr_1:1:hook", 0.0, None)])
    assert decode(encode(batch), NotificationBatch) == batch  # a registered record type, read back alike
    rows = list(NotificationsProjection().rows(batch))
    tables = [
        (u.table, r[0] if u.table == "notification_decisions" else r[:2] + r[4:5])
        for u, r in rows
        if u.table.startswith("notification_")
    ]
    assert tables == [
        ("notification_decisions", "alr_1"),
        ("notification_attempts", ("alr_1:1:hook", 0, "queued")),
        ("notification_attempts", ("alr_1:1:mail", 0, "queued")),
        ("notification_attempts", ("alr_1:1:hook", 1, "delivered")),
    ]


def test_settings_refuse_bad_routes_and_receivers_naming_them() -> None:
    hook = {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:1/x", "secret": "s3cret-zz"}
    ok = Settings(
        notify_receivers=[hook], notify_routes=[{"matchers": "severity=critical", "receivers": ["hook"]}]
    )
    assert "s3cret-zz" not in repr(ok.notify_receivers[0])  # the secret is a SecretStr
    cases = {
        r"notify_routes.0.receivers: unknown receiver\(s\) no": {"notify_routes": [{"receivers": ["no"]}]},
        "invalid regular expression": {"notify_routes": [{"matchers": "severity=~'('", "receivers": ["x"]}]},
        "needs secret": {"notify_receivers": [{**hook, "secret": None}]},
        "needs an SMTP server": {"notify_receivers": [{"name": "m", "type": "email", "to": ["a@b"]}]},
        "names used twice": {"notify_receivers": [hook, hook]},
    }
    for reason, given in cases.items():
        with pytest.raises(ValidationError, match=reason):
            Settings(**given)


async def test_delivery_signs_webhooks_and_tells_retryable_failures_from_final_ones() -> None:
    decided = Notifier(ROUTES).on_change(change(1, "opened"))
    hook = ReceiverConfig(name="hook", type="webhook", url="http://hook.test/in", secret="s3cret")
    seen: list[httpx.Request] = []

    def answer(status: int) -> httpx.AsyncClient:
        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            if status == 0:
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(status, text="busy" if status >= 500 else "")

        return httpx.AsyncClient(transport=httpx.MockTransport(handler))

    async with answer(200) as http:
        await deliver(hook, decided, "alr_1:1:hook", http=http, smtp=None)
    sent = seen[-1]
    assert verify("s3cret", sent.headers["X-EMS-Timestamp"], sent.content, sent.headers["X-EMS-Signature"])
    for status, retry in ((503, True), (429, True), (0, True), (400, False), (404, False)):
        async with answer(status) as http:
            with pytest.raises(DeliveryFailed) as failed:
                await deliver(hook, decided, "alr_1:1:hook", http=http, smtp=None)
        assert failed.value.retry is retry, status
    mail = ReceiverConfig(name="mail", type="email", to=["ops@test"])
    with pytest.raises(DeliveryFailed, match="no SMTP server") as failed:
        await deliver(mail, decided, "alr_1:1:mail", http=http, smtp=None)
    assert failed.value.retry is False


def test_the_latest_decision_marks_the_alert_muted_by_what_in_any_order() -> None:
    notifier = Notifier(ROUTES)
    args = {
        "matchers": [{"name": "resource", "op": "=", "value": "core1"}],
        "starts_at": T0.isoformat(),
        "ends_at": (T0 + timedelta(hours=1)).isoformat(),
        "comment": "upgrade",
    }
    cmd = Command(name="silence.create", target="sil_x", actor="alice", args=args, occurred_at=T0)
    notifier.apply_suppressions(Suppressions().batch([Suppressions().apply(cmd, "commands:0", 0).change]))
    silenced = notifier.on_change(change(1, "opened"))
    notified = notifier.on_change(change(2, "severity_changed", severity="major", minutes=90))
    projection = NotificationsProjection()
    for order in ([silenced, notified], [notified, silenced]):
        rows = [(u, r) for u, r in projection.rows(NotificationBatch(decisions=order))]
        assert [u.table for u, _ in rows if not u.columns] == ["alert_muting", "alerts"] * 2  # lock, copy
        muting = projection.muting.collapse([r for u, r in rows if u is projection.muting])
        assert len(muting) == 1  # one row per alert: its highest version, whatever the order
        row = dict(zip(MUTING_COLUMNS, muting[0], strict=True))
        assert (row["version"], row["muted"], row["pending"]) == (2, False, True)
    first = dict(
        zip(
            MUTING_COLUMNS,
            next(r for u, r in projection.decision_rows(silenced) if u is projection.muting),
            strict=True,
        )
    )
    assert first["muted"] and first["muted_by"].obj == {
        "windows": [],
        "silences": ["sil_x"],
        "inhibitions": [],
        "symptom_of": None,
        "flapping": False,
    }
