"""What each receiver gets for a notification, and the webhook signature. Pure: no network, no clock
(the signing time is passed in).

Webhook: a JSON body (keys sorted, compact) `{key, kind, alert_id, version, decided_at, alert}` (a
group's lists its alerts, an escalation step adds `escalation`, see `body_of`),
POSTed with `X-EMS-Notification-Key` (the idempotency key), `X-EMS-Timestamp` (Unix seconds) and
`X-EMS-Signature: sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<body>` under the receiver's secret
(the Stripe/Slack scheme: a receiver recomputes it and refuses an old timestamp, so a captured body
cannot be replayed later). Slack: `{"text": ...}` for an incoming webhook. Email: a plain-text message.
"""

from __future__ import annotations

import hashlib
import hmac
from email.message import EmailMessage
from typing import Any

import orjson

from ems.schemas.notification import NotificationDecided

SIGNATURE_HEADER = "X-EMS-Signature"
TIMESTAMP_HEADER = "X-EMS-Timestamp"
KEY_HEADER = "X-EMS-Notification-Key"
SHOWN = ("alert_id", "status", "source", "environment", "service", "tags", "asset_id", "value", "text")


def body_of(decision: NotificationDecided, key: str) -> dict[str, Any]:
    """The JSON document a webhook receives; a group's: `{key, kind, group_id, notification, decided_at,
    group_labels, alerts}` (`notification` the flush number, `alerts` its firing then resolved alerts)."""
    if decision.group_id is not None:
        return {
            "key": key,
            "kind": decision.kind,
            "group_id": decision.group_id,
            "notification": decision.version,
            "decided_at": decision.occurred_at.isoformat(),
            "group_labels": decision.alert,
            "alerts": decision.alerts,
        }
    if decision.escalation is not None:  # a step: the alert's id and version, and which step
        esc = decision.escalation
        return {
            "key": key,
            "kind": decision.kind,
            "alert_id": esc["alert_id"],
            "version": esc["version"],
            "decided_at": decision.occurred_at.isoformat(),
            "alert": decision.alert,
            "escalation": esc,
        }
    return {
        "key": key,
        "kind": decision.kind,
        "alert_id": decision.alert_id,
        "version": decision.version,
        "decided_at": decision.occurred_at.isoformat(),
        "alert": decision.alert,
    }


def webhook_body(decision: NotificationDecided, key: str) -> bytes:
    return orjson.dumps(body_of(decision, key), option=orjson.OPT_SORT_KEYS)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, given: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    try:
        expected = signature(secret, int(timestamp), body)
    except ValueError:
        return False
    return hmac.compare_digest(expected, given)


def webhook_headers(secret: str, timestamp: int, body: bytes, key: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        KEY_HEADER: key,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def headline(decision: NotificationDecided) -> str:
    """One line: `[RESOLVED] critical NodeDown on core1: title`; a group's `[FIRING:3] service=web`."""
    a = decision.alert
    if decision.group_id is not None:
        firing = sum(1 for x in decision.alerts if x.get("status") not in ("resolved", "closed", "expired"))
        state = f"FIRING:{firing}" if firing else "RESOLVED"
        return f"[{state}] " + (" ".join(f"{k}={v}" for k, v in a.items()) or "alerts")
    state = "RESOLVED" if decision.kind == "resolved" else "FIRING"
    title = f": {a['title']}" if a.get("title") and a["title"] != a.get("event") else ""
    return f"[{state}] {a.get('severity')} {a.get('event')} on {a.get('resource')}{title}"


def details(decision: NotificationDecided) -> str:
    a = decision.alert
    lines = [headline(decision), ""]
    if decision.group_id is not None:
        lines += [f"- [{x.get('status')}] {x.get('severity')} {x.get('event')} on {x.get('resource')}"
                  f" ({x.get('alert_id')})" for x in decision.alerts]  # fmt: skip
        lines.append(f"group: {decision.group_id}, at: {decision.occurred_at.isoformat()}")
        return "\n".join(lines)
    for name in SHOWN:
        if a.get(name):
            value = ", ".join(a[name]) if isinstance(a[name], list) else a[name]
            lines.append(f"{name}: {value}")
    if decision.escalation is not None:
        esc = decision.escalation
        lines.append(
            f"escalation: {esc['policy']}, step {esc['step']} (round {esc['round']}), unacknowledged"
        )
    lines.append(f"at: {decision.occurred_at.isoformat()}")
    return "\n".join(lines)


def slack_body(decision: NotificationDecided) -> bytes:
    return orjson.dumps({"text": details(decision)})


def email_message(decision: NotificationDecided, key: str, sender: str, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = headline(decision)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg[KEY_HEADER] = key
    msg["Message-ID"] = "<" + key.replace(":", ".") + "@ems.notifications>"  # lets a mailbox drop a copy
    msg.set_content(details(decision) + "\n")
    return msg
