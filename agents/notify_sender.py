"""The notification sender: delivers what `ems.notifications` decided, recording every attempt there.

One instance sends (the topic has one partition, held by one member of the group). On every
assignment it rebuilds its outbox (notify/outbox.py) from the whole log and reads on from its end,
so what was decided and not yet delivered or failed is sent; a key with a `delivered` attempt in the
log is never sent again. Each try is appended (and acknowledged by Kafka) before the next one starts,
so a restart repeats at most the one send that was in flight when the process died; the receivers
get the idempotency key (`X-EMS-Notification-Key`, the email's Message-ID) to drop such a copy.
A retried notification waits its backoff without holding up the others.
"""

from __future__ import annotations

import logging
import time

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from ems.agents.notify_worker import read_notifications
from ems.notify.delivery import DeliveryFailed, Smtp, deliver
from ems.notify.outbox import Outbox
from ems.schemas.notification import NotificationBatch
from ems.settings import Settings
from ems.streams.codecs import DecodeError, decode, encode
from ems.streams.consume_loop import AssignmentNoted
from ems.streams.kafka import close_quietly, make_consumer, make_producer, settle
from ems.streams.stage import Stage

log = logging.getLogger(__name__)


def smtp_of(settings: Settings) -> Smtp | None:
    if settings.notify_smtp_host is None:
        return None
    password = settings.notify_smtp_password
    return Smtp(
        host=settings.notify_smtp_host,
        port=settings.notify_smtp_port,
        sender=settings.notify_smtp_from,
        username=settings.notify_smtp_username,
        password=password.get_secret_value() if password else None,
        starttls=settings.notify_smtp_starttls,
        timeout=settings.notify_timeout,
    )


class NotifySender(Stage):
    """Runs the sender until `stop()`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("notify-send")
        self.settings = settings
        self.topic = settings.topic("notifications")
        self.receivers = {r.name: r for r in settings.notify_receivers}
        self.smtp = smtp_of(settings)
        self.outbox: Outbox | None = None
        self.assigned: set[TopicPartition] | None = None
        self.consumer: AIOKafkaConsumer | None = None

    def _new_outbox(self) -> Outbox:
        s = self.settings
        return Outbox(s.notify_max_attempts, s.notify_backoff, s.notify_backoff_cap)

    async def run(self) -> None:
        group = f"{self.settings.app_id}-notify-send"
        self.consumer = consumer = make_consumer(self.settings, group_id=group)
        producer = make_producer(self.settings)
        try:
            consumer.subscribe([self.topic], listener=AssignmentNoted(self))  # type: ignore[arg-type]
            await producer.start()
            await consumer.start()
            async with httpx.AsyncClient(timeout=self.settings.notify_timeout) as http:
                self.status.running()
                while not self.stopping:
                    batch = await consumer.getmany(timeout_ms=self._wait_ms(), max_records=1000)
                    if self.assigned is not None:
                        await self._rebuild()
                        continue  # what was fetched before the seek is in the rebuilt outbox
                    for records in batch.values():
                        for msg in records:
                            self._fold(msg)
                    await self._send_due(producer, http)
        finally:
            await close_quietly(consumer, producer)

    def _fold(self, msg: ConsumerRecord) -> None:
        if self.outbox is None:
            return
        try:
            self.outbox.fold(decode(msg.value, NotificationBatch))
        except DecodeError as exc:  # not ours: the projection dead-letters it
            log.warning("notify-send: skipping an unreadable record at %d: %s", msg.offset, exc)

    def _wait_ms(self) -> int:
        wait = self.settings.batch_timeout_ms
        due = self.outbox.next_due() if self.outbox else None
        if due is not None:
            wait = min(wait, max(0, int((due - time.monotonic()) * 1000)))
        return max(wait, 10)

    async def _rebuild(self) -> None:
        assigned, self.assigned = self.assigned, None
        outbox, end = self._new_outbox(), 0
        for offset, batch in await read_notifications(self.settings):
            outbox.fold(batch)
            end = offset + 1
        for tp in assigned or ():
            self.consumer.seek(tp, end)  # type: ignore[union-attr]
        self.outbox = outbox if assigned else None
        log.info("notify-send: %d notifications to deliver after the restart", len(outbox.pending))

    async def _send_due(self, producer: AIOKafkaProducer, http: httpx.AsyncClient) -> None:
        if self.outbox is None:
            return
        for item in self.outbox.due(time.monotonic()):
            if self.stopping:
                return
            key = item.delivery.key
            receiver = self.receivers.get(item.delivery.receiver)
            error: DeliveryFailed | None = None
            if receiver is None:
                error = DeliveryFailed(f"receiver {item.delivery.receiver!r} is not configured", retry=False)
            else:
                try:
                    await deliver(receiver, item.decision, key, http=http, smtp=self.smtp)
                except DeliveryFailed as exc:
                    error = exc
            attempt = self.outbox.attempted(key, time.monotonic(), error)
            if error is not None:
                log.warning("notify-send: %s: %s (%s)", key, error, attempt.outcome)
            record = NotificationBatch(attempts=[attempt])
            sent = await producer.send(self.topic, value=encode(record), key=record.key.encode(), partition=0)
            await settle([sent])  # in the log before the next send
            self.status.progress(1)
