"""Sending one notification to one receiver: webhook and Slack over HTTP (httpx), email over SMTP
(smtplib in a thread). A failure raises `DeliveryFailed` with the reason and whether a retry may help:
a network error, a timeout, HTTP 408/429/5xx or an SMTP temporary (4xx) answer are retried; any
other HTTP answer (a 4xx: the receiver refuses this request) or a refused recipient is final.
"""

from __future__ import annotations

import asyncio
import smtplib
import time
from dataclasses import dataclass

import httpx

from ems.notify.config import ReceiverConfig
from ems.notify.messages import KEY_HEADER, email_message, slack_body, webhook_body, webhook_headers
from ems.schemas.notification import NotificationDecided

RETRIED_STATUS = frozenset({408, 425, 429})


class DeliveryFailed(Exception):
    """The receiver did not take the notification; `retry` says whether trying again may help."""

    def __init__(self, reason: str, retry: bool) -> None:
        super().__init__(reason)
        self.reason, self.retry = reason, retry


@dataclass(frozen=True)
class Smtp:
    """The SMTP server email receivers use (`EMS_NOTIFY_SMTP_*`)."""

    host: str
    port: int = 25
    sender: str = "ems@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt `attempt` (1, 2, ...): base * 2^(attempt-1), at most cap."""
    return min(cap, base * 2 ** (attempt - 1))


async def deliver(
    receiver: ReceiverConfig,
    decision: NotificationDecided,
    key: str,
    *,
    http: httpx.AsyncClient,
    smtp: Smtp | None,
) -> None:
    """Send the notification `key` of `decision` to `receiver`; DeliveryFailed when it was not taken."""
    if receiver.type == "email":
        if smtp is None:
            raise DeliveryFailed("no SMTP server configured (EMS_NOTIFY_SMTP_HOST)", retry=False)
        await asyncio.to_thread(_send_mail, smtp, email_message(decision, key, smtp.sender, receiver.to))
        return
    if receiver.type == "webhook":
        body = webhook_body(decision, key)
        secret = receiver.secret.get_secret_value() if receiver.secret else ""
        headers = webhook_headers(secret, int(time.time()), body, key)
    else:
        body, headers = slack_body(decision), {"Content-Type": "application/json", KEY_HEADER: key}
    try:
        answer = await http.post(str(receiver.url), content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}".rstrip(": "), retry=True) from None
    if answer.is_success:
        return
    retry = answer.status_code in RETRIED_STATUS or answer.status_code >= 500
    raise DeliveryFailed(f"HTTP {answer.status_code}: {answer.text[:200]}", retry=retry)


def _send_mail(smtp: Smtp, message: object) -> None:
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)  # type: ignore[arg-type]
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryFailed(f"SMTP refused the recipients: {exc.recipients}", retry=False) from None
    except smtplib.SMTPResponseException as exc:
        temporary = 400 <= exc.smtp_code < 500
        raise DeliveryFailed(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retry=temporary) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP {type(exc).__name__}: {exc}", retry=True) from None
