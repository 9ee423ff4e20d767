"""The sender's pure state: which notifications of the log are still to deliver, and when.

`Outbox.fold(batch)` reads a `NotificationBatch` of `ems.notifications`: each decision's deliveries
become pending, each attempt counts and a `delivered` or `failed` one ends its key (a key ended is
never sent again, whatever comes later). `attempted(key, at, error)` makes the attempt record of one
try and schedules the next one after a capped exponential backoff, or gives up after `max_attempts`.
Times are monotonic seconds passed in (no clock read here).
"""

from __future__ import annotations

from dataclasses import dataclass

from ems.notify.delivery import DeliveryFailed, backoff_delay
from ems.schemas.notification import Delivery, NotificationAttempt, NotificationBatch, NotificationDecided


@dataclass
class Pending:
    decision: NotificationDecided
    delivery: Delivery
    attempts: int = 0
    due: float = 0.0  # monotonic seconds; 0: now


class Outbox:
    """Pending notifications by key (in log order) and the keys ended."""

    def __init__(self, max_attempts: int = 5, backoff: float = 1.0, cap: float = 60.0) -> None:
        self.max_attempts, self.backoff, self.cap = max_attempts, backoff, cap
        self.pending: dict[str, Pending] = {}
        self.ended: set[str] = set()
        self.tries: dict[str, int] = {}  # attempts seen per key (a restart numbers on from them)

    def fold(self, batch: NotificationBatch) -> None:
        for decision in batch.decisions:
            for delivery in decision.deliveries:
                if delivery.key not in self.ended and delivery.key not in self.pending:
                    tries = self.tries.get(delivery.key, 0)
                    self.pending[delivery.key] = Pending(decision, delivery, tries)
        for attempt in batch.attempts:
            key = attempt.notification_key
            self.tries[key] = max(self.tries.get(key, 0), attempt.attempt)
            if key in self.pending:
                self.pending[key].attempts = self.tries[key]
            if attempt.outcome in ("delivered", "failed"):
                self.ended.add(key)
                self.pending.pop(key, None)

    def due(self, now: float) -> list[Pending]:
        """The pending notifications whose next try is due at `now`, in log order."""
        return [p for p in self.pending.values() if p.due <= now]

    def next_due(self) -> float | None:
        return min((p.due for p in self.pending.values()), default=None)

    def attempted(self, key: str, now: float, error: DeliveryFailed | None) -> NotificationAttempt:
        """The record of a try of `key` (None: delivered); ends the key or schedules the next try."""
        item = self.pending[key]
        item.attempts += 1
        self.tries[key] = item.attempts
        if error is None:
            outcome, reason = "delivered", ""
        elif error.retry and item.attempts < self.max_attempts:
            outcome, reason = "retried", error.reason
            item.due = now + backoff_delay(item.attempts, self.backoff, self.cap)
        else:
            outcome = "failed"
            reason = error.reason if not error.retry else f"{error.reason} (gave up after {item.attempts})"
        if outcome != "retried":
            self.ended.add(key)
            del self.pending[key]
        return NotificationAttempt(
            event_id=f"{key}#{item.attempts}",
            notification_key=key,
            alert_id=item.decision.alert_id,
            receiver=item.delivery.receiver,
            attempt=item.attempts,
            outcome=outcome,
            reason=reason,
        )
